"""``ingestctl schedule list``, ``schedule crontab`` and ``schedule systemd``."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.text import Text

from ingestctl import clock
from ingestctl.cli.output import STATUS_STYLE, emit_json, message
from ingestctl.cli.state import state
from ingestctl.cli.tables import Column, Listing, in_own_zone, print_listing, zone
from ingestctl.errors import IngestError, UsageError
from ingestctl.scheduler.listing import crontab_block, schedule_rows, systemd_units

app = typer.Typer(help="Configured schedules: next runs, last outcomes, crontab lines, "
                  "systemd timers.",
                  no_args_is_help=True)


def _after(text: str | None) -> datetime:
    if not text:
        return clock.now()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--after {text!r}: expected an ISO 8601 time such as "
                         "2026-03-28T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("list")
def list_schedules(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
    runs: int = typer.Option(1, "--runs", min=1, max=100, help="How many next runs to show."),
    after: str | None = typer.Option(None, "--after", metavar="TIME",
                                     help="Next runs after TIME (ISO 8601) instead of now."),
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE",
                                  help="Show next runs in ZONE (IANA name, UTC or local) "
                                       "instead of each import's own zone."),
) -> None:
    """Each configured import: schedule, time zone, next run, last outcome, missed slots."""
    st = state(ctx)
    start = _after(after)
    rows = schedule_rows(st.config, st.store(), start, runs)
    if as_json:
        emit_json([row.to_json() for row in rows])
        return
    # Next runs are in each import's own zone (named in every time) unless --tz asks for one.
    shown_in = zone(tz) if tz else None
    listing = Listing([
        Column("NAME", cut="middle", min_width=16, want=24),
        Column("SCHEDULE", priority=3, min_width=12, want=24),
        Column(shown_in.header("NEXT RUN") if shown_in else "NEXT RUN", priority=1,
               cut="never"),
        Column("LAST", priority=2, cut="never"),
        Column("MISSED", priority=4, cut="never", justify="right"),
    ])
    for row in rows:
        data = row.to_json()
        nexts = "\n".join(shown_in.short(m) if shown_in else in_own_zone(m)
                          for m in row.next_runs) or "-"
        job = row.last_job
        last = Text("-")
        if job is not None:
            last = Text.assemble((job.status.value, STATUS_STYLE.get(job.status.value, "")),
                                 f" (job {job.id})")
        listing.add(row.config.name, data["description"] or "manual only", nexts, last,
                    str(data["missed"]))
    print_listing(listing)


def installed_program(argv0: str | None = None) -> list[str]:
    """The words that start this very ingestctl from cron, whose PATH is /usr/bin:/bin.

    The console script that is running (``sys.argv[0]``), else the ``ingestctl`` on PATH
    when it sits beside this interpreter (the same installation), else ``PYTHON -m
    ingestctl`` with this interpreter. Paths are absolute but symlinks are kept, so a
    ``~/.local/bin/ingestctl`` link survives upgrades of what it points to.
    """
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name == "ingestctl" and script.is_file() and os.access(script, os.X_OK):
        return [os.path.abspath(script)]
    found = shutil.which("ingestctl")
    here = Path(os.path.abspath(sys.executable)).parent
    if found and Path(os.path.abspath(found)).parent == here:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "ingestctl"]


@app.command("crontab")
def crontab(ctx: typer.Context) -> None:
    """Crontab lines running the scheduled imports from system cron (`-q ... run NAME`)."""
    st = state(ctx)
    config = st.config
    config_path = str(config.path.resolve()) if config.path else None
    # Cron's environment has neither INGESTCTL_HOME nor INGESTCTL_CONFIG: name both.
    home = str(st.home.root.resolve())
    block, count = crontab_block(config, program=installed_program(),
                                 config_path=config_path, home=home)
    if not count:
        where = str(config.path) if config.path else "the config (none found)"
        raise IngestError(f"no import in {where} has a schedule",
                          hint='add schedule = "0 2 * * *" to an [[imports]] table')
    sys.stdout.write(block)


@app.command("systemd")
def systemd(
    ctx: typer.Context,
    output_dir: Path | None = typer.Option(
        None, "--output-dir", metavar="DIR", help="Write the unit files into DIR instead of "
        "printing them (e.g. /etc/systemd/system)."),
    user_units: bool = typer.Option(
        False, "--user", help="Units for `systemctl --user` (no User=, no sandboxing)."),
) -> None:
    """A .service/.timer pair per scheduled import (and one for the daily prune): the cron
    alternative on systemd hosts."""
    st = state(ctx)
    config = st.config
    found = shutil.which("ingestctl")
    program = [found] if found else [sys.executable, "-m", "ingestctl"]
    config_path = str(config.path.resolve()) if config.path else None
    units = systemd_units(config, program=program, config_path=config_path,
                          home=str(st.home.root.resolve()),
                          user=None if user_units else getpass.getuser())
    if not units:
        where = str(config.path) if config.path else "the config (none found)"
        raise IngestError(f"no import in {where} has a schedule",
                          hint='add schedule = "0 2 * * *" to an [[imports]] table')
    timers = " ".join(u.name for u in units if u.name.endswith(".timer"))
    systemctl = "systemctl --user" if user_units else "systemctl"
    if output_dir is None:
        where = "~/.config/systemd/user" if user_units else "/etc/systemd/system"
        for unit in units:
            sys.stdout.write(f"# {where}/{unit.name}\n{unit.text}\n")
        sys.stdout.write(f"# then: {systemctl} daemon-reload && {systemctl} enable --now "
                         f"{timers}\n")
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        for unit in units:
            path = output_dir / unit.name
            path.write_text(unit.text, encoding="utf-8")
            path.chmod(0o644)
    except OSError as exc:
        raise UsageError(f"--output-dir {output_dir}: {exc.strerror or exc}") from None
    if not st.quiet:
        for unit in units:
            message(str(output_dir / unit.name))
        message(f"then: {systemctl} daemon-reload && {systemctl} enable --now {timers}")
