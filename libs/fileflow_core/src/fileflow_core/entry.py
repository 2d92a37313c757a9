"""Running a service from a command line: logging, settings, one-line errors, exit codes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from fileflow_core.errors import FileflowError
from fileflow_core.logs import configure_logging
from fileflow_core.runtime import run_service
from fileflow_core.settings import Settings, load_settings

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run_main(serve: Serve, settings: Settings | None = None) -> int:
    """Run ``serve`` until SIGTERM/SIGINT; a known error prints one line and exits 2."""
    try:
        settings = settings or load_settings()
        configure_logging(settings.log_level)
        run_service(lambda stop: serve(settings, stop))
    except FileflowError as exc:
        print(f"fileflow: error: {exc}", file=sys.stderr)
        return 2
    return 0
