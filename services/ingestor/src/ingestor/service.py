"""The ingestor service: consume until stopped, drain, close in reverse."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from fileflow_core import metrics
from fileflow_core.adapters import topology_for
from fileflow_core.backends import Backends, open_backends, require_shared_broker
from fileflow_core.errors import TransientError
from fileflow_core.http import api_app, serving
from fileflow_core.ports import ClosableConsumer
from fileflow_core.runtime import until_stopped
from fileflow_core.settings import Settings
from ingestor.api import add_ingest_routes, check_api_access
from ingestor.consume import DeliveryProcessor
from ingestor.extract import Extractor, PoolExtractor
from ingestor.handle import FileHandler
from ingestor.outage import StoreOutage
from ingestor.queue_gauges import poll_queues
from ingestor.roots import RootGuard

log = logging.getLogger(__name__)


async def run_ingestor(
    settings: Settings,
    stop: asyncio.Event,
    started: asyncio.Event | None = None,
    *,
    extractor: Extractor | None = None,
    backends: Backends | None = None,
) -> DeliveryProcessor:
    """Run until ``stop`` is set; returns the processor (its counters are useful to tests).

    With ``backends`` the caller owns them (and closes them); without, the ingestor opens the
    real ones and closes them when it stops.
    """
    RootGuard.check_present(settings.roots)
    check_api_access(settings)
    owned = backends is None
    if backends is None:
        backends = await until_stopped(stop, open_backends(settings, name="fileflow-ingestor"))
        try:
            require_shared_broker(backends.broker, "ingestor")
        except BaseException:
            await backends.close()
            raise
    try:
        return await _consume(settings, stop, started, extractor, backends)
    finally:
        if owned:
            await backends.close()


@dataclass
class _Parts:
    """The ingestor's working parts over one set of backends."""

    roots: RootGuard
    extractor: Extractor
    consumer: ClosableConsumer
    outage: StoreOutage
    processor: DeliveryProcessor
    queue_gauges: asyncio.Task[None]
    consuming: asyncio.Event = field(default_factory=asyncio.Event)

    async def readiness(self) -> bool | str:
        if not self.consuming.is_set():
            return "starting"
        return self.outage.describe() or True

    async def drain(self, timeout_s: float) -> None:
        """Stop intake, let the files in flight finish for up to ``timeout_s``."""
        await self.outage.close()
        await self.consumer.stop()
        cancelled = await self.processor.drain(timeout_s)
        if cancelled:
            log.warning(
                "drain timed out; unfinished files go back to the queue",
                extra={"cancelled": cancelled},
            )

    async def close(self) -> None:
        self.queue_gauges.cancel()
        await asyncio.gather(self.queue_gauges, return_exceptions=True)
        await _close_quietly(
            self.outage.close(),
            self.processor.close(),
            self.consumer.close(),
            self.extractor.close(),
        )


async def _parts(settings: Settings, backends: Backends, extractor: Extractor | None) -> _Parts:
    store = backends.store
    await store.roots.register_roots(
        [(root.id, root.collection_name, str(root.path)) for root in settings.roots]
    )
    roots = await RootGuard.open(settings.roots, store.roots)
    extractor = extractor or PoolExtractor(settings)
    handler = FileHandler(settings, store.writes, backends.cache, extractor, roots)
    consumer = backends.broker.consumer(prefetch=settings.effective_prefetch)
    outage = StoreOutage(consumer, store.ping)
    processor = DeliveryProcessor(
        handler,
        store.writes,
        settings.concurrency,
        outage=outage,
        renew_after_s=settings.delivery_renew_s,
    )
    queue_gauges = asyncio.create_task(
        poll_queues(backends.broker, topology_for(settings)), name="queue-gauges"
    )
    return _Parts(roots, extractor, consumer, outage, processor, queue_gauges)


async def _consume(
    settings: Settings,
    stop: asyncio.Event,
    started: asyncio.Event | None,
    extractor: Extractor | None,
    backends: Backends,
) -> DeliveryProcessor:
    parts = await _parts(settings, backends, extractor)
    try:
        publisher = await backends.broker.publisher(
            window=settings.publish_window, timeout_s=settings.publish_timeout_s
        )
        checks = {**backends.checks, "roots": parts.roots.readiness, "consuming": parts.readiness}
        app = api_app(
            "ingestor", checks, registry=metrics.INGESTOR, optional=backends.optional_checks
        )
        add_ingest_routes(app, settings, backends.store.queries, publisher)
        async with serving(
            app,
            settings.http_host,
            settings.ingestor_http_port,
            port_setting="FILEFLOW_INGESTOR_HTTP_PORT",
        ) as port:
            await parts.consumer.start(parts.processor)
            parts.consuming.set()
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
            await parts.drain(settings.drain_timeout_s)
    finally:
        await parts.close()
    log.info("ingestor stopped")
    return parts.processor


async def _close_quietly(*closing: object) -> None:
    for step in closing:
        try:
            await step  # type: ignore[misc]
        except (TransientError, OSError, RuntimeError) as exc:
            log.warning("error while closing", extra={"reason": repr(exc)})
