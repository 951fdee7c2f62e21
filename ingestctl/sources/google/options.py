"""Options of the Google imports, checked before a job is created (usage errors, exit 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ingestctl.config import SEARCH_TYPES, parse_dimension_set
from ingestctl.errors import UsageError

#: The five dimensions of a detail row, and the property totals by date.
DEFAULT_DETAIL = "date,query,page,country,device"
TOTALS = ("date",)


@dataclass(frozen=True)
class SearchConsoleOptions:
    """What a Search Console job was asked for."""

    start_date: date | None
    end_date: date | None
    provisional: bool
    search_type: str
    dimension_sets: tuple[tuple[str, ...], ...]


def parse_day(value: Any, option: str) -> date:
    """A ``YYYY-MM-DD`` option value; anything else is a usage error naming the option."""
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


def dimension_sets(texts: Sequence[str], search_type: str) -> tuple[tuple[str, ...], ...]:
    """The dimension sets of an import: as given, else the five detail ones and the totals.

    Discover and Google News have no query dimension, so their default detail set lacks it.
    """
    if not texts:
        detail = parse_dimension_set(DEFAULT_DETAIL.replace(",query", "")
                                     if search_type in ("discover", "googleNews")
                                     else DEFAULT_DETAIL, search_type)
        return detail, TOTALS
    sets: list[tuple[str, ...]] = []
    for text in texts:
        try:
            dims = parse_dimension_set(text, search_type)
        except ValueError as exc:
            raise UsageError(f"--dimensions {exc}") from None
        if dims not in sets:
            sets.append(dims)
    return tuple(sets)


def search_console_options(options: Mapping[str, Any]) -> SearchConsoleOptions:
    """Validate a Search Console job's options: both dates or none, end not before start."""
    raw_start, raw_end = options.get("start_date"), options.get("end_date")
    start = parse_day(raw_start, "--start-date") if raw_start else None
    end = parse_day(raw_end, "--end-date") if raw_end else None
    if (start is None) != (end is None):
        raise UsageError("give both --start-date and --end-date, or neither "
                         "(then the days not final in the store are loaded)")
    if start is not None and end is not None and end < start:
        raise UsageError(f"--end-date {end.isoformat()} is before --start-date "
                         f"{start.isoformat()}")
    search_type = str(options.get("search_type") or "web")
    if search_type not in SEARCH_TYPES:
        raise UsageError(f"unknown search type {search_type!r}",
                         hint=f"one of {', '.join(SEARCH_TYPES)}")
    raw_sets = options.get("dimensions") or ()
    if isinstance(raw_sets, str):
        raw_sets = (raw_sets,)
    sets = dimension_sets([str(s) for s in raw_sets], search_type)
    return SearchConsoleOptions(start, end, bool(options.get("provisional")), search_type, sets)
