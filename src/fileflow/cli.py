"""The ``fileflow`` command: run the services, migrate the database, show status."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from file_watcher.main import serve as serve_watcher
from fileflow_core.entry import run_main
from fileflow_core.errors import FileflowError
from fileflow_core.settings import Settings, load_settings, parse_roots
from fileflow_core.store.migrate import migrate as apply_migrations
from fileflow_core.store.postgres import PostgresDocumentStore
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


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Files in the database by status."""
    settings = _settings(ctx)

    async def counts() -> dict[str, int]:
        await apply_migrations(settings.database_url)
        store = await PostgresDocumentStore.open(settings.database_url, max_connections=1)
        try:
            return await store.status_counts()
        finally:
            await store.close()

    try:
        by_status = asyncio.run(counts())
    except FileflowError as exc:
        _fail(str(exc))
    report: dict[str, Any] = {"files": by_status, "total": sum(by_status.values())}
    if as_json:
        print(orjson.dumps(report).decode())
        return
    table = Table(title="fileflow: files by status")
    table.add_column("status")
    table.add_column("files", justify="right")
    for name, count in sorted(by_status.items()):
        table.add_row(name, str(count))
    table.add_row("total", str(report["total"]), style="bold")
    Console().print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
