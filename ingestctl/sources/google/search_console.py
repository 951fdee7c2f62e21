"""Search Console search analytics: date ranges to import and ``startRow`` paging.

Rows are keyed by (date, query, page, country, device, search type). Final data lags about
two to three days; :func:`default_range` imports final days only, :func:`provisional_range`
the recent days with ``dataState=all`` that later final runs replace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from ingestctl.errors import DataError
from ingestctl.sources.google.auth import TokenProvider
from ingestctl.sources.google.quota import SEARCH_CONSOLE
from ingestctl.sources.google.transport import CallOptions, call_json

DIMENSIONS = ("date", "query", "page", "country", "device")
MAX_ROW_LIMIT = 25000
FINAL_LAG_DAYS = 3
# A first run imports four weeks: enough for a useful report without spending a day's quota.
FIRST_RUN_DAYS = 28
# Search Console keeps 16 months; asking for older dates returns nothing.
MAX_HISTORY_DAYS = 486
SEARCH_TYPES = ("web", "image", "video", "news", "discover", "googleNews")
DATA_STATES = ("final", "all")


@dataclass(frozen=True)
class AnalyticsRow:
    """One search analytics row."""

    date: str
    query: str
    page: str
    country: str
    device: str
    search_type: str
    clicks: float
    impressions: float
    ctr: float
    position: float
    data_state: str

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The natural key the store upserts on."""
        return (self.date, self.query, self.page, self.country, self.device, self.search_type)


@dataclass(frozen=True)
class AnalyticsPage:
    """One page of rows and the ``startRow`` that fetched it."""

    rows: list[AnalyticsRow]
    start_row: int

    @property
    def next_start_row(self) -> int:
        """The ``startRow`` of the following page: what the caller persists to resume."""
        return self.start_row + len(self.rows)


def default_range(last_final_day: date | None, today: date, *,
                  first_run_days: int = FIRST_RUN_DAYS) -> tuple[date, date] | None:
    """Final days still to import: after ``last_final_day`` up to three days ago; None if none."""
    end = today - timedelta(days=FINAL_LAG_DAYS)
    oldest = today - timedelta(days=MAX_HISTORY_DAYS)
    if last_final_day is None:
        start = end - timedelta(days=first_run_days - 1)
    else:
        start = last_final_day + timedelta(days=1)
    start = max(start, oldest)
    return (start, end) if start <= end else None


def provisional_range(today: date) -> tuple[date, date]:
    """The recent days not final yet, loaded with ``dataState=all`` and replaced later."""
    return today - timedelta(days=FINAL_LAG_DAYS - 1), today


def query_url(base_url: str, site: str) -> str:
    """The searchAnalytics.query endpoint of ``site`` (URL-encoded, ``sc-domain:`` included)."""
    return (f"{base_url.rstrip('/')}/webmasters/v3/sites/{quote(site, safe='')}"
            "/searchAnalytics/query")


def dimensions_for(search_type: str) -> list[str]:
    """Discover and Google News have no query dimension."""
    if search_type in ("discover", "googleNews"):
        return [d for d in DIMENSIONS if d != "query"]
    return list(DIMENSIONS)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def parse_row(item: Any, dimensions: list[str], search_type: str, data_state: str, *,
              url: str) -> AnalyticsRow:
    """An AnalyticsRow from one element of ``rows``."""
    keys = item.get("keys") if isinstance(item, dict) else None
    if not isinstance(keys, list) or len(keys) != len(dimensions):
        raise DataError(f"row keys do not match dimensions {dimensions}", url=url)
    values = dict(zip(dimensions, (str(k) for k in keys), strict=True))
    return AnalyticsRow(
        date=values["date"], query=values.get("query", ""), page=values["page"],
        country=values["country"], device=values["device"], search_type=search_type,
        clicks=_number(item.get("clicks")), impressions=_number(item.get("impressions")),
        ctr=_number(item.get("ctr")), position=_number(item.get("position")),
        data_state=data_state)


def iter_analytics_pages(
    client: httpx.Client,
    base_url: str,
    site: str,
    token_provider: TokenProvider,
    start_date: date,
    end_date: date,
    *,
    search_type: str = "web",
    data_state: str = "final",
    row_limit: int = MAX_ROW_LIMIT,
    start_row: int = 0,
    options: CallOptions | None = None,
) -> Iterator[AnalyticsPage]:
    """Yield pages of rows from ``start_row`` until an empty or short page."""
    if data_state not in DATA_STATES:
        raise ValueError(f"data_state must be one of {DATA_STATES}")
    opts = options or CallOptions()
    url = query_url(base_url, site)
    dimensions = dimensions_for(search_type)
    limit = max(1, min(row_limit, MAX_ROW_LIMIT))
    row = start_row
    while True:
        body = {"startDate": start_date.isoformat(), "endDate": end_date.isoformat(),
                "dimensions": dimensions, "type": search_type, "dataState": data_state,
                "rowLimit": limit, "startRow": row}
        data = call_json(client, "POST", url, token_provider, api=SEARCH_CONSOLE,
                         scopes={"site": site}, options=opts, json_body=body)
        if not isinstance(data, dict):
            raise DataError("searchAnalytics answer is not a JSON object", url=url)
        items = data.get("rows") or []
        if not isinstance(items, list):
            raise DataError("rows is not a list", url=url)
        rows = [parse_row(i, dimensions, search_type, data_state, url=url) for i in items]
        if not rows:
            return
        page = AnalyticsPage(rows, row)
        yield page
        if len(rows) < limit:
            return
        row = page.next_start_row
