"""Cron fire times computed on the wall clock, and the APScheduler trigger that uses them.

APScheduler 3's CronTrigger is not used for cron schedules: it numbers Monday 0, ANDs
day-of-month with day-of-week, fires a fixed time twice in the repeated fall-back hour, and in
that hour can even go backwards (``15,45 2 * * *`` in Europe/Berlin returns 02:15, 02:45,
02:15, ... which would keep its scheduler's misfire loop spinning). Here each local date that
matches is expanded into its wall times, and each wall time into instants by these rules
(Vixie cron's, except the gap, noted):

* normal time: one instant;
* repeated (fall-back) time: the first occurrence only when the schedule is *fixed-time*
  (neither minute nor hour begins with ``*``: ``30 2 * * *``); both occurrences otherwise
  (``*/30 * * * *`` keeps running every 30 minutes of elapsed time);
* missing (spring-forward) time: a fixed-time schedule runs once, shifted forward by the gap
  (02:30 in Europe/Berlin on the last Sunday of March runs at 03:30 CEST, the instant
  ``02:30+01:00`` names; Vixie cron would run it at 03:00); other schedules skip it, since
  their next slot comes soon anyway.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler.triggers.base import BaseTrigger

# Feb 29 of a leap year can be 8 years away (2096 -> 2104); beyond that nothing matches.
_SEARCH_DAYS = 366 * 9


@dataclass(frozen=True)
class CronTimes:
    """The values a cron expression allows (cron numbering: 0 is Sunday) in a time zone."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool
    fixed_time: bool
    zone: tzinfo
    expression: str = ""

    def day_matches(self, day: date) -> bool:
        """True when the schedule fires on this local date."""
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom or dow) if self.either_day else (dom and dow)

    def instants_on(self, day: date) -> list[datetime]:
        """The UTC instants the schedule fires at on this local date, sorted."""
        found: set[datetime] = set()
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime.combine(day, time(hour, minute))
                first = wall.replace(tzinfo=self.zone)
                second = wall.replace(tzinfo=self.zone, fold=1)
                before, after = first.utcoffset(), second.utcoffset()
                if before == after or self.fixed_time:
                    # fold=0 is the first occurrence of a repeated time and, for a missing
                    # one, the pre-transition offset, i.e. the wall time shifted by the gap.
                    found.add(first.astimezone(UTC))
                elif before is not None and after is not None and before > after:
                    found.update((first.astimezone(UTC), second.astimezone(UTC)))
        return sorted(found)

    def iter_fires(self, threshold: datetime, *, inclusive: bool = False) -> Iterator[datetime]:
        """Fire times after ``threshold`` (or at it, when inclusive), in order, in the zone."""
        limit = threshold.astimezone(UTC)
        # Start a day early: a gap-shifted time of yesterday may fall after the threshold.
        day = limit.astimezone(self.zone).date() - timedelta(days=1)
        idle = 0
        while idle < _SEARCH_DAYS:
            if day.month not in self.months:
                following = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                idle += (following - day).days
                day = following
                continue
            if self.day_matches(day):
                for instant in self.instants_on(day):
                    if instant > limit or (inclusive and instant == limit):
                        idle = 0
                        limit = instant
                        yield instant.astimezone(self.zone)
            day += timedelta(days=1)
            idle += 1


class CronScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """An APScheduler 3 trigger firing at the times of a :class:`CronTimes`, with jitter."""

    __slots__ = ("jitter", "times", "uniform")

    def __init__(self, times: CronTimes, jitter: float | None = None,
                 uniform: Callable[[float, float], float] | None = None) -> None:
        self.times = times
        self.jitter = jitter
        self.uniform = uniform

    @property
    def timezone(self) -> tzinfo:
        """The zone the cron fields are read in (APScheduler shows it)."""
        return self.times.zone

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        """The first fire time after ``previous_fire_time``, or at/after ``now`` if none."""
        if previous_fire_time is not None:
            fires = self.times.iter_fires(previous_fire_time)
        else:
            fires = self.times.iter_fires(now, inclusive=True)
        fire = next(fires, None)
        if fire is None or not self.jitter:
            return fire
        uniform = self.uniform or random.uniform
        return fire + timedelta(seconds=uniform(0, self.jitter))

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "times": self.times, "jitter": self.jitter}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.times = state["times"]
        self.jitter = state["jitter"]
        self.uniform = None

    def __str__(self) -> str:
        days = " (day-of-month or day-of-week)" if self.times.either_day else ""
        return f"cron[{self.times.expression}{days}, {self.times.zone}]"

    def __repr__(self) -> str:
        return f"<CronScheduleTrigger {self} jitter={self.jitter}>"

