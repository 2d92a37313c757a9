"""The ingestor's roots: checked at start against the identity recorded for them, and again
before any missing file is recorded as deleted (absence is not deletion; see
``fileflow_core.roots``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from fileflow_core import metrics, submounts
from fileflow_core.beneath import Location
from fileflow_core.errors import ConfigError, RootUnavailableError
from fileflow_core.ports import RootStore
from fileflow_core.roots import (
    RootIdentity,
    empty_reason,
    identify,
    is_empty_folder,
    unavailable_reason,
)
from fileflow_core.settings import RootConfig
from fileflow_core.submounts import MountsBeneath

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Root:
    config: RootConfig
    identity: RootIdentity
    mounts: MountsBeneath
    down: str | None = None  # why it is unavailable, while it is

    @property
    def folder(self) -> str:
        return str(self.config.path.expanduser())


class RootGuard:
    """Says whether a root can testify that its files are gone, logging each change."""

    def __init__(self, roots: list[_Root]) -> None:
        self._roots = {root.config.id: root for root in roots}
        for root_id in self._roots:
            metrics.ROOT_AVAILABLE.labels(root=root_id).set(1)

    @staticmethod
    def check_present(configs: list[RootConfig]) -> None:
        """Before anything else is opened: there are roots, each a readable folder. Raises
        ``ConfigError`` naming the root and what is wrong: a missing root, a mistyped path or a
        volume that is not mounted must not start an ingestor that would record its files as
        deleted."""
        if not configs:
            raise ConfigError(
                "no roots: the ingestor needs the same roots as the watcher (set FILEFLOW_ROOTS "
                "or name them: `fileflow ingest ID=PATH ...`)"
            )
        for config in configs:
            reason = unavailable_reason(config.id, config.path.expanduser(), None, config.marker)
            if reason is not None:
                raise ConfigError(f"root {config.id!r}: {reason}")

    @classmethod
    async def open(cls, configs: list[RootConfig], store: RootStore) -> RootGuard:
        """Check every root (``check_present``), and that each is the folder whose identity
        was recorded for it, recording the identity of a root seen for the first time."""
        cls.check_present(configs)
        mounts = await store.root_mounts()
        recorded = {
            root_id: RootIdentity.decode(text)
            for root_id, text in (await store.root_identities()).items()
        }
        roots = []
        for config in configs:
            path = config.path.expanduser()
            known = recorded.get(config.id)
            reason = unavailable_reason(config.id, path, known, config.marker)
            if reason is not None:
                raise ConfigError(f"root {config.id!r}: {reason}")
            if known is None:
                if is_empty_folder(path) and (files := len(await store.signatures(config.id))):
                    raise ConfigError(f"root {config.id!r}: {empty_reason(config.id, path, files)}")
                known = identify(path)
                await store.record_root_identity(config.id, known.encode())
                log.info(
                    "root identity recorded",
                    extra={"root": config.id, "path": str(path), "identity": known.describe()},
                )
            seen = submounts.decode(mounts.get(config.id))
            save = partial(_record_mounts, store, config.id)
            roots.append(_Root(config, known, MountsBeneath(config.id, path, seen, save)))
        for root in roots:
            await root.mounts.look()  # what is mounted now is remembered from the start
        return cls(roots)

    async def ensure_mounted(self, location: Location) -> None:
        """Raise ``RootUnavailableError`` when the file lies beneath a mount point of its root
        that was seen mounted and is not now: its absence says nothing about it."""
        root = self._roots.get(location.root_id)
        if root is None:
            return
        away = await root.mounts.look()
        for point in away:
            if submounts.covers((point,), location.relative):
                raise RootUnavailableError(
                    root.config.id, submounts.away_reason(root.config.id, point)
                )

    def ensure_available(self, root_id: str) -> None:
        """Raise ``RootUnavailableError`` unless the root is there and the folder it was."""
        root = self._roots.get(root_id)
        if root is None:
            return  # an unknown root is refused elsewhere, as a fault of the message
        reason = unavailable_reason(
            root_id, root.config.path.expanduser(), root.identity, root.config.marker
        )
        if reason is None:
            if root.down is not None:
                root.down = None
                metrics.ROOT_AVAILABLE.labels(root=root_id).set(1)
                log.info("root available again", extra={"root": root_id})
            return
        if root.down is None:
            log.error(
                "root unavailable: its files are NOT recorded as deleted; their messages wait "
                "and are looked at again",
                extra={"root": root_id, "reason": reason},
            )
        root.down = reason
        metrics.ROOT_AVAILABLE.labels(root=root_id).set(0)
        raise RootUnavailableError(root_id, reason)

    async def readiness(self) -> bool | str:
        """True when every root is available, else which ones are not and why."""
        down = []
        for root_id, root in self._roots.items():
            try:
                self.ensure_available(root_id)
            except RootUnavailableError:
                down.append(f"{root_id}: {root.down}")
        return True if not down else "; ".join(down)

    def location(self, root_id: str, relative: str) -> Location | None:
        """Where ``relative`` is under the root, to be opened beneath it; None for a root this
        ingestor does not have."""
        root = self._roots.get(root_id)
        if root is None:
            return None
        return Location(root_id, root.folder, relative, root.identity)


async def _record_mounts(store: RootStore, root_id: str, points: frozenset[str]) -> None:
    await store.record_root_mounts(root_id, submounts.encode(points))
