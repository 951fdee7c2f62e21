"""Search Console search analytics as the API documents them, computed from facts.

Facts are the finest grain (date, type, query, page, country, device, search appearance);
a query groups them by the requested dimensions, sums clicks and impressions, derives CTR and
the impression-weighted position, and sorts by clicks, descending, as the reference says.
``metadata.firstIncompleteDate`` is set as the ``Metadata`` schema describes it: only for
``dataState`` ALL, grouped by DATE, when the range holds incomplete data. Discover and Google
News rows carry no position and refuse a QUERY dimension ("queries and positions are not
supported by the Google Discover report ... if an unsupported dimension is requested, the API
will return an error message": Search Central blog, 2021-10-25).

Sources: developers.google.com/webmaster-tools/v1/searchanalytics/query,
developers.google.com/webmaster-tools/v1/how-tos/all-your-data, and the discovery document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

DIMENSION_FIELDS = {"DATE": "date", "QUERY": "query", "PAGE": "page", "COUNTRY": "country",
                    "DEVICE": "device", "SEARCH_APPEARANCE": "appearance"}
NO_QUERY_TYPES = ("DISCOVER", "GOOGLE_NEWS")
APPEARANCES = ("AMP_BLUE_LINK", "REVIEW_SNIPPET", "VIDEO")


@dataclass(frozen=True)
class Fact:
    """Clicks and impressions of one finest-grain cell."""

    date: str
    type: str
    query: str
    page: str
    country: str
    device: str
    appearance: str
    clicks: int
    impressions: int
    position: float


def facts(site_host: str, first: date, days: int, per_day: int, *, search_type: str = "WEB",
          appearances: bool = False, salt: str = "") -> list[Fact]:
    """``per_day`` distinct (query, page, country, device) cells on each of ``days`` days."""
    out = []
    for d in range(days):
        day = (first + timedelta(days=d)).isoformat()
        for i in range(per_day):
            out.append(Fact(
                date=day, type=search_type,
                query="" if search_type in NO_QUERY_TYPES else f"query {i}{salt}",
                page=f"https://{site_host}/p{i}{salt}", country=("usa", "deu")[i % 2],
                device=("DESKTOP", "MOBILE", "TABLET")[i % 3],
                appearance=APPEARANCES[i % 3] if appearances else "",
                clicks=(i * 7 + d) % 11, impressions=20 + i + d, position=1.0 + (i % 9)))
    return out


def rule_problem(body: dict[str, Any]) -> str | None:
    """Why the service refuses a body the discovery document allows; None when it does not."""
    kind = body.get("type") or body.get("searchType") or "WEB"
    if "type" in body and "searchType" in body and body["type"] != body["searchType"]:
        return "type and searchType disagree; use type"
    dims = body.get("dimensions") or []
    if len(set(dims)) != len(dims):
        return "A dimension was requested twice."
    if kind in NO_QUERY_TYPES and "QUERY" in dims:
        return f"Dimension QUERY is not supported for search type {kind}."
    if "HOUR" in dims and body.get("dataState") != "HOURLY_ALL":
        return "Grouping by HOUR requires dataState HOURLY_ALL."
    if "SEARCH_APPEARANCE" in dims and len(dims) > 1:
        return "Search appearance cannot be grouped with other dimensions."
    filtered = {f.get("dimension") for g in body.get("dimensionFilterGroups") or []
                for f in g.get("filters") or []}
    if body.get("aggregationType") == "BY_PROPERTY" and ("PAGE" in dims or "PAGE" in filtered):
        return "Cannot aggregate by property when grouping or filtering by page."
    return None


def _matches(fact: Fact, groups: list[dict[str, Any]]) -> bool:
    for group in groups:
        for flt in group.get("filters") or []:
            value = getattr(fact, DIMENSION_FIELDS[flt.get("dimension", "QUERY")])
            expr, op = str(flt.get("expression", "")), flt.get("operator", "EQUALS")
            ok = {"EQUALS": value.lower() == expr.lower(),
                  "NOT_EQUALS": value.lower() != expr.lower(),
                  "CONTAINS": expr.lower() in value.lower(),
                  "NOT_CONTAINS": expr.lower() not in value.lower(),
                  "INCLUDING_REGEX": re.search(expr, value) is not None,
                  "EXCLUDING_REGEX": re.search(expr, value) is None}[op]
            if not ok:
                return False
    return True


@dataclass
class Analytics:
    """The facts of every site, and which day is the first one still incomplete."""

    sites: dict[str, list[Fact]] = field(default_factory=dict)
    first_incomplete: date | None = None

    def query(self, site: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """Every row the query yields, sorted by clicks, and the firstIncompleteDate to show."""
        kind = body.get("type") or body.get("searchType") or "WEB"
        state = body.get("dataState") or "FINAL"
        start, end = body["startDate"], body["endDate"]
        dims = list(body.get("dimensions") or [])
        cut = self.first_incomplete.isoformat() if self.first_incomplete else None
        cells: dict[tuple[str, ...], list[Fact]] = defaultdict(list)
        for fact in self.sites.get(site, []):
            if fact.type != kind or not start <= fact.date <= end:
                continue
            if state == "FINAL" and cut is not None and fact.date >= cut:
                continue
            if not _matches(fact, body.get("dimensionFilterGroups") or []):
                continue
            cells[tuple(getattr(fact, DIMENSION_FIELDS[d]) for d in dims)].append(fact)
        rows = []
        for keys, group in cells.items():
            clicks = sum(f.clicks for f in group)
            impressions = sum(f.impressions for f in group)
            row: dict[str, Any] = {"clicks": clicks, "impressions": impressions,
                                   "ctr": clicks / impressions if impressions else 0.0}
            if keys:
                row["keys"] = list(keys)
            if kind not in NO_QUERY_TYPES:
                row["position"] = round(sum(f.position * f.impressions for f in group)
                                        / impressions, 4) if impressions else 0.0
            rows.append(row)
        rows.sort(key=lambda r: (-r["clicks"], r.get("keys", [])))
        incomplete = None
        if state == "ALL" and "DATE" in dims and cut is not None and \
                any(r["keys"][dims.index("DATE")] >= cut for r in rows):
            incomplete = cut
        return rows, incomplete
