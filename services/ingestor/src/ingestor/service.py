"""The ingestor service: connect adapters, consume until stopped, drain, close in reverse."""

from __future__ import annotations

import asyncio
import logging

from fileflow_core.broker.rabbitmq import RabbitConsumer, connect
from fileflow_core.broker.topology import Topology
from fileflow_core.cache.redis import RedisSeenHashCache
from fileflow_core.settings import Settings
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres import PostgresDocumentStore
from ingestor.consume import DeliveryProcessor
from ingestor.extract import PoolExtractor
from ingestor.handle import FileHandler

log = logging.getLogger(__name__)


def topology_for(settings: Settings) -> Topology:
    return Topology(settings.queue_name, settings.max_attempts, settings.retry_base_delay_s)


async def run_ingestor(
    settings: Settings, stop: asyncio.Event, started: asyncio.Event | None = None
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
    extractor = PoolExtractor(settings)
    connection = await connect(
        settings.amqp_url, name="fileflow-ingestor", timeout_s=settings.connect_timeout_s
    )
    handler = FileHandler(settings, store, cache, extractor)
    processor = DeliveryProcessor(handler, store, settings.concurrency)
    consumer = RabbitConsumer(
        connection, topology_for(settings), prefetch=settings.effective_prefetch
    )
    try:
        await consumer.start(processor)
        log.info(
            "ingestor consuming",
            extra={
                "queue": settings.queue_name,
                "concurrency": settings.concurrency,
                "roots": [r.id for r in settings.roots],
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
        await consumer.close()
        await connection.close()
        await extractor.close()
        await cache.close()
        await store.close()
    log.info("ingestor stopped")
    return processor
