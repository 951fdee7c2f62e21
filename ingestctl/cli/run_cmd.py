"""``ingestctl run``: import now, in the foreground."""

from __future__ import annotations

from typing import Any

import typer

from ingestctl.cli.output import error, message
from ingestctl.cli.progress import announce_retries, progress_reporter
from ingestctl.cli.signals import stop_on_signals
from ingestctl.cli.state import state
from ingestctl.errors import EXIT_DEFERRED, EXIT_FAILED
from ingestctl.jobs.outcome import completed_line, warnings
from ingestctl.jobs.spec import resolve_spec
from ingestctl.models.jobs import Job, JobStatus


def run(
    ctx: typer.Context,
    what: str = typer.Argument(..., metavar="SOURCE_OR_NAME",
                               help="sitemap, merchant, search-console, or a configured import"),
    target: str | None = typer.Argument(None, metavar="[URL_OR_PATH]",
                                        help="The sitemap URL or file (run sitemap)."),
    name: str | None = typer.Option(None, "--name", help="Name this ad-hoc import."),
    account: str | None = typer.Option(None, "--account", help="Merchant account id."),
    site: str | None = typer.Option(None, "--site", help="Search Console property."),
    start_date: str | None = typer.Option(None, "--start-date", help="First day (YYYY-MM-DD)."),
    end_date: str | None = typer.Option(None, "--end-date", help="Last day (YYYY-MM-DD)."),
    provisional: bool = typer.Option(False, "--provisional",
                                     help="Also load the last, not yet final days."),
    search_type: str | None = typer.Option(None, "--search-type",
                                           help="web, image, video, news, discover or "
                                                "googleNews (search-console)."),
    dimensions: list[str] | None = typer.Option(
        None, "--dimensions", help="A dimension set such as date,query,page; repeat for more "
                                   "(search-console; default: the five and the totals)."),
    no_wait: bool = typer.Option(False, "--no-wait",
                                 help="Exit 75 at once instead of waiting for a short retry."),
) -> None:
    """Run an import now: `run sitemap URL_OR_PATH`, `run merchant --account ID`,
    `run search-console --site SITE`, or `run NAME` for a configured import."""
    st = state(ctx)
    with stop_on_signals(st.cancel):
        options: dict[str, Any] = {"account": account, "site": site, "start_date": start_date,
                                   "end_date": end_date, "provisional": provisional,
                                   "search_type": search_type, "dimensions": dimensions or None}
        spec = resolve_spec(st.config, what, target, name=name, options=options)
        if spec.source in ("merchant", "search-console"):
            # Bad dates or missing credentials fail here, before a job exists. Start-up
            # weight: google-auth only for Google sources (test_startup.py).
            from ingestctl.sources.google.preflight import preflight

            preflight(st.config, spec)
        if st.interactive:
            announce_retries(st.events)
        runner = st.runner()
        with progress_reporter(st.interactive, runner.inflight.longest_wait) as reporter:
            runner.on_progress = reporter
            job = runner.submit_and_run(spec, inline_wait=not no_wait)
        finish(job, quiet=st.quiet)


def finish(job: Job, *, quiet: bool) -> None:
    """Report how a job ended and exit with its code (README, exit codes)."""
    if job.status is JobStatus.COMPLETED:
        if not quiet:  # warnings (failed files, quality) keep exit 0
            message(completed_line(job))
        return
    err = f"{job.error.error_class}: {job.error.message}" if job.error else "unknown error"
    if job.status is JobStatus.FAILED:
        # A data-quality failure: the other findings often say why (a file cut at a limit).
        facts = "".join(f"; {fact}" for fact in warnings(job.result or {})) \
            if job.error and job.error.type == "QualityFailedError" else ""
        error(f"job {job.id} failed after {job.attempts} attempt(s): {err}{facts}; it is in "
              f"the dead-letter queue (`ingestctl jobs show {job.id}`, `ingestctl retry "
              f"{job.id}`)")
        raise typer.Exit(EXIT_FAILED)
    error(f"job {job.id} deferred until {job.to_json()['next_attempt_at'] or 'later'} "
          f"({err}); `ingestctl worker` or the scheduler retries it, or `ingestctl retry "
          f"{job.id}` now")
    raise typer.Exit(EXIT_DEFERRED)
