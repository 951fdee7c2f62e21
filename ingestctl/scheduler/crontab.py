"""Crontab lines that run configured imports from system cron (``ingestctl schedule crontab``).

A cron schedule passes through in its portable form (names written as numbers, ``@daily``
expanded). An interval becomes a cron step when it divides an hour or a day evenly; one that
does not (``every 7m``, ``every 30s``) becomes a comment that says why and points to the daemon.

Time zones: lines run in the cron daemon's zone unless a ``CRON_TZ=`` line precedes them.
Schedules in ``UTC`` or ``local`` get none (``UTC`` is then right on a host that runs in UTC,
as most servers do); any other zone gets ``CRON_TZ=ZONE`` and a comment, because not every cron
reads it (cronie does) and because it applies to every line after it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from ingestctl.scheduler.spec import LOCAL, Schedule, ScheduleKind
from ingestctl.units import format_duration

PLAIN_ZONES = frozenset({"UTC", "Etc/UTC", LOCAL})
CRON_TZ_NOTE = ("# CRON_TZ sets the zone of the times below and of every line after it; cronie "
                "reads it, other crons may not (see `man 5 crontab`) and use the host's zone")
HEADER = ("# ingestctl imports for system cron (from `ingestctl schedule crontab`); lines "
          "without CRON_TZ run in the cron daemon's time zone")


def cli_words(args: list[str], *, config: str | None = None, home: str | None = None,
              program: str = "ingestctl") -> list[str]:
    """``ingestctl [--config PATH] [--home DIR] ARGS...`` as words: global options first.

    ``program`` may be an absolute path, since cron's (and systemd's) PATH is short.
    """
    words = [program]
    if config:
        words += ["--config", config]
    if home:
        words += ["--home", home]
    return words + args


def crontab_command(name: str, *, config: str | None = None, home: str | None = None,
                    program: str = "ingestctl", args: list[str] | None = None) -> str:
    """``ingestctl [--config PATH] [--home DIR] run NAME -q`` (or ``ARGS``), shell-quoted,
    ``%`` escaped: cron turns a bare ``%`` into a newline, hence ``\\%``."""
    words = cli_words(args or ["run", name, "-q"], config=config, home=home, program=program)
    return " ".join(shlex.quote(word) for word in words).replace("%", "\\%")


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


def crontab_line(schedule: Schedule, command: str, *, explain_tz: bool = True) -> str:
    """The crontab line(s) running ``command`` on ``schedule``: comments, CRON_TZ, the entry."""
    lines: list[str] = []
    if schedule.kind is ScheduleKind.INTERVAL:
        expression, why = interval_as_cron(schedule.interval)
        if expression is None:
            return (f"# not for cron: {schedule.describe()}: {why}; run this import with "
                    f"`ingestctl scheduler` instead\n# {command}")
    else:
        expression = schedule.cron_expression
        if schedule.timezone not in PLAIN_ZONES:
            if explain_tz:
                lines.append(CRON_TZ_NOTE)
            lines.append(f"CRON_TZ={schedule.timezone}")
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
    """A crontab block for several imports: those without CRON_TZ first, then zone by zone.

    Ordering matters because CRON_TZ applies to every later line; the block ends with a
    reminder to paste it at the end of the crontab.
    """
    items = list(entries)

    def zone_of(entry: CrontabEntry) -> str:
        zoned = (entry.schedule.kind is ScheduleKind.CRON
                 and entry.schedule.timezone not in PLAIN_ZONES)
        return entry.schedule.timezone if zoned else ""

    ordered = sorted(items, key=lambda e: (zone_of(e), e.name))
    out = [HEADER]
    explained = False
    for entry in ordered:
        zoned = bool(zone_of(entry))
        out.append("")
        out.append(f"# {entry.name}: {entry.schedule.describe()}")
        out.append(crontab_line(entry.schedule, entry.command, explain_tz=zoned and not explained))
        explained = explained or zoned
    if explained:
        out += ["", "# keep these lines at the end of the crontab: CRON_TZ above applies to "
                    "every line below it"]
    return "\n".join(out) + "\n"
