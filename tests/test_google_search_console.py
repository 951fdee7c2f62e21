"""Search Console analytics: request shape, startRow paging, faults, resume and date ranges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from ingestctl.clock import FakeClock
from ingestctl.errors import (
    DataError,
    QuotaExhaustedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from ingestctl.sources.google.auth import EnvTokenProvider
from ingestctl.sources.google.search_console import (
    AnalyticsRow,
    default_range,
    dimensions_for,
    iter_analytics_pages,
    provisional_range,
    query_url,
)
from ingestctl.sources.google.transport import CallOptions
from tests.fakes.google_apis import (
    FakeGoogleApis,
    daily_quota_403,
    rate_limited,
    server_error,
)
from tests.httpserver import Response

SITE = "sc-domain:example.com"
STATIC = EnvTokenProvider("TOKEN", {"TOKEN": "static-token"})
START, END = date(2026, 1, 1), date(2026, 1, 7)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 10, tzinfo=UTC))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


class Importer:
    """Stands in for the runner: upserts rows on their key, persists the next startRow."""

    def __init__(self, apis: FakeGoogleApis, client: httpx.Client, clock: FakeClock,
                 row_limit: int = 100) -> None:
        self.apis, self.client, self.clock, self.row_limit = apis, client, clock, row_limit
        self.store: dict[tuple[str, ...], AnalyticsRow] = {}
        self.received = 0
        self.start_row = 0
        self.done = False

    def run(self) -> None:
        for page in iter_analytics_pages(self.client, self.apis.base, SITE, STATIC, START, END,
                                         row_limit=self.row_limit, start_row=self.start_row,
                                         options=CallOptions(clock=self.clock)):
            assert page.start_row == self.start_row
            for row in page.rows:
                self.store[row.key] = row
            self.received += len(page.rows)
            self.start_row = page.next_start_row
        self.done = True


def test_pages_until_a_short_page(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(rows=250)
    with apis.server:
        imp = Importer(apis, client, clock)
        imp.run()
    assert len(imp.store) == 250 and imp.received == 250
    assert [b["startRow"] for b in apis.bodies] == [0, 100, 200]
    path = "/webmasters/v3/sites/sc-domain%3Aexample.com/searchAnalytics/query"
    assert apis.server.paths() == [path] * 3
    assert apis.bodies[0] == {
        "startDate": "2026-01-01", "endDate": "2026-01-07",
        "dimensions": ["date", "query", "page", "country", "device"], "type": "web",
        "dataState": "final", "rowLimit": 100, "startRow": 0}
    assert apis.server.requests[0].headers["content-type"] == "application/json"


def test_exact_multiple_stops_on_the_empty_page(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(rows=200)
    with apis.server:
        imp = Importer(apis, client, clock)
        imp.run()
    assert imp.received == 200
    assert [b["startRow"] for b in apis.bodies] == [0, 100, 200]


def test_row_fields(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(rows=3)
    with apis.server:
        pages = list(iter_analytics_pages(client, apis.base, SITE, STATIC, START, END,
                                          data_state="all", search_type="image",
                                          options=CallOptions(clock=clock)))
    assert apis.bodies[0]["rowLimit"] == 25000 and apis.bodies[0]["type"] == "image"
    row = pages[0].rows[1]
    assert row == AnalyticsRow(date="2026-01-02", query="query 1", page="example.com/p1",
                               country="usa", device="DESKTOP", search_type="image",
                               clicks=1.0, impressions=11.0, ctr=1 / 11, position=2.5,
                               data_state="all")


@pytest.mark.parametrize(("fault", "error_class"), [
    (rate_limited(retry_after=7, retry_delay="42s"), RateLimitedError),
    (server_error(503), TransientError),
    (Response(200, b'{"rows": [{"keys": ', {"Content-Type": "application/json"}), DataError),
])
def test_fault_mid_paging_resumes_from_failed_row(client: httpx.Client, clock: FakeClock,
                                                  fault: Response,
                                                  error_class: type[SourceError]) -> None:
    apis = FakeGoogleApis(rows=450)
    apis.fail("search-console", 2, fault)
    errors: list[SourceError] = []
    with apis.server:
        imp = Importer(apis, client, clock)
        while not imp.done:
            try:
                imp.run()
            except SourceError as exc:
                errors.append(exc)
                assert imp.start_row == 200
    assert [type(e) for e in errors] == [error_class]
    assert imp.received == 450 and len(imp.store) == 450
    assert [b["startRow"] for b in apis.bodies] == [0, 100, 200, 200, 300, 400]
    if error_class is RateLimitedError:
        assert errors[0].retry_after == 42.0  # type: ignore[attr-defined]


def test_daily_quota_403_defers_to_pacific_midnight(client: httpx.Client,
                                                    clock: FakeClock) -> None:
    apis = FakeGoogleApis(rows=150)
    apis.fail("search-console", 1, daily_quota_403())
    with apis.server:
        imp = Importer(apis, client, clock)
        with pytest.raises(QuotaExhaustedError) as info:
            imp.run()
    # 2026-01-10T00:00Z is 16:00 on the 9th in Los Angeles; the quota resets at 08:00Z.
    assert info.value.reset_at == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert imp.received == 100 and imp.start_row == 100


def test_discover_has_no_query_dimension() -> None:
    assert dimensions_for("discover") == ["date", "page", "country", "device"]
    assert dimensions_for("web") == ["date", "query", "page", "country", "device"]


def test_site_is_url_encoded() -> None:
    assert query_url("http://h/", "https://www.example.com/") == (
        "http://h/webmasters/v3/sites/https%3A%2F%2Fwww.example.com%2F/searchAnalytics/query")


def test_invalid_data_state_is_refused(client: httpx.Client) -> None:
    with pytest.raises(ValueError, match="data_state"):
        next(iter_analytics_pages(client, "http://127.0.0.1:9", SITE, STATIC, START, END,
                                  data_state="fresh"))


TODAY = date(2026, 3, 10)


def test_default_range_first_run_is_28_final_days() -> None:
    assert default_range(None, TODAY) == (date(2026, 2, 8), date(2026, 3, 7))  # 28 days
    assert default_range(None, TODAY, first_run_days=7) == (date(2026, 3, 1), date(2026, 3, 7))


def test_default_range_continues_after_the_last_final_day() -> None:
    assert default_range(date(2026, 3, 1), TODAY) == (date(2026, 3, 2), date(2026, 3, 7))
    assert default_range(date(2026, 3, 6), TODAY) == (date(2026, 3, 7), date(2026, 3, 7))
    assert default_range(date(2026, 3, 7), TODAY) is None
    assert default_range(date(2026, 3, 9), TODAY) is None


def test_default_range_is_clamped_to_sixteen_months() -> None:
    assert default_range(date(2020, 1, 1), TODAY) == (date(2024, 11, 9), date(2026, 3, 7))


def test_provisional_range_covers_the_days_not_final_yet() -> None:
    assert provisional_range(TODAY) == (date(2026, 3, 8), date(2026, 3, 10))
    final_end = default_range(None, TODAY)
    assert final_end is not None
    assert (provisional_range(TODAY)[0] - final_end[1]).days == 1


def test_request_body_is_json(client: httpx.Client, clock: FakeClock) -> None:
    apis = FakeGoogleApis(rows=1)
    with apis.server:
        list(iter_analytics_pages(client, apis.base, SITE, STATIC, START, END,
                                  options=CallOptions(clock=clock)))
    assert json.loads(apis.server.requests[0].body)["startRow"] == 0
