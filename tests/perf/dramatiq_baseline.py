"""The peer baseline (benchmark 8): a Dramatiq worker pool doing the same per-file work as the
ingestor's core (read, SHA-256, one row in PostgreSQL), on the same RabbitMQ and PostgreSQL.

Workers run it with ``dramatiq tests.perf.dramatiq_baseline``; the queue and database come
from ``FILEFLOW_BASELINE_QUEUE``, ``FILEFLOW_AMQP_URL`` and ``FILEFLOW_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import os
import threading

import dramatiq
import psycopg
from dramatiq.brokers.rabbitmq import RabbitmqBroker

QUEUE = os.environ.get("FILEFLOW_BASELINE_QUEUE", "fileflow_baseline")
DATABASE_URL = os.environ.get("FILEFLOW_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS baseline_files"
    " (path text PRIMARY KEY, sha256 text NOT NULL, size bigint NOT NULL)"
)

# With publisher confirms, the guarantee fileflow's watcher gives: a message counts as sent
# only once RabbitMQ has it (Dramatiq then waits for each confirm in turn).
dramatiq.set_broker(
    RabbitmqBroker(
        url=os.environ.get("FILEFLOW_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        confirm_delivery=True,
    )
)
_local = threading.local()


def _connection() -> psycopg.Connection[tuple[object, ...]]:
    # One connection per worker thread, like a pool sized to the threads.
    conn: psycopg.Connection[tuple[object, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DATABASE_URL, autocommit=True)
        _local.conn = conn
    return conn


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
def ingest_file(path: str) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    _connection().execute(
        "INSERT INTO baseline_files (path, sha256, size) VALUES (%s, %s, %s)"
        " ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size",
        (path, hashlib.sha256(data).hexdigest(), len(data)),
    )


def enqueue(paths: list[str]) -> None:
    """Publish one message per path (Dramatiq waits for each publisher confirm)."""
    for path in paths:
        ingest_file.send(path)


if __name__ == "__main__":
    import sys

    enqueue(sys.stdin.read().split("\n")[:-1])
