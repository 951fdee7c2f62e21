"""Crontab lines that run configured imports from system cron (``ingestctl schedule crontab``).

A cron schedule passes through in its portable form (names written as numbers, ``@daily``
expanded). An interval becomes a cron step when it divides an hour or a day evenly; one that
does not (``every 7m``, ``every 30s``) becomes a comment that says why and points to the daemon.

Time zones: the lines are grouped by zone, and each group after the first starts with one
``CRON_TZ=ZONE`` line, so each CRON_TZ applies to its own lines only. A cron schedule runs in
its import's ``timezone`` (``UTC`` included: the host may run in another zone); an interval
counts from the Unix epoch in UTC, as the daemon does; ``timezone = "local"`` lines come first,
without CRON_TZ, in the cron daemon's own zone. Not every cron reads CRON_TZ (cronie does):
the block says so.

Each command names the program by absolute path (cron's PATH is ``/usr/bin:/bin``), is quiet
(``-q``: cron mails any output) and names the config file and home directory by absolute path
(cron's environment has neither ``INGESTCTL_CONFIG`` nor ``INGESTCTL_HOME``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from ingestctl.scheduler.spec import LOCAL, Schedule, ScheduleKind
from ingestctl.units import format_duration

CRON_TZ_NOTE = ("# CRON_TZ sets the zone of the lines below it, up to the next CRON_TZ; cronie "
                "reads it, other crons may not (see `man 5 crontab`) and use the host's zone")
HEADER = ("# ingestctl imports for system cron (from `ingestctl schedule crontab`); each "
          "CRON_TZ line sets the time zone of the lines below it")


def cli_words(args: list[str], *, config: str | None = None, home: str | None = None,
              program: str | Sequence[str] = "ingestctl", quiet: bool = False) -> list[str]:
    """``PROGRAM [-q] [--config PATH] [--home DIR] ARGS...`` as words: global options first.

    ``program`` is a path or the words that start ingestctl (``python -m ingestctl``): cron's
    and systemd's PATH is short, so callers pass the absolute path of the installed one.
    """
    words = [program] if isinstance(program, str) else list(program)
    if quiet:
        words.append("-q")
    if config:
        words += ["--config", config]
    if home:
        words += ["--home", home]
    return words + args


def crontab_command(name: str, *, config: str | None = None, home: str | None = None,
                    program: str | Sequence[str] = "ingestctl",
                    args: list[str] | None = None) -> str:
    """``PROGRAM -q [--config PATH] [--home DIR] run NAME`` (or ``ARGS``), shell-quoted,
    ``%`` escaped: cron turns a bare ``%`` into a newline, hence ``\\%``."""
    words = cli_words(args or ["run", name], config=config, home=home, program=program,
                      quiet=True)
    return " ".join(shlex.quote(word) for word in words).replace("%", "\\%")


def cron_zone(schedule: Schedule) -> str:
    """The CRON_TZ a schedule's line needs ("" for the cron daemon's own zone)."""
    if schedule.kind is ScheduleKind.INTERVAL:
        return "UTC"  # the daemon counts intervals from the epoch, in UTC
    return "" if schedule.timezone == LOCAL else schedule.timezone


def interval_as_cron(seconds: int) -> tuple[str | None, str]:
    """The cron expression repeating every ``seconds`` (None if impossible) and why not."""
    shown = format_duration(seconds)
    if seconds % 60:
        return None, f"cron counts whole minutes, and {shown} is not a whole number of minutes"
    minutes = seconds // 60
    if minutes < 60:
        if 60 % minutes:
            return None, f"{shown} does not divide an hour evenly"
        return ("* * * * *" if minutes == 1 else f"*/{minutes} * * * *"), ""
    if seconds % 3600 == 0 and seconds < 86400:
        hours = seconds // 3600
        if 24 % hours:
            return None, f"{shown} does not divide a day evenly"
        return ("0 * * * *" if hours == 1 else f"0 */{hours} * * *"), ""
    if seconds == 86400:
        return "0 0 * * *", ""
    if seconds == 7 * 86400:
        # The daemon counts intervals from the Unix epoch, a Thursday.
        return "0 0 * * 4", ""
    return None, f"{shown} does not divide an hour, a day or a week evenly"


def crontab_line(schedule: Schedule, command: str) -> str:
    """The crontab line(s) running ``command`` on ``schedule``: comments and the entry.

    The CRON_TZ line of its zone (:func:`cron_zone`) is the block's to write.
    """
    if schedule.kind is ScheduleKind.INTERVAL:
        expression, why = interval_as_cron(schedule.interval)
        if expression is None:
            return (f"# not for cron: {schedule.describe()}: {why}; run this import with "
                    f"`ingestctl scheduler` instead\n# {command}")
    else:
        expression = schedule.cron_expression
    lines: list[str] = []
    if schedule.jitter:
        lines.append(f"# jitter ({format_duration(schedule.jitter)}) applies only under "
                     "`ingestctl scheduler`")
    lines.append(f"{expression} {command}")
    return "\n".join(lines)


@dataclass(frozen=True)
class CrontabEntry:
    """One configured import for :func:`crontab`."""

    name: str
    schedule: Schedule
    command: str


def crontab(entries: Iterable[CrontabEntry]) -> str:
    """A crontab block: lines in the cron daemon's zone first, then one group per zone.

    Each group after the first starts with its CRON_TZ line, which applies to every later
    line of the crontab until the next one: the block ends with a reminder to paste it at
    the end of the crontab.
    """
    ordered = sorted(entries, key=lambda e: (cron_zone(e.schedule), e.name))
    out = [HEADER]
    zoned = False
    for zone, group in groupby(ordered, key=lambda e: cron_zone(e.schedule)):
        if zone:
            out += [""] + ([] if zoned else [CRON_TZ_NOTE]) + [f"CRON_TZ={zone}"]
            zoned = True
        for entry in group:
            out += ["", f"# {entry.name}: {entry.schedule.describe()}",
                    crontab_line(entry.schedule, entry.command)]
    if zoned:
        out += ["", "# keep these lines at the end of the crontab: CRON_TZ above applies to "
                    "every line below it"]
    return "\n".join(out) + "\n"
