"""`ingestctl run` for Search Console imports as users run them, against the enforcing fake:
every import kind, paging through capped pages, the load quota, duplicate keys.

The CLI runs on the real clock, so the fake's data sits around today in California: final up
to three days ago, provisional since.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.sources.google.errors import PACIFIC
from ingestctl.store import Store
from tests.cli import invoke
from tests.fakes.google_apis import FakeGoogleApis, load_quota
from tests.fakes.search_console_data import Fact

SITE = "sc-domain:example.com"
TODAY = datetime.now(PACIFIC).date()
FIRST_INCOMPLETE = TODAY - timedelta(days=2)


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis()
    first = TODAY - timedelta(days=20)
    fake.add_search_data(SITE, first, 21, 12, appearances=True)
    fake.add_search_data(SITE, first, 21, 8, search_type="DISCOVER")
    fake.add_search_data(SITE, first, 21, 6, search_type="GOOGLE_NEWS")
    fake.analytics.first_incomplete = FIRST_INCOMPLETE
    with fake:
        yield fake
    assert fake.rejections == []


def env_of(apis: FakeGoogleApis, **extra: str) -> dict[str, str]:
    return {"INGESTCTL_GOOGLE__SEARCH_CONSOLE_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "GTOKEN",
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_FIRST_RUN_DAYS": "3",
            "INGESTCTL_RETRY__INITIAL_DELAY": "0s", "GTOKEN": "static-token", **extra}


def query(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with Store(home / "ingestctl.db") as store:
        return [tuple(r) for r in store.query(sql, params)]


def show(job_id: int) -> dict[str, Any]:
    result = invoke("jobs", "show", str(job_id), "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


KINDS = """
[[imports]]
name = "web"
source = "search-console"
site = "sc-domain:example.com"

[[imports]]
name = "discover"
source = "search-console"
site = "sc-domain:example.com"
search_type = "discover"

[[imports]]
name = "news"
source = "search-console"
site = "sc-domain:example.com"
search_type = "googleNews"
provisional = false

[[imports]]
name = "totals"
source = "search-console"
site = "sc-domain:example.com"
dimensions = ["date"]

[[imports]]
name = "appearance"
source = "search-console"
site = "sc-domain:example.com"
dimensions = ["searchAppearance", "date,country"]
"""


def test_every_import_kind_through_run(home: Path, tmp_path: Path,
                                       apis: FakeGoogleApis) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(KINDS)
    env = env_of(apis)
    # Scheduled (configured) imports are incremental and refresh provisional days: three
    # final days and the three after them, one request series per day and dimension set
    # (the five and the totals unless the import names its sets).
    expected = {"web": 6 * (12 + 1), "discover": 6 * (8 + 1), "news": 3 * (6 + 1),
                "totals": 6, "appearance": 6 * (3 + 2)}
    for name, items in expected.items():
        result = invoke("--config", str(config), "run", name, env=env)
        assert result.exit_code == 0, result.stderr
        job_id = list(expected).index(name) + 1
        assert result.stdout.startswith(f"job {job_id} completed: {items:,} rows from {SITE} "
                                        f"({name})")
        assert show(job_id)["quality"] == []  # clean data: every rule stays quiet
    rows = dict(((imp, kind, dims), n) for imp, kind, dims, n in query(
        home, "SELECT i.name, s.search_type, s.dimensions, count(*) FROM search_analytics s "
              "JOIN imports i ON i.id = s.import_id GROUP BY 1, 2, 3"))
    assert rows == {
        ("web", "web", "date,query,page,country,device"): 6 * 12,
        ("web", "web", "date"): 6,
        ("discover", "discover", "date,page,country,device"): 6 * 8,
        ("discover", "discover", "date"): 6,
        ("news", "googleNews", "date,page,country,device"): 3 * 6,
        ("news", "googleNews", "date"): 3,
        ("totals", "web", "date"): 6,
        ("appearance", "web", "date,searchAppearance"): 6 * 3,
        ("appearance", "web", "date,country"): 6 * 2}
    types = {(b["type"], tuple(b["dimensions"]), b["aggregationType"]) for b in apis.bodies}
    assert types == {
        ("WEB", ("DATE",), "BY_PROPERTY"),
        ("WEB", ("DATE", "QUERY", "PAGE", "COUNTRY", "DEVICE"), "AUTO"),
        ("DISCOVER", ("DATE",), "AUTO"), ("DISCOVER", ("DATE", "PAGE", "COUNTRY", "DEVICE"),
                                          "AUTO"),
        ("GOOGLE_NEWS", ("DATE",), "AUTO"),
        ("GOOGLE_NEWS", ("DATE", "PAGE", "COUNTRY", "DEVICE"), "AUTO"),
        ("WEB", ("SEARCH_APPEARANCE",), "BY_PROPERTY"),
        ("WEB", ("DATE", "COUNTRY"), "BY_PROPERTY")}
    # Property totals equal the sum of their detail rows, as Search Console's UI shows them.
    [(totals, details)] = query(
        home, "SELECT (SELECT sum(impressions) FROM search_analytics s JOIN imports i ON "
              "i.id = s.import_id WHERE i.name = 'totals'), (SELECT sum(impressions) FROM "
              "search_analytics s JOIN imports i ON i.id = s.import_id WHERE i.name = 'web' "
              "AND s.dimensions <> 'date')")
    assert totals == details
    # Discover and Google News have no position: stored as NULL, not a made-up 0.
    assert query(home, "SELECT count(*) FROM search_analytics WHERE search_type IN "
                       "('discover', 'googleNews') AND position IS NOT NULL") == [(0,)]
    states = query(home, "SELECT data_state, count(*) FROM search_console_days d JOIN imports "
                         "i ON i.id = d.import_id WHERE i.name = 'web' GROUP BY 1")
    assert dict(states) == {"final": 3 * 2, "all": 3 * 2}


def test_ad_hoc_runs_take_the_search_type_and_dimension_options(home: Path,
                                                                apis: FakeGoogleApis) -> None:
    start = (TODAY - timedelta(days=6)).isoformat()
    end = (TODAY - timedelta(days=4)).isoformat()
    result = invoke("run", "search-console", "--site", SITE, "--search-type", "discover",
                    "--dimensions", "country", "--dimensions", "page",
                    "--start-date", start, "--end-date", end, env=env_of(apis))
    assert result.exit_code == 0, result.stderr
    assert query(home, "SELECT dimensions, count(*) FROM search_analytics GROUP BY 1") == [
        ("date,country", 3 * 2), ("date,page", 3 * 8)]


def test_capped_pages_are_paged_to_the_end(home: Path, apis: FakeGoogleApis) -> None:
    apis.page_cap = 5  # fewer rows than rowLimit on every page: only an empty page ends
    day = (TODAY - timedelta(days=5)).isoformat()
    result = invoke("run", "search-console", "--site", SITE, "--start-date", day,
                    "--end-date", day, "--dimensions", "query,page,country,device",
                    env=env_of(apis))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"job 1 completed: 12 rows from {SITE}")
    asked = [b["startRow"] for b in apis.bodies if b["dimensions"] != ["DATE"]]
    assert asked == [0, 5, 10, 12]
    assert all(b["rowLimit"] == 25000 for b in apis.bodies)


def test_load_quota_exits_75_and_defers_15_minutes_without_a_dead_letter(
        home: Path, apis: FakeGoogleApis) -> None:
    apis.fail_next("search-console", *[load_quota()] * 20)
    before = datetime.now().astimezone()
    result = invoke("run", "search-console", "--site", SITE, env=env_of(apis))
    assert result.exit_code == 75
    assert result.stderr.startswith("ingestctl: error: job 1 deferred until ")
    assert ("(quota_exhausted: load quota exceeded: HTTP 429 RESOURCE_EXHAUSTED "
            "(quotaExceeded): Quota exceeded.; Google asks to wait 15 minutes") in result.stderr
    assert len(apis.bodies) == 1  # not retried: every retry would spend more load
    [job] = json.loads(invoke("jobs", "list", "--json").stdout)
    assert (job["status"], job["attempts"], job["error"]["class"]) == (
        "retrying", 0, "quota_exhausted")
    due = datetime.fromisoformat(job["next_attempt_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=15) - timedelta(seconds=1) <= due - before < timedelta(minutes=16)
    assert json.loads(invoke("dlq", "list", "--json").stdout) == []


def test_repeated_dimension_keys_while_paging_fire_duplicate_keys(home: Path,
                                                                  apis: FakeGoogleApis) -> None:
    day = (TODAY - timedelta(days=5)).isoformat()

    def new_top_row(body: dict[str, Any]) -> None:
        # Google's data moved between two pages: a new top row shifts every row down one.
        if body["startRow"] == 0 and body["dimensions"] != ["DATE"]:
            apis.analytics.sites[SITE].append(Fact(day, "WEB", "breaking", "https://"
                                                   "example.com/new", "usa", "MOBILE", "",
                                                   99, 120, 1.0))
            apis.after_page = None

    apis.after_page = new_top_row
    result = invoke("run", "search-console", "--site", SITE, "--start-date", day,
                    "--end-date", day, env=env_of(apis,
                                                  INGESTCTL_GOOGLE__SEARCH_CONSOLE_ROW_LIMIT="5"))
    assert result.exit_code == 0, result.stderr
    quality = show(1)["quality"]
    assert [(v["rule"], v["observed"]) for v in quality] == [("duplicate_keys", 1)]
    assert query(home, "SELECT count(*) FROM search_analytics WHERE dimensions <> 'date'") == [
        (12,)]


def test_the_first_incomplete_date_decides_what_is_final(home: Path,
                                                         apis: FakeGoogleApis) -> None:
    first = TODAY - timedelta(days=4)
    result = invoke("run", "search-console", "--site", SITE, "--start-date",
                    first.isoformat(), "--end-date", TODAY.isoformat(), env=env_of(apis))
    assert result.exit_code == 0, result.stderr
    states = query(home, "SELECT date, data_state FROM search_console_days WHERE "
                         "dimensions = 'date' ORDER BY date")
    assert states == [((first + timedelta(days=n)).isoformat(),
                       "final" if first + timedelta(days=n) < FIRST_INCOMPLETE else "all")
                      for n in range(5)]
    assert show(1)["result"]["last_final_day"] == (FIRST_INCOMPLETE - timedelta(days=1)
                                                   ).isoformat()


def test_a_configured_import_takes_a_date_range(home: Path, tmp_path: Path,
                                                apis: FakeGoogleApis) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(f'[[imports]]\nname = "gsc"\nsource = "search-console"\nsite = "{SITE}"\n')
    start, end = TODAY - timedelta(days=12), TODAY - timedelta(days=10)
    result = invoke("--config", str(config), "run", "gsc", "--start-date", start.isoformat(),
                    "--end-date", end.isoformat(), env=env_of(apis))
    assert result.exit_code == 0, result.stderr
    # One request series per day asked for, none outside the range (the probe aside).
    days = {b["startDate"] for b in apis.bodies if b["startDate"] == b["endDate"]}
    assert days == {(start + timedelta(days=n)).isoformat() for n in range(3)}
    assert show(1)["name"] == "gsc"
