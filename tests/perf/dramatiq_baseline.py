"""The peer (benchmark 8): what a Dramatiq user would write to do fileflow's per-file work.

An actor per file: read it, SHA-256, ask Redis whether the content was seen, and if not take
its MIME type, text metadata and chunks (fileflow's own extraction code, so both sides parse
alike), then write the content, its chunks and the file's row into fileflow's tables in one
transaction (psycopg, a connection per worker thread), and mark the content seen in Redis after
the commit. Retries are Dramatiq's (its default middleware), acks after the actor returns.

Producers: ``send_default`` uses Dramatiq's default RabbitMQ broker, which does not ask for
publisher confirms (a message is "sent" once written to the socket); ``send_confirmed`` turns
confirms on, fileflow's guarantee, and sends from several threads so that confirms overlap, as
a user who wanted both safety and speed would.

Workers run it with ``dramatiq tests.perf.dramatiq_baseline``; settings come from
``FILEFLOW_BASELINE_*``, ``FILEFLOW_AMQP_URL``, ``FILEFLOW_REDIS_URL`` and
``FILEFLOW_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import orjson
import psycopg
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from fileflow_core.beneath import Location
from ingestor.extractors import extract_file, extract_if_safe_in_process

QUEUE = os.environ.get("FILEFLOW_BASELINE_QUEUE", "fileflow_baseline")
ROOT = os.environ.get("FILEFLOW_BASELINE_ROOT", "/")
DATABASE_URL = os.environ.get("FILEFLOW_DATABASE_URL", "postgresql://127.0.0.1/test")
REDIS_URL = os.environ.get("FILEFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY_PREFIX = os.environ.get("FILEFLOW_BASELINE_PREFIX", "baseline:")
CONFIRMS = os.environ.get("FILEFLOW_BASELINE_CONFIRMS", "0") == "1"
SEND_THREADS = int(os.environ.get("FILEFLOW_BASELINE_SEND_THREADS", "16"))
SEEN_TTL_S = 30 * 24 * 3600

dramatiq.set_broker(
    RabbitmqBroker(
        url=os.environ.get("FILEFLOW_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        confirm_delivery=CONFIRMS,
    )
)
_local = threading.local()
_redis = redis.Redis.from_url(REDIS_URL)

INSERT_CONTENT = """
INSERT INTO contents (sha256, size, mime_type, metadata, extraction_status, extraction_error)
VALUES (%s, %s, %s, %s::jsonb, %s, %s)
ON CONFLICT (sha256) DO NOTHING
RETURNING sha256
"""
UPSERT_FILE = """
INSERT INTO files AS f (root_id, path, path_bytes, content_sha256, size, mtime_ns, inode,
                        status, error, attempts, observed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s)
ON CONFLICT (root_id, path_hash) DO UPDATE SET
    content_sha256 = EXCLUDED.content_sha256, size = EXCLUDED.size,
    mtime_ns = EXCLUDED.mtime_ns, inode = EXCLUDED.inode, status = EXCLUDED.status,
    error = EXCLUDED.error, observed_at = EXCLUDED.observed_at, updated_at = now()
"""


def _connection() -> psycopg.Connection[tuple[object, ...]]:
    # One connection per worker thread, like a pool sized to the threads.
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DATABASE_URL)
        _local.conn = conn
    return conn


@dramatiq.actor(queue_name=QUEUE)
def ingest_file(relative: str) -> None:
    path = Path(ROOT, relative)
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        data = handle.read()
    sha256 = hashlib.sha256(data).hexdigest()
    key = f"{KEY_PREFIX}seen:{sha256}"
    seen = bool(_redis.exists(key))
    conn = _connection()
    status, error = "completed", None
    with conn.transaction():
        if not seen:
            extraction = extract_if_safe_in_process(data, len(data)) or extract_file(
                Location("lib", ROOT, relative), sha256
            )
            error = extraction.error
            status = "failed" if error else "completed"
            stored = conn.execute(
                INSERT_CONTENT,
                (
                    sha256,
                    len(data),
                    extraction.mime_type,
                    orjson.dumps(extraction.metadata).decode(),
                    "failed" if error else "completed",
                    error,
                ),
            ).fetchone()
            if stored is not None and extraction.chunks:
                # executemany: psycopg sends the rows in one pipeline, one round trip.
                conn.cursor().executemany(
                    "INSERT INTO chunks (content_sha256, seq, text) VALUES (%s, %s, %s)",
                    [(sha256, seq, text) for seq, text in enumerate(extraction.chunks)],
                )
        conn.execute(
            UPSERT_FILE,
            (
                "lib",
                relative,
                relative.encode(),
                sha256,
                info.st_size,
                info.st_mtime_ns,
                info.st_ino,
                status,
                error,
                datetime.now(UTC),
            ),
        )
    if not seen:
        _redis.set(key, b"1", ex=SEEN_TTL_S)


def send_default(paths: list[str]) -> None:
    """Dramatiq's default: one thread, no publisher confirms."""
    for path in paths:
        ingest_file.send(path)


def send_confirmed(paths: list[str]) -> None:
    """Publisher confirms on, sent from ``SEND_THREADS`` threads (a channel each)."""
    with ThreadPoolExecutor(SEND_THREADS) as pool:
        list(pool.map(ingest_file.send, paths, chunksize=64))


if __name__ == "__main__":
    import sys

    relatives = sys.stdin.read().split("\n")[:-1]
    (send_confirmed if CONFIRMS else send_default)(relatives)
