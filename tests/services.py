"""Running the real services as subprocesses (`fileflow watch` / `fileflow ingest`), with their
HTTP side, CPU and memory at hand: for perf and fault tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from fileflow_core.settings import Settings
from tests.perf.procstats import ProcessStats, tree_stats
from tests.support import free_port, wait_until

BIN = Path(sys.executable).parent
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
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/metrics") as r:
            text = await r.text()
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    async def ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{self.url}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False


@asynccontextmanager
async def service(
    command: str, env: dict[str, str], *, log: Path | None = None, wait_ready: bool = True
) -> AsyncIterator[Service]:
    """Start ``fileflow COMMAND``, wait until ready (unless ``wait_ready`` is False: a process
    meant to die early may do so first); SIGTERM (then SIGKILL) at the end."""
    port = free_port()
    variable = "FILEFLOW_WATCHER_HTTP_PORT" if command == "watch" else "FILEFLOW_INGESTOR_HTTP_PORT"
    log_file = log.open("ab") if log is not None else None
    process = await asyncio.create_subprocess_exec(
        str(BIN / "fileflow"),
        command,
        env={**env, variable: str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log_file or asyncio.subprocess.DEVNULL,
    )
    running = Service(process, port)
    try:
        if wait_ready:
            await wait_until(running.ready, bool, timeout_s=60, what=f"{command} ready")
        yield running
    finally:
        if process.returncode is None and command == "ingest":
            try:
                metrics = await running.metrics()
            except aiohttp.ClientError:
                metrics = {}
            queue = env.get("FILEFLOW_QUEUE_NAME", "")
            EXTRACTIONS[queue] = EXTRACTIONS.get(queue, 0.0) + sum(
                value
                for key, value in metrics.items()
                if key.startswith("fileflow_ingestor_extractions_total")
            )
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
        if log_file is not None:
            log_file.close()
