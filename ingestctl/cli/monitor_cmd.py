"""``ingestctl health``, ``ingestctl metrics`` and ``ingestctl status``: read-only and fast.

They open the store without crash recovery (a probe must not write), never create a missing
database, and import neither Rich (except for text output) nor prometheus_client (except
``metrics``), nor the runner, sources, httpx, lxml, tenacity or APScheduler.
"""

from __future__ import annotations

import sqlite3
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer._click.core import Context as ClickContext
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperCommand

from ingestctl import __version__, clock
from ingestctl.cli.output import emit_json
from ingestctl.cli.state import AppState, state
from ingestctl.errors import IngestError, StoreError, UsageError
from ingestctl.monitoring import snapshots
from ingestctl.store import Store
from ingestctl.units import parse_duration

if TYPE_CHECKING:
    from ingestctl.monitoring.health import CheckResult
    from ingestctl.monitoring.status import StatusSnapshot

app = typer.Typer()
# The Monitoring Plugins' UNKNOWN, for bad arguments (monitoring.health is imported lazily).
EXIT_UNKNOWN = 3


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _open(st: AppState) -> Store | None:
    """The store without crash recovery, or None when there is no database yet."""
    if not st.config.store.url and not st.home.database.exists():
        return None
    try:
        return st.store(recover=False)
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None


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


def health_results(st: AppState, now: Any) -> list[CheckResult]:
    """Run the checks; a missing or unreadable database is the CRITICAL database check."""
    # Start-up weight: this module serves health, metrics and status; each loads its own
    # models (tests/test_monitoring_cli.py, tests/test_startup.py).
    from ingestctl.monitoring.health import HealthSnapshot, run_checks

    config = st.config
    try:
        store = _open(st)
        if store is None:
            snap = HealthSnapshot.unreachable(
                f"no database at {st.home.database} (run an import first)")
        else:
            snap = snapshots.health_snapshot(store, config, now, st.home.breakers)
    except StoreError as exc:
        snap = HealthSnapshot.unreachable(exc.reason)
    except sqlite3.Error as exc:
        snap = HealthSnapshot.unreachable(str(exc))
    return run_checks(snap, config.health, now)


@app.command("health", cls=HealthCommand)
def health(
    ctx: typer.Context,
    fmt: HealthFormat = typer.Option(HealthFormat.TEXT, "--format",
                                     help="text (table), nagios (one line) or json."),
) -> None:
    """Run the health checks; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    from ingestctl.monitoring.health import CheckResult, Status, overall

    now = clock.now()
    try:
        results = health_results(state(ctx), now)
    except Exception as exc:  # a probe must answer: anything unexpected is UNKNOWN
        text = exc.message if isinstance(exc, IngestError) else _one_line(exc)
        results = [CheckResult("ingestctl", "health", Status.UNKNOWN, None, None,
                               f"health check failed: {text}", time=now)]
    if fmt is HealthFormat.NAGIOS:
        # Start-up weight: each format loads only its renderer (test_monitoring_cli.py).
        from ingestctl.monitoring.health import render_nagios

        sys.stdout.write(render_nagios(results) + "\n")
    elif fmt is HealthFormat.JSON:
        # Start-up weight: as above.
        from ingestctl.monitoring.health import render_json

        emit_json(render_json(results, now, __version__))
    else:
        # Start-up weight: Rich only for the table (nagios and json stay light).
        from ingestctl.cli.output import stdout
        from ingestctl.monitoring.health import render_table

        stdout.print(render_table(results))
    raise typer.Exit(overall(results).exit_code)


@app.command("metrics")
def metrics(
    ctx: typer.Context,
    textfile: Path | None = typer.Option(
        None, "--textfile", metavar="PATH",
        help="Write atomically to PATH (node_exporter's textfile collector) instead of stdout."),
) -> None:
    """Print the Prometheus text exposition computed from the store."""
    # Start-up weight: prometheus_client for `metrics` only (tests/test_monitoring_cli.py).
    from ingestctl.monitoring.metrics import MetricsSnapshot, exposition, write_textfile

    st = state(ctx)
    now = clock.now()
    store = _open(st)
    try:
        snap = (MetricsSnapshot(success_ratio_window=st.config.health.window) if store is None
                else snapshots.metrics_snapshot(store, now, st.home.breakers,
                                                st.config.health.window))
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None
    data = exposition(snap)
    if textfile is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_textfile(textfile, data)
    except OSError as exc:
        raise IngestError(f"cannot write {textfile}: {exc.strerror or exc}",
                          hint="check the directory exists and is writable") from None


def status_snapshot(st: AppState) -> StatusSnapshot:
    """The status of this home now (an empty one while there is no database)."""
    now = clock.now()
    config = st.config
    store = _open(st)
    if store is None:
        return snapshots.empty_status(config, now, st.home.database, st.home.breakers)
    try:
        return snapshots.status_snapshot(store, config, now, st.home.breakers,
                                           config.status.limit)
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None


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
        store = _open(st)
        return None if store is None else job_view(store, job_id, shown_in.short)

    live(snapshot, Console(), every, open_job=open_job, zone=(shown_in.name, shown_in.tz))
