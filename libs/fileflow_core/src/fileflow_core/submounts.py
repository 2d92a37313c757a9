"""Mount points beneath a root: while one is not mounted, the files under it are away, not
deleted.

An unmounted share inside a root lists as an empty folder (or as whatever the folder held
before the mount), exactly as if its files had been deleted. So the mount points seen beneath a
root are remembered, and one that is no longer mounted while its folder is still there hides
what was under it: its files are neither tombstoned by the ingestor nor reported deleted by
the watcher's catch-up, until it is mounted again. A mount point whose folder was removed was
taken away on purpose (a mounted folder cannot be removed): it is forgotten, and its files'
absence counts again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fileflow_core.mounts import parse_mount_ids, parse_mounts

log = logging.getLogger(__name__)

MOUNT_TABLE = "/proc/self/mounts"
MOUNT_INFO = "/proc/self/mountinfo"


def points_beneath(root: str, points: Iterable[str]) -> frozenset[str]:
    """The mount points strictly beneath ``root`` (a resolved path), relative to it."""
    prefix = root.rstrip("/") + "/"
    return frozenset(
        point[len(prefix) :].rstrip("/") for point in points if point.startswith(prefix)
    )


def mount_points_beneath(root: Path) -> frozenset[str] | None:
    """What is mounted beneath ``root`` now; None where no mount table can be read."""
    try:
        # A mount point's name may be any bytes: kept as the OS gives it (surrogate escapes).
        with open(MOUNT_TABLE, encoding="utf-8", errors="surrogateescape") as table:
            text = table.read()
    except OSError:
        return None
    return points_beneath(os.path.realpath(root), (point for point, _ in parse_mounts(text)))


def mounts_now_beneath(root: Path) -> frozenset[tuple[int, str]] | None:
    """Each mount beneath ``root`` now, as (mount id, point): unmounted and mounted again, a
    share has a new id, and the OS watches inside it ended with the old one. None where no
    mount table can be read."""
    try:
        with open(MOUNT_INFO, encoding="utf-8", errors="surrogateescape") as table:
            text = table.read()
    except OSError:
        return None
    prefix = os.path.realpath(root).rstrip("/") + "/"
    return frozenset(
        (mount_id, point) for mount_id, point in parse_mount_ids(text) if point.startswith(prefix)
    )


def is_folder(root: Path, relative: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(root / relative).st_mode)
    except OSError:
        return False


def covers(folders: Iterable[str], relative: str) -> bool:
    """Whether ``relative`` is one of ``folders`` or lies beneath one."""
    return any(relative == folder or relative.startswith(folder + "/") for folder in folders)


@dataclass(frozen=True, slots=True)
class MountsSeen:
    """The mount points beneath a root seen mounted, and which of them are away now."""

    seen: frozenset[str]
    away: frozenset[str]


def look_again(
    seen: frozenset[str], current: frozenset[str], still_a_folder: Callable[[str], bool]
) -> MountsSeen:
    """What is away now: a point seen before, not mounted now, whose folder is still there
    (or that lies beneath another away point, whose folder cannot be looked into)."""
    missing = seen - current
    away = {point for point in missing if still_a_folder(point)}
    away |= {point for point in missing if covers(away - {point}, point)}
    return MountsSeen(frozenset(current | away), frozenset(away))


def encode(points: frozenset[str]) -> str:
    # json's ASCII escapes carry a name's surrogate escapes through and back.
    return json.dumps(sorted(points), ensure_ascii=True)


def decode(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    try:
        value = json.loads(text)
    except ValueError:
        return frozenset()
    return (
        frozenset(item for item in value if isinstance(item, str))
        if isinstance(value, list)
        else frozenset()
    )


def away_reason(root_id: str, point: str) -> str:
    return (
        f"folder {point!r} beneath root {root_id!r} was a mount point and is not mounted now: "
        "the files under it are NOT marked deleted, and wait for it. Mount it again; or, if it "
        "is gone for good, remove its empty folder, and its files are marked deleted"
    )


class MountsBeneath:
    """One root's mount points: remembered through ``save``, looked at again on demand, each
    one's going and coming back logged once."""

    def __init__(
        self,
        root_id: str,
        root: Path,
        seen: frozenset[str],
        save: Callable[[frozenset[str]], Awaitable[None]],
    ) -> None:
        self._root_id = root_id
        self._root = root
        self._seen = seen
        self._save = save
        self.away: frozenset[str] = frozenset()

    async def look(self) -> frozenset[str]:
        """The mount points away now (the ones mounted now are remembered from now on)."""
        found = await asyncio.to_thread(self._now)
        if found is None:
            return self.away  # no mount table: what is away cannot be told anew
        if found.seen != self._seen:
            await self._save(found.seen)
            self._seen = found.seen
        for point in sorted(found.away - self.away):
            log.error(
                "mount point away",
                extra={
                    "root": self._root_id,
                    "folder": point,
                    "reason": away_reason(self._root_id, point),
                },
            )
        for point in sorted(self.away - found.away):
            log.info(
                "mount point back, or its folder removed",
                extra={"root": self._root_id, "folder": point},
            )
        self.away = found.away
        return found.away

    def _now(self) -> MountsSeen | None:
        current = mount_points_beneath(self._root)
        if current is None:
            return None
        return look_again(self._seen, current, partial(is_folder, self._root))
