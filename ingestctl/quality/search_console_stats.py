"""A streaming accumulator of Search Console quality counters: one cheap ``add`` per row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from ingestctl.quality.summaries import SearchConsoleSummary, keep_example

API_ROW_LIMIT = 50_000


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


class SearchConsoleStatsAccumulator:
    """Counts what the Search Console rules need while the importer streams rows.

    ``final_start``..``final_end`` is the part of the requested range whose data is final
    (days Google still revises are left out by the importer); every day in it should have rows.
    ``expected_days`` names those days one by one instead (an incremental load skips the days
    already final in the store). A row's day is ``day=``, else ``row["date"]``, else
    ``row["keys"][date_index]``; ``group`` (a dimension set) counts the rows a day has per
    request series, since Google's row limit applies to each.
    """

    def __init__(
        self,
        final_start: date | None = None,
        final_end: date | None = None,
        *,
        expected_days: Iterable[date] | None = None,
        date_index: int | None = 0,
        row_limit: int = API_ROW_LIMIT,
    ) -> None:
        self.expected = sorted(set(expected_days)) if expected_days is not None else None
        if self.expected:
            final_start, final_end = self.expected[0], self.expected[-1]
        self._summary = SearchConsoleSummary(final_start=final_start, final_end=final_end,
                                             row_limit=row_limit)
        self.date_index = date_index
        self._per_day: Counter[date] = Counter()
        self._per_group: Counter[tuple[date, str]] = Counter()

    def add(self, row: Mapping[str, Any], *, day: date | str | None = None,
            group: str = "") -> None:
        """Count one search-analytics row."""
        s = self._summary
        s.rows += 1
        when = _day(day if day is not None else self._row_day(row))
        if when is not None:
            self._per_day[when] += 1
            self._per_group[(when, group)] += 1
        clicks, impressions = _number(row.get("clicks")), _number(row.get("impressions"))
        label = f"{when or '?'} {row.get('keys', '')}"
        if clicks is not None and impressions is not None and clicks > impressions:
            s.clicks_above_impressions += 1
            keep_example(s.examples, "clicks_above_impressions_share",
                         f"{label}: {clicks:g} clicks, {impressions:g} impressions")
        ctr = _number(row.get("ctr"))
        if ctr is not None and not 0.0 <= ctr <= 1.0:
            s.ctr_out_of_range += 1
            keep_example(s.examples, "ctr_out_of_range_share", f"{label}: ctr {ctr:g}")
        position = _number(row.get("position"))
        if position is not None and position < 1.0:
            s.position_below_one += 1
            keep_example(s.examples, "position_below_one_share", f"{label}: position {position:g}")

    def summary(self) -> SearchConsoleSummary:
        """The counters, with the missing and truncated days worked out."""
        s = self._summary
        s.truncated_days = sorted({d for (d, _), n in self._per_group.items()
                                   if n == s.row_limit})
        s.missing_days = []
        s.final_days = 0
        if self.expected is not None:
            s.final_days = len(self.expected)
            s.missing_days = [d for d in self.expected if d not in self._per_day]
        elif s.final_start is not None and s.final_end is not None:
            day = s.final_start
            while day <= s.final_end:
                s.final_days += 1
                if day not in self._per_day:
                    s.missing_days.append(day)
                day += timedelta(days=1)
        return s

    def _row_day(self, row: Mapping[str, Any]) -> Any:
        if "date" in row:
            return row["date"]
        keys = row.get("keys")
        if self.date_index is not None and isinstance(keys, list | tuple) and \
                len(keys) > self.date_index:
            return keys[self.date_index]
        return None
