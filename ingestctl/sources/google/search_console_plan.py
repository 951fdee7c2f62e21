"""Which days a Search Console job loads, for which dimension sets, as final or provisional.

A plan starts from a probe (property totals by date over a range, ``dataState`` ALL): its
``metadata.firstIncompleteDate`` says which days are final, its rows which days have data
(Google's own advice for both: developers.google.com/webmaster-tools/v1/searchanalytics/query).
Days up to the last final day (the day before ``firstIncompleteDate``; without it, the whole
range is complete) are loaded as ``final``, later ones as ``all`` (provisional).

* Explicit dates load every day of the range.
* Incremental (no dates) loads the days not final in the store for every dimension set, from
  the first such day the store tracks up to the last final day (a first run: the last
  ``first_run_days`` final days), and, with ``provisional``, refreshes the days after it.

A day without data in the probe is recorded with 0 rows and needs no request of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ingestctl.sources.google.search_console_api import MAX_HISTORY_DAYS, Probe, days_between

#: How far before the first-run window the probe looks, so Google's 2-3 day lag (or a longer
#: one) still leaves ``first_run_days`` final days inside it.
PROBE_MARGIN_DAYS = 10
FINAL, PROVISIONAL = "final", "all"


@dataclass
class PlannedDay:
    """One day to load: its state and the dimension sets (keys) still to load for it."""

    day: str
    state: str
    sets: list[str]
    has_data: bool


@dataclass
class Plan:
    """The days a job loads, and the days whose data must be final and present."""

    days: list[PlannedDay] = field(default_factory=list)
    last_final_day: str | None = None

    @property
    def final_days(self) -> list[str]:
        """The days loaded as final: each should have rows (quality rule ``missing_days``)."""
        return [d.day for d in self.days if d.state == FINAL]

    def segments(self, totals_key: str) -> list[list[str]]:
        """(day, state, set key) of each request series; totals come from the probe itself."""
        return [[d.day, d.state, key] for d in self.days if d.has_data
                for key in d.sets if key != totals_key]

    def to_json(self) -> dict[str, Any]:
        """The plan as the job's cursor keeps it."""
        return {"last_final_day": self.last_final_day,
                "days": [[d.day, d.state, d.sets, d.has_data] for d in self.days]}


def probe_range(states: Mapping[str, Mapping[str, str]], keys: Sequence[str], today: date,
                first_run_days: int) -> tuple[date, date]:
    """The range the incremental probe covers: from the first day not final for every set."""
    oldest = today - timedelta(days=MAX_HISTORY_DAYS)
    tracked = sorted({day for key in keys for day in states.get(key, {})})
    start = today - timedelta(days=first_run_days + PROBE_MARGIN_DAYS)
    if tracked:
        first = max(date.fromisoformat(tracked[0]), oldest)
        start = next((d for d in days_between(first, today)
                      if not _final_everywhere(states, keys, d.isoformat())), today)
    return max(start, oldest), today


def _final_everywhere(states: Mapping[str, Mapping[str, str]], keys: Sequence[str],
                      day: str) -> bool:
    return all(states.get(key, {}).get(day) == FINAL for key in keys)


def explicit_plan(probe: Probe, start: date, end: date, keys: Sequence[str]) -> Plan:
    """Every day of ``start``..``end`` with data, or final; final up to the last final day."""
    last = probe.last_final_day
    plan = Plan(last_final_day=last.isoformat())
    for day in days_between(start, end):
        text = day.isoformat()
        final = day <= last
        if final or text in probe.rows:
            plan.days.append(PlannedDay(text, FINAL if final else PROVISIONAL, list(keys),
                                        text in probe.rows))
    return plan


def incremental_plan(probe: Probe, states: Mapping[str, Mapping[str, str]],
                     keys: Sequence[str], window: tuple[date, date], *, first_run_days: int,
                     provisional: bool) -> Plan:
    """The days not final in the store up to the last final day, then provisional days."""
    last = probe.last_final_day
    plan = Plan(last_final_day=last.isoformat())
    tracked = any(states.get(key) for key in keys)
    start = window[0] if tracked else max(window[0], last - timedelta(days=first_run_days - 1))
    for day in days_between(start, last):
        text = day.isoformat()
        missing = [k for k in keys if states.get(k, {}).get(text) != FINAL]
        if missing:
            plan.days.append(PlannedDay(text, FINAL, missing, text in probe.rows))
    if provisional:
        for day in days_between(last + timedelta(days=1), window[1]):
            if day.isoformat() in probe.rows:
                plan.days.append(PlannedDay(day.isoformat(), PROVISIONAL, list(keys), True))
    return plan
