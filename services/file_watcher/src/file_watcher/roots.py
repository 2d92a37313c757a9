"""A watched root at run time: its folder, filter, watch mode, and what was published for it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from file_watcher.filters import PathFilter
from file_watcher.gitinfo import git_source
from file_watcher.known import KnownFiles, KnownFilesInMemory
from file_watcher.state import PublishedState, WatcherState
from fileflow_core import metrics
from fileflow_core.mounts import detect_filesystem, needs_polling
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
class WatchedRoot:
    config: RootConfig
    path: Path
    filter: PathFilter
    state: PublishedState
    polling: bool = False
    filesystem: str | None = None
    known: KnownFiles = field(default_factory=KnownFilesInMemory)
    source: dict[str, str] | None = None
    # What the root was when first scanned; None until then.
    identity: RootIdentity | None = None
    # Its real folders ("" for itself), each watched on its own (never through a symlink);
    # None until first walked.
    folders: set[str] | None = None
    # Its mount points, remembered in its state; None until first looked at.
    mounts: MountsBeneath | None = None

    @property
    def id(self) -> str:
        return self.config.id

    def absolute(self, relative: str) -> str:
        """``relative`` under the root, as text (a path join per notification adds up)."""
        return f"{self.path}/{relative}"

    def unavailable_reason(self) -> str | None:
        """Why the root cannot testify about its files now (gone, unmounted, another folder
        in its place), or None when it can. A root whose record holds no file yet takes the
        folder now there as its own: there is nothing a wrong folder could wipe."""
        reason = unavailable_reason(self.id, self.path, self.identity, self.config.marker)
        if reason is not None and self.identity is not None and not self.known:
            self.identity = None
            reason = unavailable_reason(self.id, self.path, None, self.config.marker)
        if reason is None and self.identity is None and self.known and is_empty_folder(self.path):
            return empty_reason(self.id, self.path, len(self.known))
        return reason

    def is_present(self) -> bool:
        return self.unavailable_reason() is None

    async def record_identity_if_new(self) -> None:
        """On the first scan of an available root: what it is, from now on."""
        if self.identity is None:
            self.identity = identify(self.path)
            await self.state.record_identity(self.identity)
            log.info(
                "root identity recorded",
                extra={"root": self.id, "identity": self.identity.describe()},
            )

    async def look_at_mounts(self) -> frozenset[str]:
        """The mount points beneath the root that are away now (their files are kept, not
        deleted), remembering the ones mounted now."""
        if self.mounts is None:
            self.mounts = MountsBeneath(
                self.id, self.path, self.state.recorded_mounts(), self.state.record_mounts
            )
        away = await self.mounts.look()
        metrics.MOUNTS_AWAY.labels(root=self.id).set(len(away))
        return away

    def refresh_source(self) -> None:
        if self.config.git:
            self.source = git_source(self.path)


def open_root(
    config: RootConfig, state_dir: Path, queue: str, state: PublishedState | None = None
) -> WatchedRoot:
    """Open a root, present or not (an absent one is waited for); what was published comes from
    ``state``, by default the watcher's own record in ``state_dir``."""
    path = config.path.expanduser().resolve()
    filesystem = detect_filesystem(path)
    polling = (
        config.force_polling if config.force_polling is not None else needs_polling(filesystem)
    )
    if state is None:
        state = WatcherState(state_dir, config.id, path, queue)
    root = WatchedRoot(
        config,
        path,
        PathFilter.for_root(config),
        state,
        polling=polling,
        filesystem=filesystem,
        known=state.load(),
        identity=state.recorded_identity(),
    )
    root.refresh_source()
    metrics.watcher_root(config.id)
    metrics.WATCH_POLLING.labels(root=config.id).set(1 if polling else 0)
    metrics.ROOT_PRESENT.labels(root=config.id).set(1 if root.is_present() else 0)
    log.info(
        "watching root",
        extra={
            "root": config.id,
            "path": str(path),
            "filesystem": filesystem,
            "mode": "polling" if polling else "notify",
            "known_files": len(root.known),
            "git": root.source,
        },
    )
    return root
