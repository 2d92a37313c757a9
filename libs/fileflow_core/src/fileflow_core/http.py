"""Each service's HTTP side: /healthz, /readyz and /metrics, served on the service's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING

import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fileflow_core.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

# True when ready; False, or a reason saying why not (shown in the /readyz answer).
ReadinessCheck = Callable[[], Awaitable[bool | str]]
CHECK_TIMEOUT_S = 1.0


class LoopLagMonitor:
    """How late a short sleep wakes up: the event loop's responsiveness, in seconds."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.lag_s = 0.0
        self.worst_lag_s = 0.0

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.lag_s = max(0.0, time.perf_counter() - started - self.interval_s)
            self.worst_lag_s = max(self.worst_lag_s, self.lag_s)


async def _check(check: ReadinessCheck) -> bool | str:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception:  # a check that fails or hangs means "not ready", never a 500
        return False


class OpsEndpoints:
    """What /healthz, /readyz and /metrics answer, whichever web framework serves them."""

    def __init__(
        self,
        service: str,
        checks: dict[str, ReadinessCheck],
        optional: frozenset[str],
        lag: LoopLagMonitor,
    ) -> None:
        self.service = service
        self.checks = checks
        self.optional = optional
        self.lag = lag

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "service": self.service,
            "loop_lag_ms": round(self.lag.lag_s * 1000, 2),
        }

    async def readiness(self) -> tuple[int, dict[str, object]]:
        names = list(self.checks)
        results = await asyncio.gather(*(_check(self.checks[name]) for name in names))
        status = dict(zip(names, results, strict=True))
        ready = all(ok is True for name, ok in status.items() if name not in self.optional)
        return 200 if ready else 503, {"ready": ready, "service": self.service, "checks": status}


def ops_app(
    service: str,
    checks: dict[str, ReadinessCheck],
    *,
    registry: CollectorRegistry,
    optional: frozenset[str] = frozenset(),
    monitor: LoopLagMonitor | None = None,
) -> Starlette:
    """The operational endpoints on a bare Starlette app (the watcher's whole HTTP side: FastAPI
    would add 5 MB of imports to a process whose memory is a target); ``optional`` checks are
    reported but do not gate readiness."""
    ops = OpsEndpoints(service, checks, optional, monitor or LoopLagMonitor())

    async def healthz(_: Request) -> Response:
        return _json(200, ops.health())

    async def readyz(_: Request) -> Response:
        return _json(*await ops.readiness())

    async def metrics(_: Request) -> Response:
        return _metrics(registry)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
    app.state.lag_monitor = ops.lag
    return app


def api_app(
    service: str,
    checks: dict[str, ReadinessCheck],
    *,
    registry: CollectorRegistry,
    optional: frozenset[str] = frozenset(),
    monitor: LoopLagMonitor | None = None,
) -> FastAPI:
    """The operational endpoints on a FastAPI app, for a service that serves an API (and its
    OpenAPI docs, which then list these endpoints too)."""
    from fastapi import FastAPI  # only the services with an API pay for FastAPI

    ops = OpsEndpoints(service, checks, optional, monitor or LoopLagMonitor())
    app = FastAPI(title=f"fileflow {service}", version="1")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, object]:
        """Alive: answering at all means the event loop is turning."""
        return ops.health()

    @app.get("/readyz", tags=["operations"])
    async def readyz(response: Response) -> dict[str, object]:
        """Ready: the connections this service needs are up (503 otherwise)."""
        response.status_code, body = await ops.readiness()
        return body

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return _metrics(registry)

    app.state.lag_monitor = ops.lag
    return app


def _metrics(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a service: the service owns the signals, not the HTTP server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_listener(host: str, port: int, port_setting: str = "the port setting") -> socket.socket:
    """A listening socket, bound here so that a port in use is one line, not uvicorn's
    ``sys.exit`` from inside its task."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot serve HTTP on {host}:{port}: {exc.strerror}") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        hint = (
            f"is another process listening there? stop it or set {port_setting}"
            if exc.errno == errno.EADDRINUSE
            else f"check FILEFLOW_HTTP_HOST and {port_setting}"
        )
        raise ConfigError(f"cannot serve HTTP on {host}:{port}: {exc.strerror} ({hint})") from None
    listener.set_inheritable(True)
    return listener


@contextlib.asynccontextmanager
async def serving(
    app: Starlette, host: str, port: int, *, port_setting: str = "the port setting"
) -> AsyncIterator[int]:
    """Serve ``app`` while the block runs; yields the bound port (useful with port 0).
    ``port_setting`` names the variable to change when the port is taken."""
    listener = bind_listener(host, port, port_setting)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = _EmbeddedServer(config)
    monitor: LoopLagMonitor = app.state.lag_monitor
    lag_task = asyncio.create_task(monitor.run(), name="loop-lag")
    task = asyncio.create_task(server.serve(sockets=[listener]), name="http")
    while not server.started:
        if task.done():
            lag_task.cancel()
            listener.close()
            raise ConfigError(f"cannot serve HTTP on {host}:{port}")
        await asyncio.sleep(0.01)
    bound = listener.getsockname()[1]
    try:
        yield int(bound)
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        lag_task.cancel()
        await asyncio.gather(lag_task, return_exceptions=True)
        listener.close()
