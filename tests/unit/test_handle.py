"""FileHandler's decisions, with fakes for the store, cache and extractor (no servers)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fileflow_core.errors import ContentMissingError, PermanentError
from fileflow_core.messages import FileEvent, Operation
from fileflow_core.models import ContentInfo, FileObservation, PresentWrite
from fileflow_core.settings import RootConfig, Settings
from ingestor import handle as handle_module
from ingestor.handle import FileHandler, Result
from ingestor.roots import RootGuard
from tests.support import wait_until


class FakeStore:
    def __init__(self) -> None:
        self.present: dict[str, str] = {}
        self.contents: dict[str, ContentInfo] = {}
        self.failed: dict[str, str] = {}
        self.deleted: list[str] = []
        self.mounts: dict[str, str] = {}
        self.identities: dict[str, str] = {}

    async def root_identities(self) -> dict[str, str]:
        return dict(self.identities)

    async def record_root_identity(self, root_id: str, identity: str) -> None:
        self.identities[root_id] = identity

    async def root_mounts(self) -> dict[str, str]:
        return dict(self.mounts)

    async def record_root_mounts(self, root_id: str, mounts: str) -> None:
        self.mounts[root_id] = mounts

    async def signatures(self, root_id: str) -> dict[str, tuple[int, int, int]]:
        return {}

    async def content_exists(self, sha256: str) -> bool:
        return sha256 in self.contents

    async def record_present(
        self,
        observation: FileObservation,
        content: ContentInfo | None,
        sha256: str,
        *,
        attempts: int = 1,
        replace_content: bool = False,
    ) -> str | None:
        if content is not None:
            self.contents[sha256] = content
        elif sha256 not in self.contents:
            raise ContentMissingError(sha256)
        changed = self.present.get(observation.path) != sha256
        self.present[observation.path] = sha256
        failed = self.contents[sha256].extraction_status == "failed"
        return ("failed" if failed else "completed") if changed else None

    async def record_present_many(
        self, writes: Sequence[PresentWrite]
    ) -> list[str | ContentMissingError | None]:
        results: list[str | ContentMissingError | None] = []
        for w in writes:
            try:
                results.append(
                    await self.record_present(
                        w.observation, w.content, w.sha256, attempts=w.attempts
                    )
                )
            except ContentMissingError as exc:
                results.append(exc)
        return results

    async def record_deleted(self, observation: FileObservation) -> bool:
        self.deleted.append(observation.path)
        return self.present.pop(observation.path, None) is not None

    async def record_processing(self, observation: FileObservation, *, attempts: int = 1) -> None:
        pass

    async def record_failed(
        self, observation: FileObservation, error: str, *, attempts: int = 1
    ) -> None:
        self.failed[observation.path] = error


class FakeCache:
    def __init__(self) -> None:
        self.seen_hashes: set[str] = set()

    async def seen(self, sha256: str) -> bool:
        return sha256 in self.seen_hashes

    async def mark_seen(self, sha256: str) -> None:
        self.seen_hashes.add(sha256)

    async def seen_many(self, hashes: Sequence[str]) -> set[str]:
        return {h for h in hashes if h in self.seen_hashes}

    async def mark_seen_many(self, hashes: Sequence[str]) -> None:
        self.seen_hashes.update(hashes)


class CountingExtractor:
    def __init__(self) -> None:
        self.calls = 0

    async def extract(
        self, path: Path, sha256: str, size: int, head: bytes, data: bytes | None = None
    ) -> ContentInfo:
        self.calls += 1
        return ContentInfo(sha256, size, "text/plain", {"size": size})

    async def close(self) -> None:
        pass


@pytest.fixture
async def parts(
    tmp_path: Path,
) -> tuple[FileHandler, FakeStore, FakeCache, CountingExtractor, Path]:
    root = tmp_path / "root"
    root.mkdir()
    settings = Settings(roots=[RootConfig(id="lib", path=root)], state_dir=tmp_path / "s")
    store, cache, extractor = FakeStore(), FakeCache(), CountingExtractor()
    roots = await RootGuard.open(settings.roots, store)  # type: ignore[arg-type]
    handler = FileHandler(settings, store, cache, extractor, roots)  # type: ignore[arg-type]
    return handler, store, cache, extractor, root


def upsert(path: str, **kw: Any) -> FileEvent:
    return FileEvent.observed("lib", path, Operation.UPSERT, **kw)


async def test_new_file_is_extracted_stored_and_marked_seen_after(parts: Any) -> None:
    handler, store, cache, extractor, root = parts
    (root / "a.txt").write_bytes(b"hello")
    assert await handler.handle(upsert("a.txt")) is Result.STORED
    sha = hashlib.sha256(b"hello").hexdigest()
    assert store.present == {"a.txt": sha}
    # Marked in the next batch of marks, after the commit; the file does not wait for it.
    await wait_until(
        lambda: asyncio.sleep(0, cache.seen_hashes),
        lambda marked: marked == {sha},
        timeout_s=1,
        interval_s=0.001,
        what="the content marked seen",
    )
    assert extractor.calls == 1
    assert await handler.handle(upsert("a.txt")) is Result.UNCHANGED
    assert extractor.calls == 1


async def test_a_copy_links_to_the_known_content_without_extracting(parts: Any) -> None:
    handler, store, _cache, extractor, root = parts
    for name in ("one.txt", "two.txt"):
        (root / name).write_bytes(b"same bytes")
    await handler.handle(upsert("one.txt"))
    await handler.handle(upsert("two.txt"))
    assert extractor.calls == 1
    assert store.present["one.txt"] == store.present["two.txt"]


async def test_a_stale_cache_entry_falls_back_to_extraction(parts: Any) -> None:
    handler, store, cache, extractor, root = parts
    (root / "a.txt").write_bytes(b"cached elsewhere")
    cache.seen_hashes.add(hashlib.sha256(b"cached elsewhere").hexdigest())
    assert await handler.handle(upsert("a.txt")) is Result.STORED
    assert extractor.calls == 1 and len(store.contents) == 1


async def test_reprocess_bypasses_the_cache(parts: Any) -> None:
    handler, _store, _cache, extractor, root = parts
    (root / "a.txt").write_bytes(b"again")
    await handler.handle(upsert("a.txt"))
    await handler.handle(upsert("a.txt", reprocess=True))
    assert extractor.calls == 2


async def test_missing_file_is_a_deletion(parts: Any) -> None:
    handler, store, *_ = parts
    assert await handler.handle(upsert("gone.txt")) is Result.DELETED
    assert store.deleted == ["gone.txt"]


async def test_unreadable_file_is_failed_with_what_to_do(parts: Any, monkeypatch: Any) -> None:
    handler, store, _cache, _extractor, root = parts
    (root / "locked.txt").write_bytes(b"secret")

    async def denied(*_args: object) -> None:
        raise PermissionError(13, "Permission denied", "locked.txt")

    monkeypatch.setattr(handle_module, "read_and_hash", denied)
    assert await handler.handle(upsert("locked.txt")) is Result.FAILED
    assert "permission denied" in store.failed["locked.txt"]
    assert "fileflow retry" in store.failed["locked.txt"]


async def test_symlink_and_fifo_are_skipped_never_opened(parts: Any, tmp_path: Path) -> None:
    handler, store, _cache, extractor, root = parts
    (tmp_path / "outside.txt").write_text("outside")
    (root / "link").symlink_to(tmp_path / "outside.txt")
    import os

    os.mkfifo(root / "pipe")
    assert await handler.handle(upsert("link")) is Result.SKIPPED
    assert await handler.handle(upsert("pipe")) is Result.SKIPPED
    assert extractor.calls == 0 and not store.present


async def test_unknown_root_and_escaping_paths_are_permanent_errors(parts: Any) -> None:
    handler, *_ = parts
    with pytest.raises(PermanentError, match="unknown root"):
        await handler.handle(FileEvent.observed("nope", "a.txt", Operation.UPSERT))


async def test_large_files_are_hashed_but_not_extracted(parts: Any) -> None:
    handler, store, _cache, extractor, root = parts
    handler.settings = handler.settings.model_copy(update={"extract_max_bytes": 10})
    (root / "big.bin").write_bytes(b"x" * 100)
    await handler.handle(upsert("big.bin"))
    assert extractor.calls == 0
    content = next(iter(store.contents.values()))
    assert content.extraction_status == "skipped"
    assert "FILEFLOW_EXTRACT_MAX_BYTES" in content.metadata["extraction"]
