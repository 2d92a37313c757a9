"""The no-broker limit (benchmark 8): one process doing fileflow's per-file work with nothing
between the disk and the database, to show what the machine allows.

It walks the root, then per batch of ``BATCH`` files: reads and hashes each, asks Redis in one
MGET which contents were seen, extracts the new ones with fileflow's own code, COPYs contents,
chunks and files into staging tables and moves them into fileflow's tables with one set-based
upsert each, in one transaction, and marks the new contents seen in one pipeline. No watcher,
no queue, no retries, no concurrency: a floor for the cost of a file, not a product.

``python -m tests.perf.limit ROOT`` with ``FILEFLOW_DATABASE_URL``, ``FILEFLOW_REDIS_URL`` and
``FILEFLOW_BASELINE_PREFIX``; prints one JSON line: files, seconds, CPU seconds.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import redis

from fileflow_core.beneath import Location
from ingestor.extractors import Extraction, extract_file, extract_if_safe_in_process

BATCH = 1000
DATABASE_URL = os.environ.get("FILEFLOW_DATABASE_URL", "postgresql://127.0.0.1/test")
REDIS_URL = os.environ.get("FILEFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY_PREFIX = os.environ.get("FILEFLOW_BASELINE_PREFIX", "limit:")

STAGING = """
CREATE TEMP TABLE stage_contents (sha256 text, size bigint, mime_type text, metadata jsonb,
                                  status text, error text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_chunks (content_sha256 text, seq int, text text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE stage_files (path text, path_bytes bytea, sha256 text, size bigint,
                               mtime_ns bigint, inode bigint) ON COMMIT DELETE ROWS;
"""
MOVE = """
WITH new AS (
    INSERT INTO contents (sha256, size, mime_type, metadata, extraction_status, extraction_error)
    SELECT * FROM stage_contents ON CONFLICT (sha256) DO NOTHING RETURNING sha256
)
INSERT INTO chunks (content_sha256, seq, text)
SELECT s.* FROM stage_chunks s JOIN new ON new.sha256 = s.content_sha256;
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, observed_at)
SELECT 'lib', s.path, s.path_bytes, s.sha256, s.size, s.mtime_ns, s.inode,
       CASE WHEN c.extraction_status = 'failed' THEN 'failed' ELSE 'completed' END,
       c.extraction_error, 1, now()
FROM stage_files s JOIN contents c ON c.sha256 = s.sha256
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    content_sha256 = EXCLUDED.content_sha256, size = EXCLUDED.size,
    mtime_ns = EXCLUDED.mtime_ns, inode = EXCLUDED.inode, status = EXCLUDED.status,
    error = EXCLUDED.error, observed_at = EXCLUDED.observed_at, updated_at = now();
"""


def walk(root: Path) -> list[str]:
    found: list[str] = []
    for folder, _, names in os.walk(root):
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else relative + "/"
        found.extend(prefix + name for name in names)
    return found


def extract(root: Path, relative: str, data: bytes, sha256: str) -> Extraction:
    return extract_if_safe_in_process(data, len(data)) or extract_file(
        Location("lib", str(root), relative), sha256
    )


def store_batch(
    conn: psycopg.Connection[tuple[object, ...]],
    cache: redis.Redis,
    root: Path,
    batch: list[str],
) -> None:
    digests = []
    for relative in batch:
        with open(root / relative, "rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read()
        digests.append((relative, info, data, hashlib.sha256(data).hexdigest()))
    unique = list(dict.fromkeys(sha for *_, sha in digests))
    hits = cache.mget([f"{KEY_PREFIX}seen:{sha}" for sha in unique])
    seen = {sha for sha, hit in zip(unique, hits, strict=True) if hit}
    new: dict[str, tuple[Extraction, int]] = {}
    for relative, _, data, sha in digests:
        if sha not in seen and sha not in new:
            new[sha] = (extract(root, relative, data, sha), len(data))
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy("COPY stage_contents FROM STDIN") as copy:
            for sha, (extraction, size) in new.items():
                status = "failed" if extraction.error else "completed"
                metadata = orjson.dumps(extraction.metadata).decode()
                copy.write_row(
                    (sha, size, extraction.mime_type, metadata, status, extraction.error)
                )
        with cursor.copy("COPY stage_chunks FROM STDIN") as copy:
            for sha, (extraction, _) in new.items():
                for seq, text in enumerate(extraction.chunks):
                    copy.write_row((sha, seq, text))
        with cursor.copy("COPY stage_files FROM STDIN") as copy:
            for relative, info, _, sha in digests:
                copy.write_row(
                    (relative, relative.encode(), sha, info.st_size, info.st_mtime_ns, info.st_ino)
                )
        cursor.execute(MOVE)
    if new:
        with cache.pipeline(transaction=False) as marks:
            for sha in new:
                marks.set(f"{KEY_PREFIX}seen:{sha}", b"1", ex=30 * 24 * 3600)
            marks.execute()


def run(root: Path) -> dict[str, float]:
    started, cpu_before = time.perf_counter(), _cpu_s()
    cache = redis.Redis.from_url(REDIS_URL)
    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute(STAGING)
        conn.commit()
        paths = walk(root)
        for offset in range(0, len(paths), BATCH):
            store_batch(conn, cache, root, paths[offset : offset + BATCH])
    return {
        "files": len(paths),
        "seconds": time.perf_counter() - started,
        "cpu_s": _cpu_s() - cpu_before,
        "at": datetime.now(UTC).timestamp(),
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    print(orjson.dumps(run(Path(sys.argv[1]))).decode())
