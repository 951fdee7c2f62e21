"""``ingestctl health``, ``ingestctl metrics`` and ``ingestctl status``: read-only and fast.

They open the store without crash recovery (a probe must not write), never create a missing
database, and import neither Rich (except for text output) nor the metric families (except
``metrics``), nor the runner, sources, httpx, lxml, tenacity or APScheduler.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer._click.core import Context as ClickContext
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperCommand

from ingestctl.cli.output import emit_json
from ingestctl.cli.probes import open_store, print_health, print_metrics, status_snapshot
from ingestctl.cli.state import state
from ingestctl.errors import UsageError
from ingestctl.units import parse_duration

if TYPE_CHECKING:
    from ingestctl.monitoring.status import StatusSnapshot

app = typer.Typer()
# The Monitoring Plugins' UNKNOWN, for bad arguments (monitoring.health is imported lazily).
EXIT_UNKNOWN = 3


class HealthFormat(StrEnum):
    """Output formats of ``health``."""

    TEXT = "text"
    NAGIOS = "nagios"
    JSON = "json"


class HealthCommand(TyperCommand):
    """Bad arguments to ``health`` exit 3 (UNKNOWN), as the Monitoring Plugins ask, not 2."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: ClickContext | None = None, **extra: Any) -> ClickContext:
        """Parse the arguments; a usage error prints an UNKNOWN line and exits 3."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except ClickUsageError as exc:
            sys.stdout.write(f"INGESTCTL UNKNOWN - invalid arguments: {exc.format_message()}\n")
            raise typer.Exit(EXIT_UNKNOWN) from None


@app.command("health", cls=HealthCommand)
def health(
    ctx: typer.Context,
    fmt: HealthFormat = typer.Option(HealthFormat.TEXT, "--format",
                                     help="text (table), nagios (one line) or json."),
) -> None:
    """Run the health checks; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    raise typer.Exit(print_health(state(ctx), fmt.value))


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    textfile: Path | None = typer.Option(
        None, "--textfile", metavar="PATH",
        help="Write atomically to PATH (node_exporter's textfile collector) instead of stdout."),
) -> None:
    """Print the Prometheus text exposition computed from the store."""
    print_metrics(state(ctx), textfile)


def _interval(text: str | None, default: float) -> float:
    if text is None:
        return default
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--interval {text!r}: {exc}") from None
    if seconds < 0.1:
        raise UsageError(f"--interval {text!r}: must be at least 100ms")
    return seconds


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="The same data as JSON."),
    watch: bool = typer.Option(False, "--watch", help="Live view on a terminal; q quits."),
    interval: str | None = typer.Option(None, "--interval", metavar="DURATION",
                                        help="Redraw interval of --watch (default 2s)."),
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                  help="Show times in ZONE (IANA name, UTC or local; "
                                       "default: [display] tz, else UTC)."),
) -> None:
    """Jobs per source, running imports, retry queue, dead letters, breakers, quota, alerts."""
    st = state(ctx)
    if as_json and watch:
        raise UsageError("--json and --watch cannot be combined")
    every = _interval(interval, st.config.status.watch_interval)
    if watch and not sys.stdout.isatty():
        raise UsageError("status --watch needs a terminal on stdout; use `ingestctl status` "
                         "for one screen or `ingestctl status --json` for programs")
    if as_json:
        emit_json(status_snapshot(st).to_json())
        return
    # Start-up weight: Rich and APScheduler for the text view only; --json stays light.
    from rich.console import Console

    from ingestctl.cli.tables import output_width, zone
    from ingestctl.monitoring import dashboard
    from ingestctl.monitoring.status import fill_next_runs

    shown_in = zone(tz, st.config.display.tz)

    def snapshot() -> StatusSnapshot:
        snap = status_snapshot(st)
        fill_next_runs(snap)
        return snap

    if not watch:
        width = output_width() or 100
        snap = snapshot()
        top = dashboard.header(snap, shown_in.name, shown_in.tz)
        Console(width=width).print(dashboard.render_frame(snap, width, top=top).body)
        return
    # Start-up weight: the live view only on a terminal.
    from ingestctl.monitoring.watch import job_view
    from ingestctl.monitoring.watch import watch as live

    def open_job(job_id: int) -> Any:
        store = open_store(st)
        return None if store is None else job_view(store, job_id, shown_in.short)

    live(snapshot, Console(), every, open_job=open_job, zone=(shown_in.name, shown_in.tz))
