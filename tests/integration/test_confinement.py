"""Nothing outside a root is ever read: a folder swapped for a symlink to outside while
upserts and API requests for a file in it run, thousands of times, on the real servers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from fileflow_core.messages import FileEvent, Operation, encode_event
from fileflow_core.settings import Settings
from tests import pipeline
from tests.pipeline import Db, publish_raw
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration

OUTSIDE = b"OUTSIDE the root: this text must never be read\n"
INSIDE = b"inside the root\n"


def swap_forever(race: Path, stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        for old, new in (("sw", "swdir"), ("swlink", "sw"), ("sw", "swlink"), ("swdir", "sw")):
            with contextlib.suppress(OSError):
                os.rename(race / old, race / new)
                counter[0] += 1


async def test_a_folder_swapped_for_a_symlink_never_leads_outside(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(OUTSIDE)
    race = root_dir / "race"
    (race / "sw").mkdir(parents=True)
    (race / "sw" / "secret.txt").write_bytes(INSIDE)
    (race / "swlink").symlink_to(outside)
    port = free_port()
    api = settings.model_copy(update={"ingestor_http_port": port, "max_attempts": 50})
    stop, swaps = threading.Event(), [0]
    body = encode_event(
        FileEvent.observed("lib", "race/sw/secret.txt", Operation.UPSERT, reprocess=True)
    )
    answers: dict[int, int] = {}
    async with pipeline.ingestor(api), aiohttp.ClientSession() as session:
        swapper = threading.Thread(target=swap_forever, args=(race, stop, swaps))
        swapper.start()
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                await publish_raw(settings.queue_name, [body] * 20)
                for _ in range(5):
                    async with session.post(
                        f"http://127.0.0.1:{port}/ingest",
                        json={"path": str(race / "sw" / "secret.txt"), "reprocess": True},
                    ) as response:
                        answers[response.status] = answers.get(response.status, 0) + 1
        finally:
            stop.set()
            await asyncio.to_thread(swapper.join)
        await asyncio.to_thread(restore, race)
        db = Db(settings.database_url)
        await wait_until(
            lambda: publish_then_count(settings.queue_name, db),
            lambda n: n >= 1,
            timeout_s=60,
            what="the file stored once the swapping stopped",
        )
    print(f"\n{swaps[0]} renames while reading; API answers {answers}")
    assert swaps[0] > 1000
    texts = [row["text"] for row in await db.fetch("SELECT text FROM chunks")]
    assert texts and all("OUTSIDE" not in text for text in texts)
    outside_sha = hashlib.sha256(OUTSIDE).hexdigest()
    assert await db.fetchval("SELECT count(*) FROM contents WHERE sha256 = $1", outside_sha) == 0
    # Every API answer was an acceptance or a refusal saying why, never a server error.
    assert set(answers) <= {202, 400, 404}


def restore(race: Path) -> None:
    if (race / "swdir").exists():
        if (race / "sw").is_symlink():
            os.rename(race / "sw", race / "swlink")
        os.rename(race / "swdir", race / "sw")


async def publish_then_count(queue: str, db: Db) -> int:
    body = encode_event(FileEvent.observed("lib", "race/sw/secret.txt", Operation.UPSERT))
    await publish_raw(queue, [body])
    await asyncio.sleep(0.5)
    return int(
        await db.fetchval(
            "SELECT count(*) FROM files WHERE path = 'race/sw/secret.txt' AND status = 'completed'"
        )
    )


async def test_the_api_refuses_a_path_through_a_symlink_or_to_nothing(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.txt").write_text("x")
    (root_dir / "linked").symlink_to(tmp_path / "elsewhere")
    (root_dir / "real").mkdir()
    (root_dir / "real" / "f.txt").write_text("inside")
    (root_dir / "real" / "file-link.txt").symlink_to(root_dir / "real" / "f.txt")
    port = free_port()
    api = settings.model_copy(update={"ingestor_http_port": port})
    async with pipeline.ingestor(api), aiohttp.ClientSession() as session:
        for path, status in (
            (root_dir / "linked" / "f.txt", 400),
            (root_dir / "real" / "file-link.txt", 400),
            (root_dir / "real" / "missing.txt", 404),
            (root_dir / "real", 400),
        ):
            async with session.post(
                f"http://127.0.0.1:{port}/ingest", json={"path": str(path)}
            ) as response:
                assert response.status == status, (path, await response.text())
    assert await Db(settings.database_url).fetchval("SELECT count(*) FROM files") == 0
