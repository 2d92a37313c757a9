"""How the operator commands print: tables on a terminal (rich, loaded only by them)."""

from __future__ import annotations

import base64
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fileflow_core.paths import is_text, path_from_bytes
from fileflow_core.submounts import away_reason


def print_roots(report: list[dict[str, Any]]) -> None:
    for root in report:
        state = "available" if root["available"] else f"UNAVAILABLE: {root['reason']}"
        print(f"{root['id']}  {root['path']}  {state}")
        print(f"    recorded: {root['recorded'] or 'not yet'}; now: {root['now'] or '-'}")
        for point in root["mounts_away"]:
            print(f"    AWAY: {away_reason(root['id'], point)}")


def print_status(report: dict[str, Any]) -> None:
    console = Console()
    console.print(report["where"])
    files = Table(title="files by status")
    files.add_column("status")
    files.add_column("files", justify="right")
    for name, count in sorted(report["files"].items()):
        files.add_row(name, str(count))
    files.add_row("total", str(report["total"]), style="bold")
    # Messages, not files: the watcher packs up to this many events in one message.
    per_message = report.get("events_per_message_max", 1)
    queues = Table(title=f"queues (in messages, up to {per_message} file events each)")
    queues.add_column("queue")
    queues.add_column("messages", justify="right")
    for name, depth in report["queues"].items():
        queues.add_row(name, str(depth))
    console.print(files)
    if report["queues"]:
        console.print(queues)
    if report["queues_note"]:
        console.print(f"queues: {report['queues_note']}")
    console.print(f"completed in the last minute: {report['completed_last_minute']}")


def print_files(found: list[dict[str, Any]]) -> None:
    table = Table(title="files")
    for column in ("id", "root", "path", "status", "type", "size", "details"):
        table.add_column(column)
    for row in found:
        # Text, not markup: a file may be named "[bold]x" or hold a newline or an escape.
        table.add_row(
            str(row["id"]),
            row["root_id"],
            Text(printable(row["path"])),
            row["status"],
            row["mime_type"] or "",
            str(row["size"] or ""),
            Text(printable(details(row))),
        )
    Console().print(table)


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    raw = bytes(row.pop("path_bytes", b"") or b"")
    if raw and not is_text(path_from_bytes(raw)):
        row["path_bytes"] = base64.b64encode(raw).decode()
    return row


def printable(text: str) -> str:
    """Control characters (newline, escape, ...) shown as ``\\xNN``: a name cannot move the
    cursor, colour the terminal or break a row."""
    return "".join(
        f"\\x{ord(c):02x}" if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) else c for c in text
    )


def details(row: dict[str, Any]) -> str:
    if row["error"]:
        return str(row["error"])[:80]
    metadata = row["metadata"] or {}
    keys = ("pages", "title", "width", "height", "duration_s", "words", "encoding")
    return ", ".join(f"{k}={metadata[k]}" for k in keys if k in metadata)
