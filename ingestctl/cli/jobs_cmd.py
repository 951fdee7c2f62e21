"""``ingestctl jobs list`` and ``ingestctl jobs show``."""

from __future__ import annotations

from datetime import timedelta

import typer

from ingestctl import clock
from ingestctl.cli.job_view import render_job
from ingestctl.cli.output import emit_json, jobs_listing, stdout
from ingestctl.cli.state import state
from ingestctl.cli.tables import TZ_OPTION, print_listing, zone
from ingestctl.errors import JobNotFound, UsageError
from ingestctl.jobs.spec import check_source
from ingestctl.models.jobs import JobStatus
from ingestctl.store import jobs as job_store
from ingestctl.units import parse_duration

app = typer.Typer(help="Job history.", no_args_is_help=True)


def since_option(text: str | None) -> str | None:
    """``--since 24h`` (a duration back from now) or an ISO date/time, as a stored timestamp."""
    if not text:
        return None
    try:
        return clock.to_iso(clock.now() - timedelta(seconds=parse_duration(text)))
    except ValueError:
        pass
    try:
        return clock.to_iso(clock.from_iso(text))
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a duration such as 24h or a date "
                         "such as 2026-01-31") from None


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: JobStatus | None = typer.Option(None, "--status", help="Only jobs in this state."),
    source: str | None = typer.Option(None, "--source", help="Only this source."),
    since: str | None = typer.Option(None, "--since", help="Created within (24h) or after a date."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many jobs."),
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
    tz: str | None = TZ_OPTION,
) -> None:
    """List jobs, newest first."""
    st = state(ctx)
    shown_in = zone(tz, st.config.display.tz)
    flt = job_store.JobFilter(status=status.value if status else None,
                              source=check_source(source) if source else None,
                              since=since_option(since), limit=limit)
    jobs = job_store.list_jobs(st.store(), flt)
    if as_json:
        emit_json([job.to_json() for job in jobs])
    elif jobs:
        print_listing(jobs_listing(jobs, shown_in))
    else:
        stdout.print("no jobs")


@app.command("show")
def show_job(
    ctx: typer.Context,
    job_id: int = typer.Argument(..., help="The job id."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Show one job with all its attempts, errors and results."""
    store = state(ctx).store()
    job = job_store.get_job(store, job_id)
    if job is None:
        raise JobNotFound(job_id)
    attempts = job_store.attempts_of(store, job_id)
    if as_json:
        # `attempts` stays the count of the job object; the attempts are `attempt_history`.
        emit_json({**job.to_json(), "attempt_history": [a.to_json() for a in attempts],
                   "quality": (job.result or {}).get("quality")})
        return

    stdout.print(render_job(job, attempts))
