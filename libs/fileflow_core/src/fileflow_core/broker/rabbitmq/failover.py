"""A robust connection that moves to the next node of a RabbitMQ cluster when its own dies.

aio-pika's ``RobustConnection`` reconnects to the one URL it was given (its issue #141 asks for
several; none is built in). This subclass changes only which URL each attempt uses: every
reconnection attempt takes the next URL of the list, round the list, so a dead node is left
after one failed attempt. Channels, queues and consumers are restored by aio-pika as usual.
"""

from __future__ import annotations

import logging
from typing import Any

from aio_pika import RobustConnection
from yarl import URL

from fileflow_core.urls import redact

log = logging.getLogger(__name__)

# The next node is another machine: there is no reason to wait the default 5 s before trying
# it. A single URL keeps aio-pika's default.
FAILOVER_RECONNECT_S = 1.0


class FailoverConnection(RobustConnection):
    """``RobustConnection`` over a list of node URLs (``failover_urls``), starting at
    ``failover_start``."""

    def __init__(self, url: URL, *args: Any, **kwargs: Any) -> None:
        urls: list[str] = kwargs.pop("failover_urls", None) or [str(url)]
        start: int = kwargs.pop("failover_start", 0)
        super().__init__(url, *args, **kwargs)
        self._urls = [URL(u) for u in urls]
        self._next = start % len(self._urls)
        self.attempts = 0

    @property
    def node(self) -> str:
        """The URL of the node this connection is on (or tries next), its password hidden."""
        return redact(str(self.url))

    # aio-pika's reconnection loop calls this name-mangled method for each attempt; it is the
    # one place where the URL of the next attempt can be chosen.
    async def _RobustConnection__connect_transport(self) -> None:
        self.url = self._urls[self._next]
        self._next = (self._next + 1) % len(self._urls)
        if self.attempts:
            log.warning("RabbitMQ connection lost; trying %s", self.node)
        self.attempts += 1
        await super()._RobustConnection__connect_transport()  # type: ignore[misc]
