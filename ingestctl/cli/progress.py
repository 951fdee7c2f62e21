"""A Rich progress display for imports on a terminal; nothing at all otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ingestctl.cli.output import stderr
from ingestctl.models import Job
from ingestctl.runner import ProgressCallback


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing sitemaps and items done, when ``enabled``."""
    if not enabled:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("files"), TextColumn("{task.fields[items]:,} "
                                                                     "items"),
               TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[int, Any] = {}

        def report(job: Job, state: dict[str, Any]) -> None:
            task = tasks.get(job.id)
            if task is None:
                task = tasks[job.id] = bar.add_task(f"job {job.id}", total=None, items=0)
            changes: dict[str, Any] = {"items": state.get("items", 0)}
            if "files_done" in state:
                changes["completed"] = state["files_done"]
                changes["total"] = state.get("files_total")
            bar.update(task, **changes)

        yield report
