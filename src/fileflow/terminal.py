"""What the command does to the terminal before any command runs: --version, quiet libraries,
undecodable bytes."""

from __future__ import annotations

import io
import logging
import sys
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


def show_undecodable_bytes() -> None:
    """A path that is not valid UTF-8 is printed as the rest of fileflow shows it (each invalid
    byte ``\\xNN``), not refused by the terminal's encoding half way through a report."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
