"""systemd ``.service``/``.timer`` pairs that run configured imports (``schedule systemd``).

The cron alternative for hosts that run systemd: one oneshot service per import running
``ingestctl run NAME -q`` and a timer that starts it on the import's schedule.

Cron schedules become ``OnCalendar=`` lines with the same allowed values, in the schedule's
time zone (appended to the expression; ``local`` adds none). When both day-of-month and
day-of-week are restricted, cron runs on either day while systemd would need both, so the
timer gets two ``OnCalendar=`` lines, one per field. Intervals that divide a minute, an hour,
a day or a week become calendar steps anchored at midnight UTC, as the scheduler counts them
from the Unix epoch; any other interval becomes ``OnUnitActiveSec=`` (elapsed time since the
last start, with a comment that says so). Jitter becomes ``RandomizedDelaySec=``;
``Persistent=true`` runs a slot missed while the host was down once at boot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingestctl.scheduler.spec import LOCAL, CronField, Schedule, ScheduleKind
from ingestctl.units import format_duration

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
# Sandboxing every unit gets: the service reads and writes its home, and talks HTTP(S).
HARDENING = """NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=
UMask=0077"""


def _show(value: int, name: str) -> str:
    return _DAYS[value] if name == "day-of-week" else f"{value:02d}"


def _values(values: Iterable[int], name: str) -> str:
    """``01,03,05..09``: runs of three or more as ranges, days as names (``Mon..Fri``)."""
    ordered = sorted(values)
    parts: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start >= 2:
            parts.append(f"{_show(ordered[start], name)}..{_show(ordered[end], name)}")
        else:
            parts += [_show(v, name) for v in ordered[start:end + 1]]
        start = end + 1
    return ",".join(parts)


def _field(field: CronField) -> str:
    return "*" if field.full else _values(field.values, field.name)


def on_calendar(schedule: Schedule) -> list[str]:
    """The ``OnCalendar=`` expressions of a cron or evenly dividing interval schedule; empty
    when an interval needs ``OnUnitActiveSec=`` instead."""
    if schedule.kind is ScheduleKind.INTERVAL:
        step = schedule.interval
        if step < 60 and 60 % step == 0:
            return [f"*-*-* *:*:00/{step} UTC"]
        if step % 60 == 0 and step < 3600 and 3600 % step == 0:
            return [f"*-*-* *:00/{step // 60}:00 UTC"]
        if step % 3600 == 0 and step < 86400 and 86400 % step == 0:
            return [f"*-*-* 00/{step // 3600}:00:00 UTC"]
        if step == 86400:
            return ["*-*-* 00:00:00 UTC"]
        if step == 7 * 86400:
            return ["Thu *-*-* 00:00:00 UTC"]  # the Unix epoch was a Thursday
        return []
    minute, hour, day, month, dow = schedule.fields
    zone = "" if schedule.timezone == LOCAL else f" {schedule.timezone}"
    time = f"{_field(hour)}:{_field(minute)}:00"
    date = f"*-{_field(month)}-{_field(day)}"
    if schedule.either_day:
        return [f"*-{_field(month)}-{_field(day)} {time}{zone}",
                f"{_field(dow)} *-{_field(month)}-* {time}{zone}"]
    days = "" if dow.full else f"{_field(dow)} "
    return [f"{days}{date} {time}{zone}"]


@dataclass(frozen=True)
class UnitFile:
    """One unit file: its name and its text."""

    name: str
    text: str


def timer_lines(schedule: Schedule) -> list[str]:
    """The ``[Timer]`` lines that fire on ``schedule``."""
    lines = [f"# {schedule.describe()}"]
    calendars = on_calendar(schedule)
    if calendars:
        lines += [f"OnCalendar={expression}" for expression in calendars]
        lines += ["AccuracySec=1s", "# a slot missed while the host was down runs once at boot",
                  "Persistent=true"]
    else:
        lines += [f"# {format_duration(schedule.interval)} does not divide a minute, an hour or "
                  "a day: this timer counts from the last start, not from the Unix epoch as "
                  "`ingestctl scheduler` does",
                  "OnActiveSec=0", f"OnUnitActiveSec={schedule.interval}s", "AccuracySec=1s"]
    if schedule.jitter:
        lines.append(f"RandomizedDelaySec={schedule.jitter:g}s")
    return lines


def unit_pair(unit: str, description: str, command: str, schedule: Schedule, *,
              user: str | None, home: str) -> list[UnitFile]:
    """``UNIT.service`` (oneshot ``command``) and ``UNIT.timer`` (on ``schedule``); ``user``
    None makes units for a user manager (``systemctl --user``), without sandboxing."""
    service = ["[Unit]", f"Description={description}", "Wants=network-online.target",
               "After=network-online.target", "", "[Service]", "Type=oneshot"]
    if user is not None:
        service.append(f"User={user}")
    service += [f"Environment=INGESTCTL_HOME={home}", f"ExecStart={command}",
                "# 75: deferred (a retry is scheduled, or the import runs elsewhere)",
                "SuccessExitStatus=75"]
    if user is not None:  # a user manager cannot apply most of these
        service += ["# sandboxing: only the home directory (store, logs) is writable",
                    HARDENING, "ProtectHome=read-only", f"ReadWritePaths={home}"]
    timer = ["[Unit]", f"Description=Timer of {description}", "", "[Timer]",
             *timer_lines(schedule), f"Unit={unit}.service", "", "[Install]",
             "WantedBy=timers.target"]
    return [UnitFile(f"{unit}.service", "\n".join(service) + "\n"),
            UnitFile(f"{unit}.timer", "\n".join(timer) + "\n")]


def exec_line(words: list[str]) -> str:
    """``ExecStart=`` arguments: double-quoted where needed, ``%`` and ``$`` escaped (systemd
    expands specifiers and variables in them)."""
    out = []
    for word in words:
        text = word.replace("%", "%%").replace("$", "$$")
        if not text or any(c in text for c in " \t\"'\\;"):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(text)
    return " ".join(out)
