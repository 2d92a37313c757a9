"""In-process broker: the RabbitMQ adapter's semantics (priorities, manual acks, delayed retries
with attempt counting, dead letters, renew) on an asyncio queue, for ``fileflow run`` on a bare
machine and for tests.

It keeps nothing on disk: messages waiting in it are lost when the process ends. That is safe
because the broker says so (``durable`` is False) and the one-process runner then seeds the
watcher's catch-up scan from the *store* instead of from the watcher's own record of what it
published: at the next start, every file whose stored row does not match the disk (never
stored, stored with an older signature, still pending or processing) is published again, and
every stored file that is gone from disk gets a deletion. Only files the ingestor committed
count as known, so a message accepted here but never ingested before a stop or a crash is
never lost, only sent again.
"""

from fileflow_core.broker.memory.broker import MemoryBroker
from fileflow_core.broker.memory.consumer import MemoryConsumer
from fileflow_core.broker.memory.delivery import MemoryDelivery, MemoryPublisher
from fileflow_core.broker.memory.queue import Message, WorkQueue

__all__ = [
    "MemoryBroker",
    "MemoryConsumer",
    "MemoryDelivery",
    "MemoryPublisher",
    "Message",
    "WorkQueue",
]
