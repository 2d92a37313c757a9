"""Adapters chosen one by one from their URL's scheme, the way arq and Celery take DSNs.

One table per port maps a scheme to the adapter that serves it: adding a backend is a module
and a row. Each row opens its adapter lazily, so a process loads only the client libraries it
uses (the watcher never loads a database driver). What differs between backends is a property
of the adapter (``Broker.reaches_other_processes``, ``Broker.durable``), never a branch on a
kind elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from fileflow_core.broker.topology import Topology
from fileflow_core.errors import ConfigError
from fileflow_core.ports import Broker, Cache, DocumentStore
from fileflow_core.settings import Settings
from fileflow_core.store.urls import describe as describe_postgres
from fileflow_core.urls import redact, redact_list, sqlite_file

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Adapter(Generic[T]):
    """How to open one backend from its URL, and how to name it in one line."""

    open: Callable[[str, Settings, str], Awaitable[T]]  # (url, settings, connection name)
    describe: Callable[[str, Settings], str]


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme


def topology_for(settings: Settings) -> Topology:
    return Topology(
        settings.queue_name,
        settings.max_attempts,
        settings.retry_base_delay_s,
        settings.hold_delay_s,
        queue_type=settings.queue_type,
    )


# --- brokers -------------------------------------------------------------------------------


async def _rabbitmq(url: str, settings: Settings, name: str) -> Broker:
    from fileflow_core.broker.rabbitmq import RabbitBroker

    return await RabbitBroker.open(
        settings.amqp_urls, topology_for(settings), name=name, timeout_s=settings.connect_timeout_s
    )


async def _memory_broker(url: str, settings: Settings, name: str) -> Broker:
    from fileflow_core.broker.memory import MemoryBroker

    return MemoryBroker(topology_for(settings), capacity=settings.embedded_queue_capacity)


def _describe_rabbitmq(url: str, settings: Settings) -> str:
    kind = "" if settings.queue_type == "classic" else f" ({settings.queue_type})"
    return f"RabbitMQ at {redact_list(url)}, queue {settings.queue_name}{kind}"


BROKERS: dict[str, Adapter[Broker]] = {
    "amqp": Adapter(_rabbitmq, _describe_rabbitmq),
    "amqps": Adapter(_rabbitmq, _describe_rabbitmq),
    "memory": Adapter(_memory_broker, lambda url, s: "an in-process queue"),
}


# --- seen-hash caches ----------------------------------------------------------------------


async def _redis(url: str, settings: Settings, name: str) -> Cache:
    from fileflow_core.cache.redis import RedisSeenHashCache

    return RedisSeenHashCache.from_url(
        url, key_prefix=settings.redis_key_prefix, ttl_s=settings.cache_ttl_s
    )


async def _memory_cache(url: str, settings: Settings, name: str) -> Cache:
    from fileflow_core.cache.memory import MemorySeenHashCache

    return MemorySeenHashCache(
        max_entries=settings.embedded_cache_entries, ttl_s=settings.cache_ttl_s
    )


_REDIS = Adapter(_redis, lambda url, s: f"Redis at {redact(url)}")
CACHES: dict[str, Adapter[Cache]] = {
    "redis": _REDIS,
    "rediss": _REDIS,
    "unix": _REDIS,
    "memory": Adapter(_memory_cache, lambda url, s: "an in-memory cache"),
}


# --- document stores -----------------------------------------------------------------------


async def _postgres(url: str, settings: Settings, name: str) -> DocumentStore:
    from fileflow_core.store.migrate import migrate
    from fileflow_core.store.postgres import PostgresDocumentStore

    applied = await migrate(url)
    store = await PostgresDocumentStore.open(url, max_connections=min(20, settings.concurrency))
    store.applied = applied
    return store


async def _sqlite(url: str, settings: Settings, name: str) -> DocumentStore:
    from fileflow_core.store.sqlite import SqliteDocumentStore

    return await SqliteDocumentStore.open(sqlite_file(url))


_POSTGRES = Adapter(_postgres, lambda url, s: f"PostgreSQL at {describe_postgres(url)}")
STORES: dict[str, Adapter[DocumentStore]] = {
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
    "sqlite": Adapter(_sqlite, lambda url, s: f"SQLite at {sqlite_file(url)}"),
}


def _row(table: dict[str, Adapter[T]], url: str, variable: str) -> Adapter[T]:
    adapter = table.get(scheme_of(url))
    if adapter is None:
        schemes = ", ".join(f"{scheme}://" for scheme in sorted(table))
        raise ConfigError(
            f"{variable}: {redact_list(url)} names no backend fileflow has ({schemes})"
        )
    return adapter


async def open_broker(settings: Settings, *, name: str) -> Broker:
    return await _row(BROKERS, settings.amqp_url, "FILEFLOW_AMQP_URL").open(
        settings.amqp_url, settings, name
    )


async def open_cache(settings: Settings) -> Cache:
    return await _row(CACHES, settings.redis_url, "FILEFLOW_REDIS_URL").open(
        settings.redis_url, settings, ""
    )


async def open_store(settings: Settings) -> DocumentStore:
    """The document store, its schema up to date."""
    return await _row(STORES, settings.database_url, "FILEFLOW_DATABASE_URL").open(
        settings.database_url, settings, ""
    )


def describe(settings: Settings) -> str:
    """One line saying which backends and where, printed when ``fileflow run`` starts."""
    store = _row(STORES, settings.database_url, "FILEFLOW_DATABASE_URL")
    broker = _row(BROKERS, settings.amqp_url, "FILEFLOW_AMQP_URL")
    cache = _row(CACHES, settings.redis_url, "FILEFLOW_REDIS_URL")
    return (
        f"store: {store.describe(settings.database_url, settings)}; "
        f"queue: {broker.describe(settings.amqp_url, settings)}; "
        f"cache: {cache.describe(settings.redis_url, settings)}"
    )
