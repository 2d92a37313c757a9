"""The ``fileflow`` command: run the services, migrate the database, show status."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from fileflow.terminal import print_version, quiet_libraries, show_undecodable_bytes
from fileflow_core.entry import run_main
from fileflow_core.errors import FileflowError
from fileflow_core.paths import display_path
from fileflow_core.settings import Settings, load_settings, parse_roots

if TYPE_CHECKING:
    from fileflow.ops import BackfillResult

# Each command imports what it runs: the watcher process never loads the ingestor's parsers
# (PDF, images, audio) nor the database driver, which keeps its memory small.

app = typer.Typer(
    help="fileflow: keep folders in sync with a database of their files.\n\n"
    "With no server configured, `fileflow run` needs nothing else: it keeps its data in a "
    "SQLite file and queues in memory. Setting FILEFLOW_AMQP_URL, FILEFLOW_REDIS_URL or "
    "FILEFLOW_DATABASE_URL switches to RabbitMQ, Redis and PostgreSQL. Settings come from "
    "FILEFLOW_* environment variables (see the README).",
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
    version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = config
    quiet_libraries()


BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="auto (default): embedded unless FILEFLOW_AMQP_URL, FILEFLOW_REDIS_URL or "
        "FILEFLOW_DATABASE_URL is set; embedded: SQLite file, in-process queue and cache; "
        "real: PostgreSQL, RabbitMQ, Redis. Setting: FILEFLOW_BACKEND.",
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of the embedded backends' database, fileflow.sqlite3. Default: "
        "$XDG_DATA_HOME/fileflow, i.e. ~/.local/share/fileflow/fileflow.sqlite3. "
        "Setting: FILEFLOW_DATA_DIR.",
        show_default=False,
    ),
]


def _settings(
    ctx: typer.Context,
    roots: list[str] | None = None,
    *,
    backend: str | None = None,
    data_dir: Path | None = None,
) -> Settings:
    overrides: dict[str, Any] = {}
    if backend is not None:
        overrides["backend"] = backend
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        settings = load_settings(ctx.obj, **overrides)
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
    from file_watcher.main import serve as serve_watcher

    raise typer.Exit(run_main(serve_watcher, _settings(ctx, roots)))


@app.command()
def ingest(ctx: typer.Context, roots: RootsArg = None) -> None:
    """Consume change events and store files in PostgreSQL (the ingestor service)."""
    from ingestor.main import serve as serve_ingestor

    raise typer.Exit(run_main(serve_ingestor, _settings(ctx, roots)))


@app.command()
def run(
    ctx: typer.Context,
    roots: RootsArg = None,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Watcher and ingestor together in one process: the simplest way to run fileflow.

    On a machine without the servers it needs nothing else (embedded backends: a SQLite file,
    an in-process queue, an in-memory cache); it prints which backends it uses at start.
    Stopping and starting again catches up with what changed meanwhile.
    """
    from fileflow.together import serve_together

    settings = _settings(ctx, roots, backend=backend, data_dir=data_dir)
    raise typer.Exit(run_main(serve_together, settings))


@app.command()
def migrate(
    ctx: typer.Context,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Embedded store only, with `fileflow run` stopped: then rebuild the SQLite file "
            "(free pages given back, 8 KB pages). Needs free disk of up to twice its size.",
        ),
    ] = False,
) -> None:
    """Create the database if needed and apply the schema migrations (idempotent)."""
    from fileflow.ops import migrate_store

    for line in _run_async(
        migrate_store(_settings(ctx, backend=backend, data_dir=data_dir), compact)
    ):
        print(line)


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command()
def roots(
    ctx: typer.Context,
    roots_arg: RootsArg = None,
    *,
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help="Record ROOT's folder as it is now as its identity (after the library really "
            "moved to another disk or volume), then restart the services.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Each root: available or why not, and the identity recorded when it was first scanned.

    A root that is missing, not a folder, or not the folder it was (a share not mounted, a
    volume not attached) is unavailable: none of its files is recorded as deleted meanwhile;
    nor are the files under a share mounted inside a root while it is away."""
    from fileflow.ops import accept_roots, describe_roots
    from fileflow.show import print_roots

    settings = _settings(ctx, roots_arg, backend=backend, data_dir=data_dir)
    if accept:
        unknown = sorted(set(accept) - {root.id for root in settings.roots})
        if unknown:
            _fail(f"no configured root named {', '.join(unknown)} (see FILEFLOW_ROOTS)")
        _run_async(accept_roots(settings, accept))
    report = _run_async(describe_roots(settings))
    if as_json:
        print(orjson.dumps(report).decode())
    else:
        print_roots(report)
    if any(not root["available"] or root["mounts_away"] for root in report):
        raise typer.Exit(1)


def _run_async(work: Any) -> Any:
    try:
        return asyncio.run(work)
    except FileflowError as exc:
        _fail(str(exc))


@app.command()
def status(
    ctx: typer.Context,
    as_json: JsonOption = False,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Files by status, queue depths (work, retry, dead-letter) and the ingest rate."""
    from fileflow.ops import collect_status

    report = _run_async(collect_status(_settings(ctx, backend=backend, data_dir=data_dir)))
    if as_json:
        print(orjson.dumps(report).decode())
        return
    from fileflow.show import print_status

    print_status(report)


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
    backend: BackendOption = None,
) -> None:
    """Enqueue an existing tree and show a progress bar until it is ingested (real servers;
    with embedded backends, `fileflow run` scans its roots at every start)."""
    settings = _settings(ctx, backend=backend)
    from fileflow.ops import backfill as backfill_tree
    from fileflow.progress import files_progress

    with files_progress("backfill", disable=as_json or not wait) as update:

        def show(result: BackfillResult) -> None:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
            update(result.done, result.enqueued, detail)

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
    _print_backfill(result, path, as_json=as_json)
    if wait and result.done < result.enqueued:
        raise typer.Exit(1)


def _print_backfill(result: BackfillResult, path: Path, *, as_json: bool) -> None:
    if as_json:
        summary = {
            "root": result.root_id,
            "enqueued": result.enqueued,
            "statuses": result.statuses,
            "seconds": round(result.seconds, 2),
        }
        print(orjson.dumps(summary).decode())
        return
    rate = result.done / result.seconds if result.seconds else 0.0
    print(
        f"backfill of {display_path(str(path))}: {result.enqueued} files enqueued; "
        + (", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items())) or "not followed")
        + f"; {result.seconds:.1f}s ({rate:.0f} files/s)"
    )


@app.command()
def retry(
    ctx: typer.Context,
    file_ids: Annotated[
        list[int] | None, typer.Argument(help="File ids to retry.", show_default=False)
    ] = None,
    *,
    retry_all: Annotated[
        bool, typer.Option("--all", help="Every failed file and dead letter.")
    ] = False,
    as_json: JsonOption = False,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Send failed files back through the pipeline and clear their dead letters."""
    if bool(file_ids) == retry_all:
        _fail("name file ids, or --all (not both)")
    if bad := [i for i in file_ids or () if not 1 <= i < 2**63]:
        _fail(f"no file has id {bad[0]}: ids are positive integers (see `fileflow ls`)")
    settings = _settings(ctx, backend=backend, data_dir=data_dir)
    from fileflow.ops import retry as retry_failed

    result = _run_async(retry_failed(settings, None if retry_all else list(file_ids or [])))
    report = {
        "files": [{"id": i, "root": r, "path": p} for i, r, p in result.files],
        "dead_letters_taken": result.dead_letters_taken,
        "dead_letters_left": result.dead_letters_left,
        "deferred": result.deferred,
    }
    if as_json:
        print(orjson.dumps(report).decode())
        return
    if result.deferred:
        print(
            f"marked {len(result.files)} failed file(s) pending; embedded backends keep their "
            "queue inside `fileflow run`, which sends them again when it next starts"
        )
        return
    print(
        f"retrying {len(result.files)} failed file(s); {result.dead_letters_taken} dead "
        f"letter(s) taken back, {result.dead_letters_left} left in the dead-letter queue"
    )


@app.command("ls")
def list_files(
    ctx: typer.Context,
    *,
    status_filter: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only this status: pending, processing, completed, failed, deleted."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    as_json: JsonOption = False,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List ingested files with status, type and key metadata."""
    from fileflow_core.models import FileStatus

    statuses = [status.value for status in FileStatus]
    if status_filter is not None and status_filter not in statuses:
        _fail(f"unknown status {status_filter!r}: use one of {', '.join(statuses)}")
    if limit < 1:
        _fail(f"--limit must be at least 1, not {limit}")
    settings = _settings(ctx, backend=backend, data_dir=data_dir)

    async def rows() -> list[dict[str, Any]]:
        from fileflow.ops import opened_store

        async with opened_store(settings) as store:
            return await store.queries.list_files(status=status_filter, limit=limit)

    found = _run_async(rows())
    if as_json:
        from fileflow.show import json_row

        print(orjson.dumps([json_row(row) for row in found], default=str).decode())
        return
    from fileflow.show import print_files

    print_files(found)


def main() -> None:
    show_undecodable_bytes()
    app()


if __name__ == "__main__":
    main()
