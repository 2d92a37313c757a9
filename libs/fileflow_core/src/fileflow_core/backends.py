"""The seam between the services and their adapters: a broker, a seen-hash cache and a
document store, opened together either on the real servers or embedded in this process."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fileflow_core.broker.topology import Topology
from fileflow_core.errors import FileflowError, TransientError
from fileflow_core.http import ReadinessCheck
from fileflow_core.ports import Broker, Cache, DocumentStore
from fileflow_core.settings import BackendKind, Settings
from fileflow_core.store.urls import describe

# The adapters are imported where they are opened: each process loads only the client
# libraries it uses (the watcher needs no database driver), which keeps its memory small.

log = logging.getLogger(__name__)


def topology_for(settings: Settings) -> Topology:
    return Topology(
        settings.queue_name,
        settings.max_attempts,
        settings.retry_base_delay_s,
        settings.hold_delay_s,
    )


def describe_backends(settings: Settings, kind: BackendKind) -> str:
    """One line saying which backends and where, printed when ``fileflow run`` starts."""
    if kind == "embedded":
        return (
            f"embedded backends (SQLite at {settings.sqlite_path}, in-process queue, "
            "in-memory cache)"
        )
    return (
        f"real backends (PostgreSQL at {describe(settings.database_url)}, RabbitMQ queue "
        f"{settings.queue_name!r}, Redis cache)"
    )


@dataclass(frozen=True, slots=True)
class Backends:
    """What one process's services share; the services see only the ports."""

    kind: BackendKind
    broker: Broker
    cache: Cache
    store: DocumentStore
    checks: dict[str, ReadinessCheck]
    optional_checks: frozenset[str] = frozenset()

    async def close(self) -> None:
        """Close in reverse order of opening; a failing close does not stop the others."""
        for closing in (self.broker.close, self.cache.close, self.store.close):
            try:
                await closing()
            except (FileflowError, OSError, RuntimeError) as exc:
                log.warning("error while closing", extra={"reason": repr(exc)})


async def open_store(settings: Settings, kind: BackendKind) -> DocumentStore:
    """The document store alone, schema up to date (what the operator commands need)."""
    if kind == "embedded":
        from fileflow_core.store.sqlite import SqliteDocumentStore

        return await SqliteDocumentStore.open(settings.sqlite_path)
    from fileflow_core.store.migrate import migrate
    from fileflow_core.store.postgres import PostgresDocumentStore

    await migrate(settings.database_url)
    return await PostgresDocumentStore.open(
        settings.database_url, max_connections=min(20, settings.concurrency)
    )


async def open_broker(settings: Settings, kind: BackendKind, *, name: str) -> Broker:
    if kind == "embedded":
        from fileflow_core.broker.memory import MemoryBroker

        return MemoryBroker(topology_for(settings), capacity=settings.embedded_queue_capacity)
    from fileflow_core.broker.rabbitmq import RabbitBroker

    return await RabbitBroker.open(
        settings.amqp_url, topology_for(settings), name=name, timeout_s=settings.connect_timeout_s
    )


def open_cache(settings: Settings, kind: BackendKind) -> Cache:
    if kind == "embedded":
        from fileflow_core.cache.memory import MemorySeenHashCache

        return MemorySeenHashCache(
            max_entries=settings.embedded_cache_entries, ttl_s=settings.cache_ttl_s
        )
    from fileflow_core.cache.redis import RedisSeenHashCache

    return RedisSeenHashCache.from_url(
        settings.redis_url, key_prefix=settings.redis_key_prefix, ttl_s=settings.cache_ttl_s
    )


async def open_backends(settings: Settings, kind: BackendKind, *, name: str) -> Backends:
    """Open store, cache and broker of ``kind``; on failure, close what was opened."""
    store = await open_store(settings, kind)
    cache = open_cache(settings, kind)
    try:
        broker = await open_broker(settings, kind, name=name)
    except BaseException:
        await cache.close()
        await store.close()
        raise
    if kind == "embedded":
        embedded: dict[str, ReadinessCheck] = {"queue": broker.connected, "sqlite": store.ping}
        return Backends(kind, broker, cache, store, embedded)
    checks: dict[str, ReadinessCheck] = {
        "rabbitmq": broker.connected,
        "postgresql": store.ping,
        "redis": cache.ping,
    }
    # Fail-open: ingestion goes on without the cache.
    return Backends(kind, broker, cache, store, checks, frozenset({"redis"}))


def require_real(settings: Settings, service: str) -> BackendKind:
    """The standalone services talk to the real servers: embedded backends live in one
    process, so they are only for ``fileflow run``."""
    if settings.backend == "embedded":
        raise TransientError(
            f"the {service} service alone needs the real servers (FILEFLOW_BACKEND=embedded "
            "works with `fileflow run`, which runs both services in one process)"
        )
    return "real"
