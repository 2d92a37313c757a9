"""Extraction in worker processes that a per-file timeout and a memory cap can stop."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
from collections.abc import Callable

from pebble import ProcessExpired, ProcessPool

from fileflow_core import metrics
from fileflow_core.beneath import Location, NotARegularFile, open_beneath
from fileflow_core.errors import FileflowError
from fileflow_core.logs import configure_logging, logging_context
from ingestor.extractors.model import ContentChanged, Extraction, ExtractOptions
from ingestor.extractors.sniff import HEAD_BYTES, OCTET_STREAM, sniff_mime
from ingestor.extractors.worker import DEFAULT_OPTIONS, extract_file

log = logging.getLogger(__name__)

ExtractFunction = Callable[..., Extraction]


class _WorkerOSError(Exception):
    """Carries an OSError of the worker's own, so it is not mistaken for the pool's timeout."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class ExtractionPool:
    """``extract_file`` in a pool of worker processes.

    Each worker runs under an address-space limit, so a bomb meets MemoryError; a file that
    takes longer than ``timeout_s`` gets its worker killed and replaced. Either way the caller
    gets an ``Extraction`` with the reason. ``extract_fn`` replaces ``extract_file`` in tests.
    """

    def __init__(
        self,
        workers: int,
        timeout_s: float,
        memory_limit_bytes: int,
        *,
        extract_fn: ExtractFunction = extract_file,
        log_level: str = "INFO",
    ) -> None:
        if workers < 1 or timeout_s <= 0 or memory_limit_bytes <= 0:
            raise ValueError("workers, timeout_s and memory_limit_bytes must be positive")
        self._timeout_s = timeout_s
        self._extract_fn = extract_fn
        # spawn: a fresh interpreter, not a fork of a process with an event loop and threads.
        self._pool = ProcessPool(
            max_workers=workers,
            initializer=start_worker,
            initargs=(memory_limit_bytes, log_level),
            context=multiprocessing.get_context("spawn"),
        )

    async def extract(
        self, path: Location, expected_sha256: str, options: ExtractOptions = DEFAULT_OPTIONS
    ) -> Extraction:
        """Run ``extract_file`` in a worker. Re-raises its ``ContentChanged`` and ``OSError``;
        a timeout or a dead worker comes back as an ``Extraction`` with ``error`` set."""
        future = self._pool.schedule(
            _run_in_worker,
            args=(self._extract_fn, path, expected_sha256, options),
            timeout=self._timeout_s,
        )
        try:
            return await asyncio.wrap_future(future)
        except ContentChanged:
            raise
        except _WorkerOSError as exc:
            raise exc.error from None
        except ProcessExpired as exc:
            # Killed from outside (the kernel's OOM killer, an operator): pebble replaces it.
            failure, reason = "worker_died", f"extraction worker died (exit code {exc.exitcode})"
        except TimeoutError:
            failure, reason = "timeout", f"extraction timed out after {self._timeout_s:g}s"
        except MemoryError:
            failure, reason = "out_of_memory", "extraction ran out of memory"
        except Exception as exc:  # a worker failure must not take the service down
            failure, reason = "parser", f"extraction failed: {type(exc).__name__}: {exc}"
        if failure in ("worker_died", "timeout"):
            metrics.EXTRACTION_WORKER_RESTARTS.inc()
        log.warning(
            "extraction failed",
            extra={"root": path.root_id, "path": path.relative, "reason": reason},
        )
        return await asyncio.to_thread(describe_unextracted, path, reason, failure)

    async def close(self) -> None:
        """Let running extractions finish (each is bounded by the timeout), then stop."""
        self._pool.close()  # type: ignore[no-untyped-call]  # pebble leaves these unannotated
        try:
            await asyncio.to_thread(self._pool.join, self._timeout_s + 5)
        except TimeoutError:
            self._pool.stop()  # type: ignore[no-untyped-call]
            await asyncio.to_thread(self._pool.join)


def start_worker(memory_limit_bytes: int, log_level: str) -> None:
    """Worker initializer: JSON log lines like the service's, and the memory cap."""
    configure_logging(log_level)
    limit_memory(memory_limit_bytes)


def limit_memory(limit_bytes: int) -> None:
    """Cap the address space and write no core dumps."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run_in_worker(
    function: ExtractFunction, path: Location, expected_sha256: str, options: ExtractOptions
) -> Extraction:
    try:
        with logging_context(root=path.root_id, path=path.relative):
            return function(path, expected_sha256, options)
    except ContentChanged:
        raise
    except OSError as exc:
        raise _WorkerOSError(exc) from None


def describe_unextracted(path: Location, reason: str, failure: str) -> Extraction:
    """What a cheap look at the file tells when extraction failed: its size and sniffed type."""
    try:
        fd, info = open_beneath(path)
        try:
            head = os.read(fd, HEAD_BYTES)
        finally:
            os.close(fd)
    except (OSError, FileflowError, NotARegularFile):
        return Extraction(OCTET_STREAM, {"mime_type": OCTET_STREAM}, error=reason, failure=failure)
    mime = sniff_mime(head)
    metadata = {"size": info.st_size, "mime_type": mime}
    return Extraction(mime, metadata, error=reason, failure=failure)
