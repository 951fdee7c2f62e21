"""Schedules of configured imports: five-field cron expressions and ``every N`` intervals.

Cron follows Vixie cron (cronie, Debian cron), not APScheduler 3, wherever the two differ:

* Day-of-week 0 and 7 are Sunday, 1 is Monday (APScheduler 3 numbers Monday 0).
* When day-of-month and day-of-week are both restricted, a day matches when EITHER matches
  (``0 0 1 * 1``: the 1st of the month and every Monday); APScheduler ANDs its fields. As in
  Vixie cron, a field counts as unrestricted when it begins with ``*`` -- so ``0 0 */2 * 1``
  means odd days that are Mondays (AND), a cron quirk kept so that ``schedule crontab`` means
  the same.
* Daylight saving (see :mod:`ingestctl.schedule.trigger`): a fixed time in the spring-forward
  gap runs once, shifted by the gap (``30 2 * * *`` in Europe/Berlin runs at 03:30 CEST on
  that day; Vixie cron would run it at 03:00); a fixed time in the repeated fall-back hour runs
  once, at its first occurrence (as Vixie cron does; bare APScheduler runs it twice). Schedules
  whose minute or hour begins with ``*`` follow elapsed time: they skip the missing hour and run
  in both copies of the repeated one.

Because of these and of APScheduler 3's daylight-saving bugs, cron schedules do not use its
CronTrigger: :class:`~ingestctl.scheduler.trigger.CronScheduleTrigger` (an APScheduler trigger)
computes fire times from the parsed values on the wall clock.

Intervals (``every 15m``) are elapsed time anchored at the Unix epoch: ``every 15m`` runs at
:00, :15, :30 and :45 UTC, ``every 1d`` at 00:00 UTC whatever the time zone (which then only
sets how times are shown). Use cron for wall-clock times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tzlocal import get_localzone  # APScheduler 3 depends on tzlocal

from ingestctl.errors import ConfigError
from ingestctl.scheduler.trigger import CronScheduleTrigger, CronTimes
from ingestctl.units import format_duration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOCAL = "local"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_INTERVAL = re.compile(r"^every\s+(\d+)\s*([a-z]+)$")
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_NUMBER = re.compile(r"^\d+$")


class ScheduleKind(StrEnum):
    """Whether a schedule is a cron expression or a fixed interval."""
    CRON = "cron"
    INTERVAL = "interval"


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, _MONTHS, 1),
    _FieldSpec("day-of-week", 0, 7, _DAYS, 0),
)


@dataclass(frozen=True)
class CronField:
    """One parsed cron field: its text, the values it allows and whether it begins with ``*``."""
    name: str
    text: str
    values: frozenset[int]
    star: bool
    portable: str

    @property
    def full(self) -> bool:
        """True when every value of the field is allowed."""
        spec = next(s for s in _FIELDS if s.name == self.name)
        top = 6 if self.name == "day-of-week" else spec.high
        return len(self.values) == top - spec.low + 1


class _Problem(Exception):
    """A parse problem, turned into a ConfigError naming the schedule by parse_schedule."""


def _value(spec: _FieldSpec, token: str, element: str) -> int:
    if _NUMBER.match(token):
        number = int(token)
    elif token.lower() in spec.names:
        number = spec.names.index(token.lower()) + spec.name_base
    else:
        allowed = f"a number {spec.low}-{spec.high}"
        if spec.names:
            allowed += f" or a name ({spec.names[0]}-{spec.names[-1]})"
        shown = f' in "{element}"' if token != element else ""
        raise _Problem(f'{spec.name} "{token}"{shown} is not {allowed}')
    if not spec.low <= number <= spec.high:
        raise _Problem(f"{spec.name} {number} is out of range {spec.low}-{spec.high}")
    return number


def _element(spec: _FieldSpec, element: str) -> tuple[list[int], str]:
    """The values of one list element, and its portable form (names written as numbers)."""
    base, slash, step_text = element.partition("/")
    if not base:
        raise _Problem(f'{spec.name} "{element}" is not a number, range, list or step')
    step = 1
    if slash:
        if not _NUMBER.match(step_text):
            raise _Problem(f'{spec.name} step "{step_text}" is not a whole number')
        step = int(step_text)
        if step < 1:
            raise _Problem(f"{spec.name} step 0 must be at least 1")
    if base == "*":
        low, high, portable = spec.low, spec.high, "*"
    else:
        first, dash, last = base.partition("-")
        low = _value(spec, first, element)
        high = _value(spec, last, element) if dash else low
        if dash and low > high:
            raise _Problem(f'{spec.name} range "{base}" goes backwards; write it as '
                           f"{low}-{spec.high},{spec.low}-{high}")
        if slash and not dash:
            raise _Problem(f'{spec.name} "{element}": a step needs a range or *; '
                           f"write {low}-{spec.high}/{step}")
        portable = f"{low}-{high}" if dash else str(low)
    if slash:
        portable += f"/{step}"
    return list(range(low, high + 1, step)), portable


def _field(spec: _FieldSpec, text: str) -> CronField:
    values: set[int] = set()
    portable: list[str] = []
    for element in text.split(","):
        numbers, written = _element(spec, element)
        values.update(numbers)
        portable.append(written)
    if spec.name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)
    return CronField(spec.name, text, frozenset(values), text.startswith("*"), ",".join(portable))


def _check_days(day: CronField, month: CronField) -> None:
    if min(day.values) > max(_MONTH_DAYS[m - 1] for m in month.values):
        months = ", ".join(_MONTHS[m - 1].capitalize() for m in sorted(month.values))
        raise _Problem(f"day-of-month {min(day.values)} never occurs in {months}")


def _parse_cron(text: str) -> tuple[CronField, ...]:
    parts = text.split()
    if len(parts) != 5:
        raise _Problem("expected five fields (minute hour day-of-month month day-of-week) or an "
                       f'interval such as "every 15m", found {len(parts)} '
                       f"field{'s' if len(parts) != 1 else ''}")
    fields = tuple(_field(spec, part) for spec, part in zip(_FIELDS, parts, strict=True))
    _check_days(fields[2], fields[3])
    return fields


def _parse_interval(text: str) -> int:
    match = _INTERVAL.match(text.lower())
    if not match:
        raise _Problem('expected an interval such as "every 15m", "every 2h", "every 30s" '
                       'or "every 1d"')
    count, unit = int(match.group(1)), match.group(2)
    if unit not in _UNITS:
        raise _Problem(f'unknown unit "{unit}" (expected s, m, h, d or w)')
    if count < 1:
        raise _Problem("an interval must be at least 1s")
    return count * _UNITS[unit]


def zone_named(name: str) -> tzinfo:
    """The time zone for an IANA name, ``UTC`` or ``local`` (the host's); ValueError if unknown."""
    if name == LOCAL:
        zone: tzinfo = get_localzone()
        return zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f'unknown time zone "{name}" (expected an IANA name such as '
                         '"Europe/Berlin", "UTC" or "local")') from None


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule with its time zone and jitter; builds APScheduler triggers."""
    text: str
    kind: ScheduleKind
    timezone: str
    zone: tzinfo = field(repr=False, compare=False)
    jitter: float = 0.0
    fields: tuple[CronField, ...] = ()
    interval: int = 0

    @property
    def cron_expression(self) -> str:
        """The five fields with names as numbers (portable to any cron); empty for intervals."""
        return " ".join(f.portable for f in self.fields)

    @property
    def either_day(self) -> bool:
        """True when day-of-month and day-of-week are both restricted, so either may match."""
        return bool(self.fields) and not (self.fields[2].star or self.fields[4].star)

    @property
    def fixed_time(self) -> bool:
        """True when neither minute nor hour begins with ``*`` (Vixie cron's fixed-time job)."""
        return bool(self.fields) and not (self.fields[0].star or self.fields[1].star)

    @property
    def cron_times(self) -> CronTimes:
        """The allowed values of a cron schedule, as the trigger reads them."""
        if not self.fields:
            raise ValueError(f"{self.text!r} is not a cron schedule")
        minute, hour, day, month, dow = self.fields
        return CronTimes(tuple(sorted(minute.values)), tuple(sorted(hour.values)), day.values,
                         month.values, dow.values, self.either_day, self.fixed_time, self.zone,
                         self.cron_expression)

    def trigger(self, uniform: Callable[[float, float], float] | None = None) -> BaseTrigger:
        """The APScheduler trigger, with zone and jitter (``uniform`` draws cron jitter)."""
        if self.kind is ScheduleKind.INTERVAL:
            return IntervalTrigger(seconds=self.interval, start_date=EPOCH, timezone=self.zone,
                                   jitter=self.jitter or None)
        return CronScheduleTrigger(self.cron_times, self.jitter or None, uniform)

    def next_runs(self, after: datetime, n: int = 1) -> list[datetime]:
        """The next ``n`` fire times strictly after ``after`` (aware, in the schedule's zone)."""
        return list(islice(self.iter_runs(after), n))

    def iter_runs(self, after: datetime) -> Iterator[datetime]:
        """Every fire time strictly after ``after``, in order, without jitter."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        if self.kind is ScheduleKind.CRON:
            return self.cron_times.iter_fires(after)
        return self._interval_runs(after)

    def _interval_runs(self, after: datetime) -> Iterator[datetime]:
        step = timedelta(seconds=self.interval)
        number = (after - EPOCH) // step + 1
        while True:
            yield (EPOCH + step * number).astimezone(self.zone)
            number += 1

    def next_run(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``."""
        runs = self.next_runs(after, 1)
        return runs[0] if runs else None

    def describe(self) -> str:
        """A one-line human description, e.g. ``cron "0 2 * * 1-5" (UTC): at 02:00, Mon-Fri``."""
        if self.kind is ScheduleKind.INTERVAL:
            text = f"every {format_duration(self.interval)} ({self.timezone})"
        else:
            text = f'cron "{self.text}" ({self.timezone})'
            gloss = _gloss(self.fields, self.either_day)
            if gloss:
                text += f": {gloss}"
        if self.jitter:
            text += f", jitter up to {format_duration(self.jitter)}"
        return text


def _runs_of(values: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for value in values:
        if spans and spans[-1][1] == value - 1:
            spans[-1] = (spans[-1][0], value)
        else:
            spans.append((value, value))
    return spans


def _names(values: frozenset[int], names: tuple[str, ...], base: int, monday: bool) -> str:
    ordered = sorted(values, key=lambda d: (d + 6) % 7) if monday else sorted(values)
    keyed = [(d + 6) % 7 if monday else d for d in ordered]
    parts = []
    for low, high in _runs_of(keyed):
        first = names[(low + 1) % 7 if monday else low - base].capitalize()
        last = names[(high + 1) % 7 if monday else high - base].capitalize()
        parts.append(first if low == high else f"{first}{'-' if high > low + 1 else ', '}{last}")
    return ", ".join(parts)


def _gloss(fields: tuple[CronField, ...], either_day: bool) -> str:
    minute, hour, day, month, dow = fields
    parts: list[str] = []
    if len(minute.values) == 1 and len(hour.values) == 1:
        parts.append(f"at {min(hour.values):02d}:{min(minute.values):02d}")
    elif len(minute.values) == 1 and hour.full:
        parts.append(f"at minute {min(minute.values)} of every hour")
    elif minute.full and hour.full:
        parts.append("every minute")
    else:
        return ""
    days = []
    if not day.full:
        days.append("day " + ",".join(f"{a}-{b}" if b > a else str(a)
                                      for a, b in _runs_of(sorted(day.values))))
    if not dow.full:
        days.append(_names(dow.values, _DAYS, 0, monday=True))
    if days:
        parts.append(" or ".join(days) if either_day else " and ".join(days))
    if not month.full:
        parts.append("in " + _names(month.values, _MONTHS, 1, monday=False))
    return ", ".join(parts)


def parse_schedule(
    text: str,
    timezone: str,
    jitter: float = 0,
    *,
    path: str | None = None,
    key: str | None = None,
) -> Schedule:
    """Parse a cron expression, ``@daily``-style shortcut or ``every N`` interval.

    Raises ConfigError naming what is wrong; ``path`` and ``key`` (e.g. ``imports[0]``) locate
    it in the config file, the offending setting (``.schedule``, ``.timezone``, ``.jitter``)
    being appended to ``key``.
    """
    def error(setting: str, problem: str) -> ConfigError:
        return ConfigError(problem, path=path, key=f"{key}.{setting}" if key else None)

    try:
        zone = zone_named(timezone)
    except ValueError as exc:
        raise error("timezone", str(exc)) from None
    if jitter < 0:
        raise error("jitter", f"jitter {jitter:g}s must not be negative")
    stripped = " ".join(text.split())
    try:
        if not stripped:
            raise _Problem('empty; expected a five-field cron expression or an interval such as '
                           '"every 15m"')
        if stripped.lower().startswith("every"):
            seconds = _parse_interval(stripped)
            return Schedule(text, ScheduleKind.INTERVAL, timezone, zone, float(jitter),
                            interval=seconds)
        if stripped.startswith("@"):
            macro = _MACROS.get(stripped.lower())
            if macro is None:
                raise _Problem(f"unknown shortcut {stripped} (expected "
                               f"{', '.join(sorted(set(_MACROS)))})")
            stripped = macro
        fields = _parse_cron(stripped)
    except _Problem as exc:
        raise error("schedule", f'schedule "{text}": {exc}') from None
    return Schedule(text, ScheduleKind.CRON, timezone, zone, float(jitter), fields)
