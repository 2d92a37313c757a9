"""The seam between the services and their adapters: a broker, a seen-hash cache and a
document store, each chosen by its URL (``fileflow_core.adapters``), opened together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fileflow_core.adapters import open_broker, open_cache, open_store
from fileflow_core.errors import ConfigError, FileflowError
from fileflow_core.http import ReadinessCheck
from fileflow_core.ports import Broker, Cache, DocumentStore
from fileflow_core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backends:
    """What one process's services share; the services see only the ports."""

    broker: Broker
    cache: Cache
    store: DocumentStore

    @property
    def checks(self) -> dict[str, ReadinessCheck]:
        return {
            self.broker.check_name: self.broker.connected,
            self.store.check_name: self.store.ping,
            self.cache.check_name: self.cache.ping,
        }

    @property
    def optional_checks(self) -> frozenset[str]:
        # The cache is an optimisation: ingestion goes on without it (fail-open).
        return frozenset({self.cache.check_name})

    async def close(self) -> None:
        """Close in reverse order of opening; a failing close does not stop the others."""
        for closing in (self.broker.close, self.cache.close, self.store.close):
            try:
                await closing()
            except (FileflowError, OSError, RuntimeError) as exc:
                log.warning("error while closing", extra={"reason": repr(exc)})


async def open_backends(settings: Settings, *, name: str) -> Backends:
    """Open store, cache and broker as their URLs say; on failure, close what was opened."""
    store = await open_store(settings)
    cache = None
    try:
        cache = await open_cache(settings)
        broker = await open_broker(settings, name=name)
    except BaseException:
        if cache is not None:
            await cache.close()
        await store.close()
        raise
    return Backends(broker, cache, store)


def require_shared_broker(broker: Broker, service: str) -> None:
    """A service that runs alone must reach its peers through its broker."""
    if not broker.reaches_other_processes:
        raise ConfigError(
            f"the {service} alone needs a broker other processes reach: set FILEFLOW_AMQP_URL "
            "(an in-process queue works only with `fileflow run`, which runs both services "
            "in one process)"
        )
