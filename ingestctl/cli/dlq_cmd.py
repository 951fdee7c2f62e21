"""``ingestctl dlq list / show / retry / purge``: the dead-letter queue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from ingestctl import clock
from ingestctl.cli.jobs_cmd import since_option
from ingestctl.cli.output import emit_json, error, message, stderr, stdout
from ingestctl.cli.run_cmd import finish
from ingestctl.cli.signals import stop_on_signals
from ingestctl.cli.state import AppState, state
from ingestctl.cli.tables import TZ_OPTION, Column, Listing, Zone, print_listing, zone
from ingestctl.errors import ErrorClass, UsageError
from ingestctl.jobs.dead_letters import DeadLetterQueue, LetterDetail, RetryItem, RetryOutcome
from ingestctl.jobs.dead_letters import Progress as OnProgress
from ingestctl.jobs.queue import JobQueue
from ingestctl.jobs.spec import check_source
from ingestctl.store.dead_letters import DeadLetter, LetterFilter
from ingestctl.units import parse_duration

app = typer.Typer(help="The dead-letter queue: jobs that failed for good.", no_args_is_help=True)

_SOURCE = typer.Option(None, "--source", help="Only entries of this source.")
_CLASS = typer.Option(None, "--error-class", help="Only entries that failed with this class.")
_SINCE = typer.Option(None, "--since", help="Dead-lettered within (24h) or after a date.")


def _filter(source: str | None, error_class: ErrorClass | None, since: str | None,
            limit: int | None = None) -> LetterFilter:
    return LetterFilter(source=check_source(source) if source else None,
                        error_class=error_class.value if error_class else None,
                        since=since_option(since), limit=limit)


def _dlq(st: AppState, *, run: bool = False) -> DeadLetterQueue:
    if run:
        return DeadLetterQueue(st.store(), runner=st.runner())

    store = st.store()
    return DeadLetterQueue(store, JobQueue(store, st.config.jobs, clock.SYSTEM, st.events))


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    source: str | None = _SOURCE,
    error_class: ErrorClass | None = _CLASS,
    since: str | None = _SINCE,
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many entries."),
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
    tz: str | None = TZ_OPTION,
) -> None:
    """List the entries waiting for a human, oldest first."""
    st = state(ctx)
    letters = DeadLetterQueue(st.store()).list(_filter(source, error_class, since, limit))
    if as_json:
        emit_json([letter.to_json() for letter in letters])
        return
    if not letters:
        stdout.print("the dead-letter queue is empty")
        return
    print_listing(_listing(letters, zone(tz, st.config.display.tz)))


def _listing(letters: list[DeadLetter], shown_in: Zone) -> Listing:
    listing = Listing([
        Column("ID", cut="never", justify="right"),
        Column("JOB", priority=3, cut="never", justify="right"),
        Column("NAME", cut="middle", min_width=20, want=32),
        Column("SOURCE", priority=7, cut="never"),
        Column("TARGET", priority=6, cut="middle", min_width=20),
        Column("CLASS", cut="never"),
        Column("ATTEMPTS", priority=5, cut="never", justify="right"),
        Column(shown_in.header("SINCE"), priority=1, cut="never"),
        Column("ERROR", priority=2, min_width=16, want=40),
    ])
    for letter in letters:
        data = letter.to_json()
        listing.add(str(letter.id), str(letter.job_id), data["name"], letter.source,
                    data["target"], Text(letter.error_class, style="red"), str(letter.attempts),
                    shown_in.short(letter.updated_at),
                    " ".join((data["error"]["message"] or "").split()))
    return listing


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    letter_id: int = typer.Argument(..., metavar="ID", help="The dead-letter entry id "
                                    "(the ID column of `dlq list`, not a job id)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Show an entry, its job and every attempt's error with its traceback."""
    detail = DeadLetterQueue(state(ctx).store()).show(letter_id)
    if as_json:
        emit_json(detail.to_json())
    else:
        stdout.print(_render(detail))


def _render(detail: LetterDetail) -> RenderableType:
    letter, job = detail.letter, detail.job
    data = letter.to_json()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    rows = [("entry", str(letter.id)), ("job", f"{job.id} ({job.status.value})"),
            ("name", data["name"]), ("source", letter.source), ("target", data["target"]),
            ("error", f"{letter.error_class}: {data['error']['message']}"),
            ("attempts", str(letter.attempts)), ("dead since", data["updated_at"]),
            ("requeued", f"{data['requeued_at']} ({letter.requeue_count} time(s))"
             if letter.requeued_at else "")]
    for key, value in rows:
        if value:
            head.add_row(key, value)
    parts: list[RenderableType] = [head]
    for attempt in detail.attempts:
        shown = attempt.to_json()
        err = (f"{attempt.error.error_class}: {attempt.error.type}: {shown['error']['message']}"
               if attempt.error else "no error")
        parts += [Text(""), Text(f"attempt {attempt.number} ({attempt.outcome.value}, "
                                 f"{shown['started_at']}, {attempt.requests} request(s)): {err}",
                                 style="bold")]
        if shown["traceback"]:
            parts.append(Text(shown["traceback"].rstrip()))
    return Group(*parts)


@contextmanager
def _progress(enabled: bool) -> Iterator[OnProgress | None]:
    if not enabled:
        yield None
        return
    columns = (TextColumn("dlq retry"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("", total=None)

        def report(done: int, total: int, item: RetryItem) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"entry {item.letter_id}: {item.outcome.value}")

        yield report


@app.command("retry")
def retry_cmd(
    ctx: typer.Context,
    letter_id: int | None = typer.Argument(
        None, metavar="ID", help="A dead-letter entry id (from `dlq list`; `ingestctl retry "
        "JOB_ID` takes a job id instead)."),
    every: bool = typer.Option(False, "--all", help="Every active entry matching the filters."),
    source: str | None = _SOURCE,
    error_class: ErrorClass | None = _CLASS,
    since: str | None = _SINCE,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be requeued."),
    no_run: bool = typer.Option(False, "--no-run", help="With --all: only requeue; `ingestctl "
                                "worker` or the scheduler runs them."),
    no_wait: bool = typer.Option(False, "--no-wait", help="With ID: exit 75 instead of "
                                 "waiting inline for a short job retry."),
) -> None:
    """Requeue entry ID (then run it now, exit codes as for `run`), or --all matching entries
    (requeued in batches and run now; exit 0, 1 if one failed or could not be requeued, 75 if
    one is still waiting)."""
    if (letter_id is None) == (not every):
        raise UsageError("dlq retry: give an entry ID or --all (not both)")
    if letter_id is not None and (source or error_class or since):
        raise UsageError("dlq retry: --source, --error-class and --since go with --all")
    st = state(ctx)
    if letter_id is not None and not dry_run:
        with stop_on_signals(st.cancel):
            job = _dlq(st, run=True).retry(letter_id, inline_wait=not no_wait)
            finish(job, quiet=st.quiet)
        return
    dlq = _dlq(st, run=not (dry_run or no_run))
    with stop_on_signals(st.cancel), _progress(st.interactive) as reporter:
        report = dlq.retry_matching(_filter(source, error_class, since), dry_run=dry_run,
                                    run=not no_run, on_progress=reporter, only=letter_id)
    for item in report.items:
        _report_item(item, quiet=st.quiet)
    if not st.quiet or report.exit_code:
        message(report.summary())
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _report_item(item: RetryItem, *, quiet: bool) -> None:
    where = f"entry {item.letter_id} (job {item.job_id})"
    if item.outcome is RetryOutcome.SKIPPED:
        error(f"{where} not requeued: {item.reason}")
    elif item.outcome is RetryOutcome.FAILED:
        error(f"{where} failed again: {item.reason}; it is back in the dead-letter queue")
    elif quiet:
        return
    elif item.outcome is RetryOutcome.WOULD_REQUEUE:
        target = item.job.to_json()["target"] if item.job else "?"
        message(f"would requeue {where}: {target}")
    elif item.outcome is RetryOutcome.DEFERRED:
        message(f"{where} deferred: {item.reason}")


@app.command("purge")
def purge_cmd(
    ctx: typer.Context,
    older_than: str = typer.Option(..., "--older-than", help="Age such as 30d: entries last "
                                   "updated longer ago are deleted."),
) -> None:
    """Delete entries older than --older-than (their jobs stay in the history)."""
    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than {older_than!r}: {exc}") from None
    st = state(ctx)
    removed = _dlq(st).purge(seconds)
    if not st.quiet:
        message(f"purged {removed} dead-letter entr{'y' if removed == 1 else 'ies'} older "
                f"than {older_than}")
