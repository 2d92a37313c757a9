"""Prometheus metrics, defined once. Labels stay low-cardinality: never a path."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# watcher
EVENTS_SEEN = Counter(
    "fileflow_watcher_events_total", "Filesystem events received by the watcher", ["root"]
)
EVENTS_FILTERED = Counter(
    "fileflow_watcher_events_filtered_total", "Events dropped by include/ignore rules", ["root"]
)
EVENTS_PUBLISHED = Counter(
    "fileflow_watcher_published_total", "Events published and confirmed", ["root", "op"]
)
PUBLISH_ERRORS = Counter(
    "fileflow_watcher_publish_errors_total", "Publishes that were not confirmed", ["root"]
)
EVENTS_COALESCED = Counter(
    "fileflow_watcher_events_coalesced_total",
    "Observations merged into one pending for the same path",
    ["root"],
)
BACKLOG = Gauge("fileflow_watcher_backlog_events", "Events waiting to be published")
BACKLOG_DROPPED = Counter(
    "fileflow_watcher_backlog_dropped_total",
    "Times the backlog passed FILEFLOW_MAX_BACKLOG and was dropped for a rescan",
)
ROOT_PRESENT = Gauge("fileflow_watcher_root_present", "1 while the root folder exists", ["root"])
WATCH_POLLING = Gauge(
    "fileflow_watcher_polling", "1 when the root is polled, 0 with OS notifications", ["root"]
)
SCAN_DURATION = Histogram(
    "fileflow_watcher_scan_duration_seconds",
    "Catch-up scan duration",
    ["root"],
    buckets=(0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# ingestor
MESSAGES = Counter(
    "fileflow_ingestor_messages_total",
    "Events received (a message, or one event of a batch message) by outcome: consumed, acked, "
    "retried, renewed, dead_lettered, requeued",
    ["outcome"],
)
FILES_IN_FLIGHT = Gauge("fileflow_ingestor_files_in_flight", "Files being processed now")
FILES_IN_FLIGHT_MAX = Gauge(
    "fileflow_ingestor_files_in_flight_max", "Highest number of files processed at once"
)
STAGE_DURATION = Histogram(
    "fileflow_ingestor_stage_duration_seconds", "Time per stage", ["stage"], buckets=STAGE_BUCKETS
)
BYTES_HASHED = Counter("fileflow_ingestor_hashed_bytes_total", "Bytes read and hashed")
FILES_DONE = Counter("fileflow_ingestor_files_total", "Files finished by result", ["result"])
EXTRACTIONS = Counter(
    "fileflow_ingestor_extractions_total", "Content extractions by outcome", ["outcome"]
)
CACHE_LOOKUPS = Counter(
    "fileflow_cache_lookups_total", "Seen-hash cache lookups by result", ["result"]
)
CACHE_FAIL_OPEN = Counter(
    "fileflow_cache_fail_open_total", "Cache operations that failed and were skipped"
)
