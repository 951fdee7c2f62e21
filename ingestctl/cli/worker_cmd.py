"""``ingestctl worker`` and ``ingestctl retry``."""

from __future__ import annotations

import typer

from ingestctl import clock
from ingestctl.cli.output import message
from ingestctl.cli.progress import announce_retries, progress_reporter
from ingestctl.cli.run_cmd import finish
from ingestctl.cli.signals import stop_on_signals
from ingestctl.cli.state import state
from ingestctl.errors import EXIT_DEFERRED, EXIT_FAILED
from ingestctl.jobs.worker import Worker


def retry(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="A failed (dead-lettered) or retrying job."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Exit 75 instead of waiting inline."),
) -> None:
    """Retry a failed or retrying job now; exit codes as for `run`."""
    st = state(ctx)
    if st.interactive:
        announce_retries(st.events)
    with stop_on_signals(st.cancel):
        runner = st.runner()
        with progress_reporter(st.interactive, runner.inflight.longest_wait) as reporter:
            runner.on_progress = reporter
            job = runner.queue.requeue(job_id)
            job = runner.run_to_end(job, inline_wait=not no_wait)
        finish(job, quiet=st.quiet)


def worker(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run what is due, then exit."),
    poll: float | None = typer.Option(
        None, "--poll", min=0.1,
        help="Seconds between queue checks when idle (SQLite, default 5). On PostgreSQL a due "
             "job wakes the worker at once; this is the longest wait (default 60)."),
) -> None:
    """Run due retrying and pending jobs; with --once, until none is due."""
    st = state(ctx)
    with stop_on_signals(st.cancel):
        # Alerts that failed to go out are retried by the worker too.
        report = Worker(st.runner(), poll=poll, after_pass=st.alerting.flush,
                        sleep=st.cancel.sleeper(clock.SYSTEM),
                        check=st.cancel.check).run(once=once)
    if not st.quiet or report.failed:
        message(f"worker: {report.ran} attempt(s) run, {report.failed} failed, "
                f"{report.deferred} still retrying")
    if report.failed:
        raise typer.Exit(EXIT_FAILED)
    if report.deferred:
        raise typer.Exit(EXIT_DEFERRED)
