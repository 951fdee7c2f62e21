"""Search Console search analytics: the query body, paging until an empty page, and rows.

``POST {base}/webmasters/v3/sites/{siteUrl}/searchAnalytics/query`` on
searchconsole.googleapis.com (discovery document ``searchconsole.v1``). Every request asks
``dataState`` ALL; the answer's ``metadata.firstIncompleteDate`` tells which days are final.
Enum values are sent as the discovery document spells them (``WEB``, ``DATE``, ``ALL``).
Google documents that a page may hold fewer rows than ``rowLimit`` and that the last page is
an empty one ("until you reach the last page (a response with 0 rows)":
developers.google.com/webmaster-tools/v1/how-tos/all-your-data), so paging stops only there.
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
from ingestctl.sources.google.limits import SEARCH_CONSOLE
from ingestctl.sources.google.transport import CallOptions, call_json

MAX_ROW_LIMIT = 25000
# A first run imports four weeks: enough for a useful report without spending a day's quota.
FIRST_RUN_DAYS = 28
# Search Console keeps 16 months; asking for older dates returns nothing.
MAX_HISTORY_DAYS = 486
#: Google's JSON names of the search types and dimensions (discovery document enums).
API_TYPES = {"web": "WEB", "image": "IMAGE", "video": "VIDEO", "news": "NEWS",
             "discover": "DISCOVER", "googleNews": "GOOGLE_NEWS"}
API_DIMENSIONS = {"date": "DATE", "query": "QUERY", "page": "PAGE", "country": "COUNTRY",
                  "device": "DEVICE", "searchAppearance": "SEARCH_APPEARANCE"}
NO_PROPERTY_AGGREGATION = ("discover", "googleNews")
TOTALS = ("date",)


def set_key(dims: tuple[str, ...]) -> str:
    """How a dimension set is stored: ``"date,query,page,country,device"``."""
    return ",".join(dims)


def request_dimensions(dims: tuple[str, ...]) -> list[str]:
    """The ``dimensions`` sent: search appearance goes alone (its day is the request's)."""
    if "searchAppearance" in dims:
        return ["SEARCH_APPEARANCE"]
    return [API_DIMENSIONS[d] for d in dims]


def aggregation(dims: tuple[str, ...], search_type: str) -> str:
    """By property, as the Search Console UI totals, unless a page is grouped (not allowed)
    or the type is Discover or Google News (then Google chooses)."""
    if "page" in dims or search_type in NO_PROPERTY_AGGREGATION:
        return "AUTO"
    return "BY_PROPERTY"


@dataclass(frozen=True)
class AnalyticsRow:
    """One search analytics row of one dimension set; unused dimensions are ``""``."""

    date: str
    query: str
    page: str
    country: str
    device: str
    search_appearance: str
    clicks: float
    impressions: float
    ctr: float
    position: float | None

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """The natural key within a dimension set."""
        return (self.date, self.query, self.page, self.country, self.device,
                self.search_appearance)


@dataclass(frozen=True)
class AnalyticsPage:
    """One page of rows, the ``startRow`` that fetched it and the answer's metadata."""

    rows: list[AnalyticsRow]
    start_row: int
    first_incomplete: date | None

    @property
    def next_start_row(self) -> int:
        """The ``startRow`` of the following page: what the caller persists to resume."""
        return self.start_row + len(self.rows)


def query_url(base_url: str, site: str) -> str:
    """The searchAnalytics.query endpoint of ``site`` (URL-encoded, ``sc-domain:`` included)."""
    return (f"{base_url.rstrip('/')}/webmasters/v3/sites/{quote(site, safe='')}"
            "/searchAnalytics/query")


def query_body(start: date, end: date, dims: tuple[str, ...], search_type: str,
               row_limit: int, start_row: int) -> dict[str, Any]:
    """The request body of one page."""
    return {"startDate": start.isoformat(), "endDate": end.isoformat(),
            "dimensions": request_dimensions(dims), "type": API_TYPES[search_type],
            "aggregationType": aggregation(dims, search_type), "dataState": "ALL",
            "rowLimit": row_limit, "startRow": start_row}


def _number(value: Any, *, url: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"row {name} is not a number: {value!r}", url=url)
    return float(value)


def parse_row(item: Any, dims: tuple[str, ...], day: date | None, *, url: str) -> AnalyticsRow:
    """An AnalyticsRow from one element of ``rows``; ``day`` when the date is not a key."""
    sent = request_dimensions(dims)
    keys = item.get("keys", []) if isinstance(item, dict) else None
    if not isinstance(keys, list) or len(keys) != len(sent):
        raise DataError(f"row keys {keys!r} do not match dimensions {sent}", url=url)
    values = {name: str(key) for name, key in zip(sent, keys, strict=True)}
    when = values.get("DATE") or (day.isoformat() if day else "")
    if len(when) != 10:
        raise DataError(f"row without a date: {item!r}"[:200], url=url)
    position = item.get("position")
    return AnalyticsRow(
        date=when, query=values.get("QUERY", ""), page=values.get("PAGE", ""),
        country=values.get("COUNTRY", ""), device=values.get("DEVICE", ""),
        search_appearance=values.get("SEARCH_APPEARANCE", ""),
        clicks=_number(item.get("clicks", 0), url=url, name="clicks"),
        impressions=_number(item.get("impressions", 0), url=url, name="impressions"),
        ctr=_number(item.get("ctr", 0), url=url, name="ctr"),
        position=None if position is None else _number(position, url=url, name="position"))


def _first_incomplete(data: dict[str, Any], url: str) -> date | None:
    metadata = data.get("metadata")
    text = metadata.get("firstIncompleteDate") if isinstance(metadata, dict) else None
    if text is None:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        raise DataError(f"metadata.firstIncompleteDate is not a date: {text!r}",
                        url=url) from None


def iter_analytics_pages(
    client: httpx.Client,
    base_url: str,
    site: str,
    token_provider: TokenProvider,
    start: date,
    end: date,
    dims: tuple[str, ...],
    *,
    search_type: str = "web",
    row_limit: int = MAX_ROW_LIMIT,
    start_row: int = 0,
    options: CallOptions | None = None,
) -> Iterator[AnalyticsPage]:
    """Yield the pages of one query from ``start_row`` until Google answers an empty page."""
    opts = options or CallOptions()
    url = query_url(base_url, site)
    limit = max(1, min(row_limit, MAX_ROW_LIMIT))
    day = start if start == end else None
    row = start_row
    while True:
        data = call_json(client, "POST", url, token_provider, api=SEARCH_CONSOLE,
                         scopes={"site": site}, options=opts,
                         json_body=query_body(start, end, dims, search_type, limit, row))
        if not isinstance(data, dict):
            raise DataError("searchAnalytics answer is not a JSON object", url=url)
        items = data.get("rows") or []
        if not isinstance(items, list):
            raise DataError("rows is not a list", url=url)
        if not items:
            return
        page = AnalyticsPage([parse_row(i, dims, day, url=url) for i in items], row,
                             _first_incomplete(data, url))
        yield page
        row = page.next_start_row


@dataclass(frozen=True)
class Probe:
    """Property totals by date over a range: which days have data and which are final."""

    rows: dict[str, AnalyticsRow]
    first_incomplete: date | None
    end: date

    @property
    def last_final_day(self) -> date:
        """The day before the first incomplete one. Google sends ``firstIncompleteDate``
        whenever "the requested date range contains incomplete data points": without it,
        every day of the range is complete."""
        if self.first_incomplete is not None:
            return min(self.end, self.first_incomplete - timedelta(days=1))
        return self.end


def probe(client: httpx.Client, base_url: str, site: str, token_provider: TokenProvider,
          start: date, end: date, *, search_type: str,
          options: CallOptions | None = None) -> Probe:
    """Totals by date for ``start``..``end`` (Google's way to learn which days have data).

    ``end`` should be today or later, so the answer says where incomplete data begins.
    """
    rows: dict[str, AnalyticsRow] = {}
    incomplete: date | None = None
    for page in iter_analytics_pages(client, base_url, site, token_provider, start, end,
                                     TOTALS, search_type=search_type, options=options):
        for row in page.rows:
            rows[row.date] = row
        incomplete = page.first_incomplete or incomplete
    return Probe(rows, incomplete, end)


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
