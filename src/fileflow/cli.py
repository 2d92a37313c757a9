"""The ``fileflow`` command: run the services, migrate the database, show status."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from file_watcher.main import serve as serve_watcher
from fileflow.ops import BackfillResult, collect_status, connected
from fileflow.ops import backfill as backfill_tree
from fileflow.ops import retry as retry_failed
from fileflow_core.entry import run_main
from fileflow_core.errors import FileflowError
from fileflow_core.settings import Settings, load_settings, parse_roots
from fileflow_core.store.migrate import migrate as apply_migrations
from ingestor.main import serve as serve_ingestor

app = typer.Typer(
    help="fileflow: keep folders in sync with PostgreSQL through RabbitMQ.\n\n"
    "Settings come from FILEFLOW_* environment variables (see the README).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RootsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Folders to watch, as PATH or ID=PATH; default: FILEFLOW_ROOTS.", show_default=False
    ),
]


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="FILEFLOW_CONFIG",
            help="TOML file with settings and roots (see docs/configuration.md); FILEFLOW_* win.",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = config


def _settings(ctx: typer.Context, roots: list[str] | None = None) -> Settings:
    try:
        settings = load_settings(ctx.obj)
        if roots:
            settings = settings.model_copy(update={"roots": parse_roots(",".join(roots))})
    except (FileflowError, ValueError) as exc:
        _fail(str(exc))
    return settings


def _fail(message: str) -> typer.Exit:
    print(f"fileflow: error: {message}", file=sys.stderr)
    raise typer.Exit(2)


@app.command()
def watch(ctx: typer.Context, roots: RootsArg = None) -> None:
    """Watch folders and publish their changes to RabbitMQ (the file_watcher service)."""
    raise typer.Exit(run_main(serve_watcher, _settings(ctx, roots)))


@app.command()
def ingest(ctx: typer.Context, roots: RootsArg = None) -> None:
    """Consume change events and store files in PostgreSQL (the ingestor service)."""
    raise typer.Exit(run_main(serve_ingestor, _settings(ctx, roots)))


@app.command()
def run(ctx: typer.Context, roots: RootsArg = None) -> None:
    """Watcher and ingestor together in one process: the simplest way to run fileflow."""

    async def serve_both(settings: Settings, stop: asyncio.Event) -> None:
        await asyncio.gather(serve_ingestor(settings, stop), serve_watcher(settings, stop))

    raise typer.Exit(run_main(serve_both, _settings(ctx, roots)))


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Create the database if needed and apply the schema migrations (idempotent)."""
    settings = _settings(ctx)
    try:
        applied = asyncio.run(apply_migrations(settings.database_url))
    except FileflowError as exc:
        _fail(str(exc))
    print(f"applied: {', '.join(applied)}" if applied else "database schema is up to date")


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _run_async(work: Any) -> Any:
    try:
        return asyncio.run(work)
    except FileflowError as exc:
        _fail(str(exc))


@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Files by status, queue depths (work, retry, dead-letter) and the ingest rate."""
    report = _run_async(collect_status(_settings(ctx)))
    if as_json:
        print(orjson.dumps(report).decode())
        return
    console = Console()
    files = Table(title="files by status")
    files.add_column("status")
    files.add_column("files", justify="right")
    for name, count in sorted(report["files"].items()):
        files.add_row(name, str(count))
    files.add_row("total", str(report["total"]), style="bold")
    queues = Table(title="queues")
    queues.add_column("queue")
    queues.add_column("messages", justify="right")
    for name, depth in report["queues"].items():
        queues.add_row(name, str(depth))
    console.print(files, queues)
    console.print(f"completed in the last minute: {report['completed_last_minute']}")


@app.command()
def backfill(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A root, or a folder inside one.")],
    *,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="Extract again even if the content is known.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow progress until every file is stored.")] = True,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Stop following after this.")
    ] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Enqueue an existing tree and show a progress bar until it is ingested."""
    settings = _settings(ctx)
    with Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        disable=as_json or not wait,
        transient=False,
    ) as progress:
        task = progress.add_task("backfill", total=None, detail="")

        def show(result: BackfillResult) -> None:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
            progress.update(task, total=result.enqueued, completed=result.done, detail=detail)

        result = _run_async(
            backfill_tree(
                settings,
                path,
                reprocess=reprocess,
                wait=wait,
                timeout_s=timeout_s,
                on_progress=show,
            )
        )
    summary = {
        "root": result.root_id,
        "enqueued": result.enqueued,
        "statuses": result.statuses,
        "seconds": round(result.seconds, 2),
    }
    if as_json:
        print(orjson.dumps(summary).decode())
    else:
        rate = result.done / result.seconds if result.seconds else 0.0
        print(
            f"backfill of {path}: {result.enqueued} files enqueued; "
            + (", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items())) or "not followed")
            + f"; {result.seconds:.1f}s ({rate:.0f} files/s)"
        )
    if wait and result.done < result.enqueued:
        raise typer.Exit(1)


@app.command()
def retry(
    ctx: typer.Context,
    file_ids: Annotated[
        list[int] | None, typer.Argument(help="File ids to retry.", show_default=False)
    ] = None,
    retry_all: Annotated[
        bool, typer.Option("--all", help="Every failed file and dead letter.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send failed files back through the pipeline and clear their dead letters."""
    if bool(file_ids) == retry_all:
        _fail("name file ids, or --all (not both)")
    result = _run_async(retry_failed(_settings(ctx), None if retry_all else list(file_ids or [])))
    report = {
        "files": [{"id": i, "root": r, "path": p} for i, r, p in result.files],
        "dead_letters_taken": result.dead_letters_taken,
        "dead_letters_left": result.dead_letters_left,
    }
    if as_json:
        print(orjson.dumps(report).decode())
        return
    print(
        f"retrying {len(result.files)} failed file(s); {result.dead_letters_taken} dead "
        f"letter(s) taken back, {result.dead_letters_left} left in the dead-letter queue"
    )


@app.command("ls")
def list_files(
    ctx: typer.Context,
    status_filter: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List ingested files with status, type and key metadata."""
    settings = _settings(ctx)

    async def rows() -> list[dict[str, Any]]:
        async with connected(settings) as (store, _broker):
            return await store.list_files(status=status_filter, limit=limit)

    found = _run_async(rows())
    if as_json:
        print(orjson.dumps(found, default=str).decode())
        return
    table = Table(title="files")
    for column in ("id", "root", "path", "status", "type", "size", "details"):
        table.add_column(column)
    for row in found:
        table.add_row(
            str(row["id"]),
            row["root_id"],
            row["path"],
            row["status"],
            row["mime_type"] or "",
            str(row["size"] or ""),
            _details(row),
        )
    Console().print(table)


def _details(row: dict[str, Any]) -> str:
    if row["error"]:
        return str(row["error"])[:80]
    metadata = row["metadata"] or {}
    keys = ("pages", "title", "width", "height", "duration_s", "words", "encoding")
    return ", ".join(f"{k}={metadata[k]}" for k in keys if k in metadata)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
