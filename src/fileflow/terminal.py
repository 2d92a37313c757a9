"""What the command does to the terminal before any command runs: --version, quiet libraries."""

from __future__ import annotations

import logging
from importlib import metadata

import typer


def print_version(wanted: bool) -> None:
    if wanted:
        print(f"fileflow {metadata.version('fileflow')}")
        raise typer.Exit(0)


def quiet_libraries() -> None:
    """The commands print their own one-line errors: a client library's log line (aiormq's
    "connection refused") must not come first. The services configure JSON logs instead."""
    logging.basicConfig(level=logging.ERROR, format="fileflow: %(name)s: %(message)s")
    for noisy in ("aiormq", "aio_pika", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
