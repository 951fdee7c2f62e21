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
from ingestctl.clock import iso_out
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.contract import ProgressCallback
from ingestctl.models.jobs import Job


def announce_retries(events: EventBus) -> None:
    """On a terminal, say why an attempt failed and when the next one starts.

    Under cron this stays silent: the run prints its one outcome line at the end.
    """

    def show(event: Event) -> None:
        data = event.data
        when = iso_out(data.get("next_attempt_at")) or "later"
        stderr.print(f"job {event.job_id}: attempt {data.get('attempt')} failed "
                     f"({data.get('error_class')}: {data.get('message')}); next attempt at "
                     f"{when}", markup=False, highlight=False)

    events.subscribe(show, [EventKind.JOB_RETRYING])


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
