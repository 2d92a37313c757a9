"""Prometheus metrics, defined once, each in the registry of the service that exports it.

Labels stay low-cardinality (never a path; roots and bounded reasons only). Every labelled
series with a fixed set of labels exists at 0 from the start, so a panel or an alert reads 0,
never "no data"; per-root series start when the root is opened.
"""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# ``_created`` series double every counter and carry nothing a dashboard uses.
from prometheus_client import disable_created_metrics  # isort: skip

disable_created_metrics()  # type: ignore[no-untyped-call]

WATCHER = CollectorRegistry()
INGESTOR = CollectorRegistry()

# Durations up to past the longest timeout a stage has (an extraction's, 60 s by default).
STAGE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 120, 300,
)  # fmt: skip
# From a change seen to its row committed: milliseconds on a quiet system, minutes behind an
# outage or a backlog.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def _build_info(registry: CollectorRegistry, service: str) -> None:
    try:
        version = metadata.version("fileflow")
    except metadata.PackageNotFoundError:
        version = "unknown"
    info = Gauge(
        "fileflow_build_info",
        "Always 1; the labels say which fileflow runs",
        ["service", "version", "python"],
        registry=registry,
    )
    info.labels(service=service, version=version, python=platform.python_version()).set(1)


_build_info(WATCHER, "file_watcher")
_build_info(INGESTOR, "ingestor")

# --- watcher --------------------------------------------------------------------------------

EVENTS_SEEN = Counter(
    "fileflow_watcher_events_total",
    "Filesystem notifications received",
    ["root"],
    registry=WATCHER,
)
EVENTS_FILTERED = Counter(
    "fileflow_watcher_events_filtered_total",
    "Notifications dropped by include/ignore rules or symlinked folders",
    ["root"],
    registry=WATCHER,
)
EVENTS_PUBLISHED = Counter(
    "fileflow_watcher_published_total",
    "Events published and confirmed by the broker",
    ["root", "op"],
    registry=WATCHER,
)
PUBLISH_ERRORS = Counter(
    "fileflow_watcher_publish_errors_total",
    "Events whose publish was not confirmed (kept and sent again)",
    ["root"],
    registry=WATCHER,
)
EVENTS_COALESCED = Counter(
    "fileflow_watcher_events_coalesced_total",
    "Observations merged into one pending change of the same path",
    ["root"],
    registry=WATCHER,
)
BACKLOG = Gauge(
    "fileflow_watcher_backlog_events", "Changes waiting to be published", registry=WATCHER
)
OLDEST_UNPUBLISHED = Gauge(
    "fileflow_watcher_oldest_unpublished_seconds",
    "Age of the oldest change waiting to be published (0 when none)",
    registry=WATCHER,
)
BACKLOG_DROPPED = Counter(
    "fileflow_watcher_backlog_dropped_total",
    "Times the backlog passed FILEFLOW_MAX_BACKLOG and was dropped for a rescan",
    registry=WATCHER,
)
MOUNTS_AWAY = Gauge(
    "fileflow_watcher_mounts_away",
    "Mount points beneath the root seen mounted and not mounted now (their files are kept)",
    ["root"],
    registry=WATCHER,
)
ROOT_PRESENT = Gauge(
    "fileflow_watcher_root_present",
    "1 while the root is available (present, and the folder it was)",
    ["root"],
    registry=WATCHER,
)
WATCH_POLLING = Gauge(
    "fileflow_watcher_polling",
    "1 when the root is polled, 0 with OS notifications",
    ["root"],
    registry=WATCHER,
)
SCAN_DURATION = Histogram(
    "fileflow_watcher_scan_duration_seconds",
    "Catch-up scan duration",
    ["root"],
    buckets=(0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=WATCHER,
)

# --- ingestor -------------------------------------------------------------------------------

MESSAGE_OUTCOMES = (
    "consumed",
    "acked",
    "retried",
    "renewed",
    "dead_lettered",
    "requeued",
    "postponed",
)
MESSAGES = Counter(
    "fileflow_ingestor_messages_total",
    "Events received (a message, or one event of a batch message) by outcome",
    ["outcome"],
    registry=INGESTOR,
)
FILE_RESULTS = ("stored", "unchanged", "deleted", "skipped", "failed")
FILES_DONE = Counter(
    "fileflow_ingestor_files_total",
    "Files finished, each counted once by its final result (failed: its row says failed)",
    ["result"],
    registry=INGESTOR,
)
FAILURE_REASONS = (
    "extraction",
    "permission_denied",
    "attempts_exhausted",
    "malformed_message",
    "unknown_root",
    "rejected_event",
)
FAILURES = Counter(
    "fileflow_ingestor_failures_total",
    "Files failed or messages dead-lettered, by reason",
    ["reason"],
    registry=INGESTOR,
)
SHORT_CIRCUIT_PLACES = ("in_process", "redis", "database")
SHORT_CIRCUITS = Counter(
    "fileflow_ingestor_short_circuits_total",
    "Files whose content was known already, so not extracted, by where it was known",
    ["where"],
    registry=INGESTOR,
)
EXTRACTION_OUTCOMES = ("completed", "failed", "too_large")
EXTRACTIONS = Counter(
    "fileflow_ingestor_extractions_total",
    "Content extractions by outcome",
    ["outcome"],
    registry=INGESTOR,
)
EXTRACTION_FAILURE_REASONS = ("parser", "timeout", "out_of_memory", "worker_died")
EXTRACTION_FAILURES = Counter(
    "fileflow_ingestor_extraction_failures_total",
    "Failed extractions by reason (a timeout, out of memory or a dead worker replaces it)",
    ["reason"],
    registry=INGESTOR,
)
EXTRACTION_WORKER_RESTARTS = Counter(
    "fileflow_ingestor_extraction_worker_restarts_total",
    "Extraction workers replaced after a timeout killed them or they died",
    registry=INGESTOR,
)
EXTRACTION_WORKERS = Gauge(
    "fileflow_ingestor_extraction_workers",
    "Extraction worker processes alive now",
    registry=INGESTOR,
)
FILES_IN_FLIGHT = Gauge(
    "fileflow_ingestor_files_in_flight",
    "Files being read, hashed or extracted now (each holds one of FILEFLOW_CONCURRENCY slots)",
    registry=INGESTOR,
)
FILES_IN_FLIGHT_MAX = Gauge(
    "fileflow_ingestor_files_in_flight_max",
    "Highest number of files read, hashed or extracted at once",
    registry=INGESTOR,
)
FILES_COMMITTING = Gauge(
    "fileflow_ingestor_files_committing",
    "Files whose rows are ready and wait for their group commit (holding no slot)",
    registry=INGESTOR,
)
FILES_READ_AHEAD = Gauge(
    "fileflow_ingestor_files_read_ahead",
    "Files read while every work slot was taken, found new, and waiting for a slot with their"
    " bytes (at most FILEFLOW_CONCURRENCY)",
    registry=INGESTOR,
)
OLDEST_PENDING = Gauge(
    "fileflow_ingestor_oldest_pending_seconds",
    "Age (since the watcher saw it) of the oldest event this ingestor holds (0 when none)",
    registry=INGESTOR,
)
SEEN_TO_COMMITTED = Histogram(
    "fileflow_ingestor_seen_to_committed_seconds",
    "From the watcher seeing a change to its row committed",
    buckets=LAG_BUCKETS,
    registry=INGESTOR,
)
STAGES = ("hash", "extract", "store")
STAGE_DURATION = Histogram(
    "fileflow_ingestor_stage_duration_seconds",
    "Time per stage",
    ["stage"],
    buckets=STAGE_BUCKETS,
    registry=INGESTOR,
)
BYTES_HASHED = Counter(
    "fileflow_ingestor_hashed_bytes_total", "Bytes read and hashed", registry=INGESTOR
)
QUEUES = ("work", "retry", "hold", "dead")
QUEUE_MESSAGES = Gauge(
    "fileflow_ingestor_queue_messages",
    "Messages waiting in the broker's queues (a message holds up to "
    "FILEFLOW_PUBLISH_BATCH_EVENTS events), read by the ingestor itself",
    ["queue"],
    registry=INGESTOR,
)
QUEUE_CONSUMERS = Gauge(
    "fileflow_ingestor_queue_consumers",
    "Consumers of the work queue, as the broker counts them",
    registry=INGESTOR,
)
PAUSED = Gauge(
    "fileflow_ingestor_paused",
    "1 while consumption is paused because the document store is unreachable",
    registry=INGESTOR,
)
ROOT_AVAILABLE = Gauge(
    "fileflow_ingestor_root_available",
    "1 while the root can testify about its files (present, the folder it was)",
    ["root"],
    registry=INGESTOR,
)
CACHE_LOOKUPS = Counter(
    "fileflow_cache_lookups_total",
    "Seen-hash cache (Redis) lookups by result",
    ["result"],
    registry=INGESTOR,
)
CACHE_FAIL_OPEN = Counter(
    "fileflow_cache_fail_open_total",
    "Cache operations that failed and were skipped",
    registry=INGESTOR,
)


def _zeros(counter: Counter | Gauge, label: str, values: tuple[str, ...]) -> None:
    for value in values:
        counter.labels(**{label: value})


_zeros(MESSAGES, "outcome", MESSAGE_OUTCOMES)
_zeros(FILES_DONE, "result", FILE_RESULTS)
_zeros(FAILURES, "reason", FAILURE_REASONS)
_zeros(SHORT_CIRCUITS, "where", SHORT_CIRCUIT_PLACES)
_zeros(EXTRACTIONS, "outcome", EXTRACTION_OUTCOMES)
_zeros(EXTRACTION_FAILURES, "reason", EXTRACTION_FAILURE_REASONS)
_zeros(QUEUE_MESSAGES, "queue", QUEUES)
_zeros(CACHE_LOOKUPS, "result", ("hit", "miss", "stale"))
for _stage in STAGES:
    STAGE_DURATION.labels(stage=_stage)


def watcher_root(root_id: str) -> None:
    """Every series of a watched root, at 0 from its start."""
    for counter in (EVENTS_SEEN, EVENTS_FILTERED, PUBLISH_ERRORS, EVENTS_COALESCED):
        counter.labels(root=root_id)
    for op in ("upsert", "delete"):
        EVENTS_PUBLISHED.labels(root=root_id, op=op)
    SCAN_DURATION.labels(root=root_id)
    MOUNTS_AWAY.labels(root=root_id)


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def registered_names(registry: CollectorRegistry) -> set[str]:
    """The sample names a registry exports, per-root series included before any root is
    opened (for the tests of dashboards and alert rules)."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }
