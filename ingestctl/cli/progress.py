"""A Rich progress display for imports on a terminal; nothing at all otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ingestctl.cli.output import stderr
from ingestctl.clock import iso_out
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.contract import ProgressCallback
from ingestctl.models.jobs import Job

#: A request waiting this long for data (seconds) is named under the progress bar.
WAITING_SHOWN = 3.0

Waiting = Callable[[], "tuple[str, float] | None"]


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


def waiting_line(found: tuple[str, float] | None) -> str:
    """``waiting 25 s for URL`` when a request has waited at least WAITING_SHOWN seconds."""
    if found is None or found[1] < WAITING_SHOWN:
        return ""
    url, seconds = found
    return f"waiting {seconds:.0f} s for {url}"


class ImportProgress(Progress):
    """The bars, and under them the request that has waited longest for data, if any."""

    def __init__(self, *columns: Any, waiting: Waiting | None = None, **options: Any) -> None:
        self.waiting = waiting  # first: the parent may render already
        super().__init__(*columns, **options)

    def get_renderables(self) -> Iterable[RenderableType]:
        """The task table, then the waiting line (refreshed ten times a second)."""
        yield self.make_tasks_table(self.tasks)
        line = waiting_line(self.waiting()) if self.waiting is not None else ""
        if line:
            yield Text(line, style="yellow", overflow="ellipsis", no_wrap=True)


@contextmanager
def progress_reporter(enabled: bool, waiting: Waiting | None = None
                      ) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing sitemaps and items done, when ``enabled``.

    ``waiting`` (the runner's ``inflight.longest_wait``) names a request that has waited
    more than a few seconds for data under the bars.
    """
    if not enabled:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("files"), TextColumn("{task.fields[items]:,} "
                                                                     "items"),
               TimeElapsedColumn())
    with ImportProgress(*columns, console=stderr, transient=True, waiting=waiting) as bar:
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
