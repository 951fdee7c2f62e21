"""Search Console analytics against the enforcing fake: request shape, paging, rows, probe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import parse_dimension_set
from ingestctl.errors import DataError, QuotaExhaustedError, RateLimitedError
from ingestctl.sources.google.auth import EnvTokenProvider
from ingestctl.sources.google.options import dimension_sets
from ingestctl.sources.google.search_console_api import (
    AnalyticsRow,
    iter_analytics_pages,
    probe,
    query_body,
    query_url,
)
from ingestctl.sources.google.transport import CallOptions
from tests.fakes.google_apis import (
    FakeGoogleApis,
    daily_quota_403,
    load_quota,
    minute_quota_failure,
)

SITE = "sc-domain:example.com"
STATIC = EnvTokenProvider("TOKEN", {"TOKEN": "static-token"})
DAY = date(2026, 1, 3)
DETAIL = ("date", "query", "page", "country", "device")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 10, tzinfo=UTC))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis()
    fake.add_search_data(SITE, date(2026, 1, 1), 7, 250)
    with fake:
        yield fake


def pages(apis: FakeGoogleApis, client: httpx.Client, clock: FakeClock, dims: tuple[str, ...]
          = DETAIL, **kwargs: object) -> list[list[AnalyticsRow]]:
    return [p.rows for p in iter_analytics_pages(
        client, apis.base, SITE, STATIC, DAY, DAY, dims, options=CallOptions(clock=clock),
        **kwargs)]  # type: ignore[arg-type]


def test_one_day_pages_until_an_empty_page(apis: FakeGoogleApis, client: httpx.Client,
                                           clock: FakeClock) -> None:
    got = pages(apis, client, clock, row_limit=100)
    assert [len(p) for p in got] == [100, 100, 50]
    assert [b["startRow"] for b in apis.bodies] == [0, 100, 200, 250]  # the last one is empty
    assert apis.server.paths() == [
        "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query"] * 4
    assert apis.bodies[0] == {
        "startDate": "2026-01-03", "endDate": "2026-01-03",
        "dimensions": ["DATE", "QUERY", "PAGE", "COUNTRY", "DEVICE"], "type": "WEB",
        "aggregationType": "AUTO", "dataState": "ALL", "rowLimit": 100, "startRow": 0}
    assert len({r.key for p in got for r in p}) == 250


def test_short_pages_capped_by_the_server_do_not_end_paging(
        apis: FakeGoogleApis, client: httpx.Client, clock: FakeClock) -> None:
    apis.page_cap = 40  # the server answers fewer rows than rowLimit: not the end
    got = pages(apis, client, clock, row_limit=25000)
    assert [len(p) for p in got] == [40] * 6 + [10]
    assert [b["startRow"] for b in apis.bodies] == [0, 40, 80, 120, 160, 200, 240, 250]
    assert sum(len(p) for p in got) == 250


def test_row_fields_and_the_empty_query_of_other_sets(apis: FakeGoogleApis,
                                                      client: httpx.Client,
                                                      clock: FakeClock) -> None:
    got = pages(apis, client, clock)
    assert got[0][0].clicks == 10.0  # sorted by clicks, descending
    [row] = [r for p in got for r in p if r.query == "query 9"]
    assert (row.date, row.query, row.page, row.country, row.device, row.search_appearance) == (
        "2026-01-03", "query 9", "https://example.com/p9", "deu", "DESKTOP", "")
    assert (row.clicks, row.impressions, row.position) == (10.0, 31.0, 1.0)
    assert row.ctr == pytest.approx(10 / 31)
    totals = pages(apis, client, clock, ("date",))
    assert [(r.date, r.query, r.page) for r in totals[0]] == [("2026-01-03", "", "")]
    assert apis.bodies[-1]["aggregationType"] == "BY_PROPERTY"


def test_search_appearance_is_asked_alone_and_dated_by_the_request(
        client: httpx.Client, clock: FakeClock) -> None:
    fake = FakeGoogleApis()
    fake.add_search_data(SITE, DAY, 1, 9, appearances=True)
    with fake:
        got = pages(fake, client, clock, ("date", "searchAppearance"))
    assert fake.bodies[0]["dimensions"] == ["SEARCH_APPEARANCE"]
    assert sorted((r.date, r.search_appearance, r.impressions) for r in got[0]) == [
        ("2026-01-03", "AMP_BLUE_LINK", 69.0), ("2026-01-03", "REVIEW_SNIPPET", 72.0),
        ("2026-01-03", "VIDEO", 75.0)]


@pytest.mark.parametrize(("search_type", "api_type", "dims"), [
    ("discover", "DISCOVER", ["DATE", "PAGE", "COUNTRY", "DEVICE"]),
    ("googleNews", "GOOGLE_NEWS", ["DATE", "PAGE", "COUNTRY", "DEVICE"]),
    ("news", "NEWS", ["DATE", "QUERY", "PAGE", "COUNTRY", "DEVICE"]),
])
def test_each_type_gets_its_default_dimensions(client: httpx.Client, clock: FakeClock,
                                               search_type: str, api_type: str,
                                               dims: list[str]) -> None:
    fake = FakeGoogleApis()
    fake.add_search_data(SITE, DAY, 1, 12, search_type=api_type)
    detail, totals = dimension_sets([], search_type)
    with fake:
        got = pages(fake, client, clock, detail, search_type=search_type)
        pages(fake, client, clock, totals, search_type=search_type)
    assert (fake.bodies[0]["type"], fake.bodies[0]["dimensions"]) == (api_type, dims)
    assert len(got[0]) == 12 and fake.rejections == []
    no_position = search_type in ("discover", "googleNews")
    assert all((r.position is None) == no_position for r in got[0])
    # Google News and Discover totals let Google aggregate: BY_PROPERTY is for search.
    assert fake.bodies[-2]["aggregationType"] == ("AUTO" if no_position else "BY_PROPERTY")


def test_dimension_sets_follow_googles_rules() -> None:
    assert parse_dimension_set("page,date", "web") == ("date", "page")
    assert parse_dimension_set("", "web") == ("date",)
    with pytest.raises(ValueError, match="no query dimension"):
        parse_dimension_set("query", "discover")
    with pytest.raises(ValueError, match="searchAppearance is grouped alone"):
        parse_dimension_set("searchAppearance,page", "web")
    with pytest.raises(ValueError, match="unknown dimension 'hour'"):
        parse_dimension_set("hour", "web")


def test_probe_reads_days_with_data_and_the_first_incomplete_day(
        apis: FakeGoogleApis, client: httpx.Client, clock: FakeClock) -> None:
    apis.analytics.first_incomplete = date(2026, 1, 6)
    found = probe(client, apis.base, SITE, STATIC, date(2025, 12, 28), date(2026, 1, 10),
                  search_type="web", options=CallOptions(clock=clock))
    assert sorted(found.rows) == [f"2026-01-0{d}" for d in range(1, 8)]
    assert (found.first_incomplete, found.last_final_day) == (date(2026, 1, 6),
                                                              date(2026, 1, 5))
    assert apis.bodies[0]["dimensions"] == ["DATE"] and apis.bodies[0]["dataState"] == "ALL"
    apis.analytics.first_incomplete = None
    found = probe(client, apis.base, SITE, STATIC, date(2026, 1, 2), date(2026, 1, 3),
                  search_type="web", options=CallOptions(clock=clock))
    assert found.last_final_day == date(2026, 1, 3)


def test_quota_errors_by_what_the_body_names(apis: FakeGoogleApis, client: httpx.Client,
                                             clock: FakeClock) -> None:
    load = CallOptions(clock=clock, load_quota=timedelta(minutes=15))
    apis.fail_next("search-console", load_quota())
    with pytest.raises(QuotaExhaustedError, match="load quota exceeded") as info:
        list(iter_analytics_pages(client, apis.base, SITE, STATIC, DAY, DAY, DETAIL,
                                  options=load))
    assert info.value.reset_at == datetime(2026, 1, 10, 0, 15, tzinfo=UTC)
    apis.fail_next("search-console", minute_quota_failure())
    with pytest.raises(RateLimitedError):
        list(iter_analytics_pages(client, apis.base, SITE, STATIC, DAY, DAY, DETAIL,
                                  options=load))
    apis.fail_next("search-console", daily_quota_403())
    with pytest.raises(QuotaExhaustedError, match="daily quota") as daily:
        list(iter_analytics_pages(client, apis.base, SITE, STATIC, DAY, DAY, DETAIL,
                                  options=load))
    assert daily.value.reset_at == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def test_rows_that_break_the_dimensions_are_data_errors() -> None:
    from ingestctl.sources.google.search_console_api import parse_row

    with pytest.raises(DataError, match="do not match"):
        parse_row({"keys": ["2026-01-01"]}, DETAIL, None, url="u")
    with pytest.raises(DataError, match="not a number"):
        parse_row({"keys": ["2026-01-01"], "clicks": "7"}, ("date",), None, url="u")


def test_url_and_body_spell_googles_names() -> None:
    assert query_url("http://h/", "https://www.example.com/") == (
        "http://h/webmasters/v3/sites/https%3A%2F%2Fwww.example.com%2F/searchAnalytics/query")
    body = query_body(DAY, DAY, ("date", "searchAppearance"), "googleNews", 10, 5)
    assert (body["type"], body["dimensions"], body["aggregationType"]) == (
        "GOOGLE_NEWS", ["SEARCH_APPEARANCE"], "AUTO")
