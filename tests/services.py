"""Running the real services as subprocesses (`fileflow watch` / `fileflow ingest`), with their
HTTP side, CPU and memory at hand: for perf and fault tests."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from fileflow_core.settings import Settings
from tests.perf.procstats import ProcessStats, tree_stats
from tests.support import free_port, wait_until

BIN = Path(sys.executable).parent
# Every service a test starts carries this, naming the test process: a later run finds and
# stops what an interrupted one left behind (see ``stop_leftover_services``).
OWNER_VARIABLE = "FILEFLOW_TEST_OWNER_PID"
STOP_GRACE_S = 45.0
KILL_WAIT_S = 10.0
METRICS_TIMEOUT_S = 5.0
_PR_SET_PDEATHSIG = 1
# Extractions counted by every ingestor that stopped cleanly, per queue (a killed one cannot be
# asked): the fault invariant compares them with the contents stored.
EXTRACTIONS: dict[str, float] = {}


def service_env(settings: Settings, root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEFLOW_")}
    env.update(
        FILEFLOW_AMQP_URL=settings.amqp_url,
        FILEFLOW_REDIS_URL=settings.redis_url,
        FILEFLOW_DATABASE_URL=settings.database_url,
        FILEFLOW_QUEUE_NAME=settings.queue_name,
        FILEFLOW_QUEUE_TYPE=settings.queue_type,
        FILEFLOW_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        FILEFLOW_STATE_DIR=str(settings.state_dir),
        FILEFLOW_ROOTS=f"lib={root}",
        FILEFLOW_LOG_LEVEL="WARNING",
        FILEFLOW_MAX_ATTEMPTS=str(settings.max_attempts),
        FILEFLOW_RETRY_BASE_DELAY_S=str(settings.retry_base_delay_s),
    )
    env.update(extra)
    return env


@dataclass
class Service:
    process: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> ProcessStats:
        return tree_stats(self.process.pid)

    async def metrics(self) -> dict[str, float]:
        timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{self.url}/metrics") as r,
        ):
            text = await r.text()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """The /readyz status and answer (0 and {} when the service does not answer)."""
        timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{self.url}/readyz") as r,
            ):
                return r.status, await r.json()
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}

    async def ready(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{self.url}/readyz") as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


def _die_with_parent() -> None:
    """In the child, before exec: the kernel kills it when the test process dies, however it
    dies (a kill of pytest included), so no service outlives the run that started it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@asynccontextmanager
async def service(
    command: str, env: dict[str, str], *, log: Path | None = None, wait_ready: bool = True
) -> AsyncIterator[Service]:
    """Start ``fileflow COMMAND``, wait until ready (unless ``wait_ready`` is False: a process
    meant to die early may do so first); at the end SIGTERM, then SIGKILL after a deadline.

    The service runs in a process group of its own, which the stop signals reach whole (the
    ingestor's extraction workers included)."""
    port = free_port()
    variable = "FILEFLOW_WATCHER_HTTP_PORT" if command == "watch" else "FILEFLOW_INGESTOR_HTTP_PORT"
    with contextlib.ExitStack() as files:
        if log is None:
            log = Path(files.enter_context(tempfile.TemporaryDirectory())) / f"{command}.log"
        log_file = files.enter_context(log.open("ab"))
        written_before = log.stat().st_size
        process = await asyncio.create_subprocess_exec(
            str(BIN / "fileflow"),
            command,
            env={**env, variable: str(port), OWNER_VARIABLE: str(os.getpid())},
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        running = Service(process, port)
        try:
            if wait_ready:
                await wait_until(running.ready, bool, timeout_s=60, what=f"{command} ready")
            yield running
        finally:
            try:
                if process.returncode is None and command == "ingest":
                    await _count_extractions(running, env)
            finally:
                await stop_process(process)
        # Only when the test itself passed: a failure must not hide behind this one.
        assert_json_lines(log, written_before, command)


def assert_json_lines(log: Path, offset: int, command: str) -> None:
    """Every line the service wrote is a JSON object; the only other line allowed is the
    one-line error of a service that refuses to start (``fileflow: error: ...``, exit 2)."""
    with log.open("rb") as written:
        written.seek(offset)
        lines = written.read().splitlines()
    bad = []
    for number, line in enumerate(lines):
        if line.startswith(b"fileflow: error: ") and number == len(lines) - 1:
            continue
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            bad.append(line[:300])
    assert not bad, f"`fileflow {command}` wrote lines that are not JSON: {bad[:5]}"


async def _count_extractions(running: Service, env: dict[str, str]) -> None:
    try:
        metrics = await running.metrics()
    except (aiohttp.ClientError, TimeoutError):
        metrics = {}
    queue = env.get("FILEFLOW_QUEUE_NAME", "")
    EXTRACTIONS[queue] = EXTRACTIONS.get(queue, 0.0) + sum(
        value
        for key, value in metrics.items()
        if key.startswith("fileflow_ingestor_extractions_total")
    )


async def stop_process(
    process: asyncio.subprocess.Process, grace_s: float = STOP_GRACE_S
) -> int | None:
    """SIGTERM the process's group, SIGKILL it after ``grace_s``; never waits longer than
    ``grace_s`` plus ``KILL_WAIT_S``. Returns the exit code (None if it could not be reaped)."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace_s)
    # The service itself may be gone while its extraction workers linger.
    _signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_WAIT_S)
    return process.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_leftover_services() -> list[int]:
    """SIGKILL every service a test run started whose test process is gone (an interrupted
    run whose processes outlived it); return their pids."""
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        owner = next(
            (v.split(b"=", 1)[1] for v in environ if v.startswith(OWNER_VARIABLE.encode() + b"=")),
            None,
        )
        if owner is None or not owner.isdigit() or _alive(int(owner)):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry.name), signal.SIGKILL)
            stopped.append(int(entry.name))
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
