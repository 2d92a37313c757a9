"""The promise, checked once for every scenario: every regular file on disk is exactly one
completed row with its current SHA-256, nothing else is live, and no queue holds leftovers."""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika

from fileflow_core.paths import path_from_bytes
from tests.pipeline import Db
from tests.support import AMQP_URL, CONNECT_TIMEOUT_S

IGNORED_SUFFIXES = (".swp", ".tmp", ".part")


def files_on_disk(root: Path) -> dict[str, str]:
    """(relative path → sha256) of regular files under ``root``, computed independently."""
    found: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder) / name
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or name.endswith(IGNORED_SUFFIXES):
                continue
            relative = path.relative_to(root).as_posix()
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@dataclass
class Verdict:
    files: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return not (self.lost or self.duplicated or self.stale or self.extra) and not any(
            depth for name, depth in self.queues.items() if not name.endswith(".dead")
        )


async def queue_depths(queue: str, names: list[str], *, url: str = AMQP_URL) -> dict[str, int]:
    connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    depths = {}
    try:
        for name in [queue, *names]:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(
                    name, passive=True, timeout=CONNECT_TIMEOUT_S
                )
                depths[name] = int(declared.declaration_result.message_count or 0)
            except aio_pika.exceptions.ChannelClosed:
                depths[name] = 0
    finally:
        await connection.close()
    return depths


async def check(
    db: Db, root: Path, root_id: str, queue: str, retry_queues: list[str], *, url: str = AMQP_URL
) -> Verdict:
    disk = files_on_disk(root)
    rows = await db.fetch(
        "SELECT path_bytes, content_sha256, status FROM files WHERE root_id = $1 AND NOT deleted",
        root_id,
    )
    # Compared as bytes: a name need not be UTF-8 (the disk walk gives it with surrogates).
    paths = [path_from_bytes(row["path_bytes"]) for row in rows]
    counts = Counter(paths)
    stored = dict(zip(paths, rows, strict=True))
    verdict = Verdict(files=len(disk))
    verdict.lost = sorted(p for p in disk if p not in stored or stored[p]["status"] != "completed")
    verdict.duplicated = sorted(p for p, n in counts.items() if n > 1)
    verdict.stale = sorted(
        p for p, sha in disk.items() if p in stored and stored[p]["content_sha256"] != sha
    )
    verdict.extra = sorted(p for p in stored if p not in disk)
    verdict.queues = await queue_depths(queue, [*retry_queues, f"{queue}.dead"], url=url)
    return verdict
