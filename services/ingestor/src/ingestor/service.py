"""The ingestor service: connect adapters, consume until stopped, drain, close in reverse."""

from __future__ import annotations

import asyncio
import logging

from fileflow_core.broker.rabbitmq import RabbitBroker
from fileflow_core.broker.topology import Topology
from fileflow_core.cache.redis import RedisSeenHashCache
from fileflow_core.errors import TransientError
from fileflow_core.http import ops_app, serving
from fileflow_core.settings import Settings
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres import PostgresDocumentStore
from ingestor.api import add_ingest_routes
from ingestor.consume import DeliveryProcessor
from ingestor.extract import Extractor, PoolExtractor
from ingestor.handle import FileHandler

log = logging.getLogger(__name__)


def topology_for(settings: Settings) -> Topology:
    return Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)


async def run_ingestor(
    settings: Settings,
    stop: asyncio.Event,
    started: asyncio.Event | None = None,
    *,
    extractor: Extractor | None = None,
) -> DeliveryProcessor:
    """Run until ``stop`` is set; returns the processor (its counters are useful to tests)."""
    await migrate(settings.database_url)
    store = await PostgresDocumentStore.open(
        settings.database_url, max_connections=min(20, settings.concurrency)
    )
    await store.register_roots(
        [(root.id, root.collection_name, str(root.path)) for root in settings.roots]
    )
    cache = RedisSeenHashCache.from_url(
        settings.redis_url, key_prefix=settings.redis_key_prefix, ttl_s=settings.cache_ttl_s
    )
    broker = await RabbitBroker.open(
        settings.amqp_url,
        topology_for(settings),
        name="fileflow-ingestor",
        timeout_s=settings.connect_timeout_s,
    )
    extractor = extractor or PoolExtractor(settings)
    handler = FileHandler(settings, store, cache, extractor)
    processor = DeliveryProcessor(
        handler, store, settings.concurrency, renew_after_s=settings.delivery_renew_s
    )
    consumer = broker.consumer(prefetch=settings.effective_prefetch)
    try:
        publisher = await broker.publisher(
            window=settings.publish_window, timeout_s=settings.publish_timeout_s
        )
        app = ops_app(
            "ingestor",
            {"rabbitmq": broker.connected, "postgresql": store.ping, "redis": cache.ping},
            optional=frozenset({"redis"}),  # fail-open: ingestion goes on without the cache
        )
        add_ingest_routes(app, settings, store, publisher)
        async with serving(app, settings.http_host, settings.ingestor_http_port) as port:
            await consumer.start(processor)
            log.info(
                "ingestor consuming",
                extra={
                    "queue": settings.queue_name,
                    "concurrency": settings.concurrency,
                    "roots": [r.id for r in settings.roots],
                    "http": f"{settings.http_host}:{port}",
                },
            )
            if started is not None:
                started.set()
            await stop.wait()
            log.info("ingestor stopping: draining in-flight files")
            await consumer.stop()
            cancelled = await processor.drain(settings.drain_timeout_s)
            if cancelled:
                log.warning(
                    "drain timed out; unfinished files go back to the queue",
                    extra={"cancelled": cancelled},
                )
    finally:
        await _close_quietly(
            consumer.close(), extractor.close(), broker.close(), cache.close(), store.close()
        )
    log.info("ingestor stopped")
    return processor


async def _close_quietly(*closing: object) -> None:
    for step in closing:
        try:
            await step  # type: ignore[misc]
        except (TransientError, OSError, RuntimeError) as exc:
            log.warning("error while closing", extra={"reason": repr(exc)})
