"""A progress bar for work counted in files: done of total, rate and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class FilesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} files/s")


Update = Callable[[int, int, str], None]  # (done, total, detail)


@contextmanager
def files_progress(label: str, *, disable: bool) -> Iterator[Update]:
    """Yield ``update(done, total, detail)``; the bar shows the rate and an estimate of the
    time left once a rate is known. It appears at the first update, so a command that fails
    before it has work to show prints its error alone."""
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        FilesPerSecond(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[detail]}"),
        disable=disable,
        transient=False,
    )
    task = progress.add_task(label, total=None, detail="")

    def update(done: int, total: int, detail: str) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, total=total, completed=done, detail=detail)

    try:
        yield update
    finally:
        if progress.live.is_started:
            progress.stop()
