"""Every rule of the rule table fires on data that breaks it and stays quiet on clean data,
through `ingestctl run` as a process: sitemaps from a local server, Merchant products and
Search Console rows from the fake Google APIs (tests/fakes/).

A last test checks that the cases below cover the whole rule table, so a new rule without an
end-to-end case fails the suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.quality.catalog import DEFAULT_RULES
from ingestctl.sources.google.errors import PACIFIC
from tests.cli import rows, run_cli
from tests.fakes.google_apis import JSON, FakeGoogleApis
from tests.fakes.search_console_data import Fact
from tests.httpserver import LocalServer, Request, Response

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(entries: list[tuple[str, str | None]]) -> bytes:
    body = "".join(f"<url><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "")
                   + "</url>" for loc, mod in entries)
    return f'<?xml version="1.0"?><urlset {NS}>{body}</urlset>'.encode()


def sitemapindex(locs: list[str]) -> bytes:
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{body}</sitemapindex>'.encode()


def pages(base: str, n: int, directory: str = "/", first: int = 0) -> list[tuple[str, str | None]]:
    """``n`` in-scope URLs with lastmods that differ."""
    return [(f"{base}{directory}p{i}", f"2026-01-{1 + i % 28:02d}") for i in range(first,
                                                                                   first + n)]


class Site:
    """A local server answering from ``files`` (path -> bytes), built per test from its base."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.server = LocalServer(self.handle)

    @property
    def base(self) -> str:
        return self.server.base

    def handle(self, req: Request) -> Response:
        body = self.files.get(req.path.split("?")[0])
        return Response(200, body) if body is not None else Response(404, b"not found")


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    with served.server:
        yield served


def run(home: Path, *args: str, config: str = "", **env: str) -> tuple[int, list[str]]:
    """`ingestctl run ARGS` as a process: its exit code and the rules its job broke."""
    path = home.parent / "ingestctl.toml"
    path.write_text(config)
    proc = run_cli(home, "--config", str(path), "run", *args, **env)
    assert proc.returncode in (0, 1), proc.stderr
    [(result,)] = rows(home, "SELECT result FROM jobs ORDER BY id DESC LIMIT 1")
    violations = json.loads(str(result)).get("quality", [])
    return proc.returncode, [v["rule"] for v in violations]


# -- sitemaps ---------------------------------------------------------------------------------

Build = Callable[[Site], str]


def _single(entries: Callable[[str], list[tuple[str, str | None]]],
            path: str = "/sitemap.xml") -> Build:
    def build(site: Site) -> str:
        site.files[path] = urlset(entries(site.base))
        return site.base + path
    return build


def _index(children: dict[str, bytes | None]) -> Build:
    def build(site: Site) -> str:
        site.files["/index.xml"] = sitemapindex([site.base + name for name in children])
        for name, body in children.items():
            if body is not None:
                site.files[name] = body
        return site.base + "/index.xml"
    return build


def _robots(named: list[str], index_lists: list[str]) -> Build:
    def build(site: Site) -> str:
        site.files["/robots.txt"] = "".join(f"Sitemap: {site.base}{n}\n" for n in named).encode()
        site.files["/index.xml"] = sitemapindex([site.base + n for n in index_lists])
        for n, name in enumerate(set(named + index_lists) - {"/index.xml"}):
            site.files[name] = urlset(pages(site.base, 5, first=10 * n))
        return site.base + "/robots.txt"
    return build


SITEMAP_CASES: dict[str, tuple[Build, str]] = {
    "invalid_url_share": (_single(lambda b: [*pages(b, 48), ("not a url", None),
                                             ("ftp://x.example/f", None)]), ""),
    "unparseable_lastmod_share": (_single(lambda b: [*pages(b, 48), (f"{b}/x", "yesterday"),
                                                     (f"{b}/y", "2026-13-45")]), ""),
    "future_lastmod_share": (_single(lambda b: [*pages(b, 48), (f"{b}/x", "2099-01-01")]), ""),
    "same_lastmod": (_single(lambda b: [(f"{b}/p{i}", "2026-02-01") for i in range(12)]), ""),
    "off_host_url_share": (_single(lambda b: [*pages(b, 9), ("https://elsewhere.example/x",
                                                             "2026-01-05")]), ""),
    "outside_path_url_share": (_single(lambda b: [*pages(b, 9, "/shop/"),
                                                  (f"{b}/blog/x", "2026-01-05")],
                                       "/shop/sitemap.xml"), ""),
    "failed_child_sitemap_share": (_index({"/a.xml": None, "/b.xml": None, "/c.xml": None}),
                                   ""),
    "files_over_limits": (_single(lambda b: pages(b, 12)),
                          "[sitemap]\nmax_urls_per_file = 10\n"),
    "index_missing_children": (_robots(["/index.xml", "/a.xml", "/b.xml"], ["/c.xml"]), ""),
    "duplicate_keys": (_single(lambda b: [*pages(b, 10), *pages(b, 3)]), ""),
}


def _fill_children(build: Build) -> Build:
    """The failing-children case keeps one good child, so the import is not empty."""
    def wrapped(site: Site) -> str:
        url = build(site)
        site.files["/a.xml"] = urlset(pages(site.base, 5))
        return url
    return wrapped


SITEMAP_CASES["failed_child_sitemap_share"] = (
    _fill_children(SITEMAP_CASES["failed_child_sitemap_share"][0]), "")


@pytest.mark.parametrize("rule", list(SITEMAP_CASES))
def test_each_sitemap_rule_fires_on_data_that_breaks_it(home: Path, site: Site,
                                                        rule: str) -> None:
    build, config = SITEMAP_CASES[rule]
    code, fired = run(home, "sitemap", build(site), config=config)
    assert (code, fired) == (0, [rule])


CLEAN_SITEMAPS: dict[str, Build] = {
    "urlset": _single(lambda b: pages(b, 30)),
    "robots-names-the-index": _robots(["/index.xml"], ["/a.xml", "/b.xml"]),
    # Sites often name the index and its children too: none of them is missing.
    "robots-names-index-and-children": _robots(["/index.xml", "/a.xml", "/b.xml"],
                                               ["/a.xml", "/b.xml"]),
}


@pytest.mark.parametrize("shape", list(CLEAN_SITEMAPS))
def test_clean_sitemaps_break_no_rule(home: Path, site: Site, shape: str) -> None:
    code, fired = run(home, "sitemap", CLEAN_SITEMAPS[shape](site))
    assert (code, fired) == (0, [])


def test_volume_rules_against_the_previous_completed_run(home: Path, site: Site) -> None:
    url = site.base + "/sitemap.xml"
    steps = [(100, 0, []), (100, 0, []), (75, 0, ["volume_drop_warning"]),
             (30, 1, ["volume_drop_error"]), (75, 0, []), (300, 0, ["volume_spike"]),
             (0, 1, ["zero_items"])]
    for n, code, expected in steps:
        site.files["/sitemap.xml"] = urlset(pages(site.base, n))
        assert run(home, "sitemap", url) == (code, expected), n


# -- Google: Merchant and Search Console ------------------------------------------------------
# The fakes answer only what Google's discovery documents allow, and check their own answers.

ACCOUNT = "123456"
SITE = "sc-domain:example.com"
TODAY = datetime.now(PACIFIC).date()


class EditedApis(FakeGoogleApis):
    """The fake Google APIs; ``row_edit`` changes Search Console rows after they are made
    (a CTR the fake would never compute from its own clicks and impressions)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row_edit: Callable[[dict[str, Any]], None] | None = None
        self.analytics.first_incomplete = TODAY - timedelta(days=2)

    def handle(self, req: Request) -> Response:
        answer = super().handle(req)
        if self.row_edit is None or answer.status != 200 or b'"rows"' not in answer.body:
            return answer
        data = json.loads(answer.body)
        for row in data["rows"]:
            self.row_edit(row)
        return Response(200, json.dumps(data).encode(), JSON)


def google_env(apis: FakeGoogleApis) -> dict[str, str]:
    return {"INGESTCTL_GOOGLE__MERCHANT_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "GTOKEN", "GTOKEN": "static-token",
            "INGESTCTL_RETRY__INITIAL_DELAY": "0s"}


@pytest.fixture
def apis() -> Iterator[EditedApis]:
    fake = EditedApis(products=20)
    for product in fake.listing(ACCOUNT).products:  # none disapproved: a clean listing
        product["productStatus"]["itemLevelIssues"] = []
    with fake:
        yield fake
    assert fake.rejections == []


Edit = Callable[[dict[str, Any]], None]
MERCHANT_BREAKS: dict[str, Edit] = {
    "missing_title_share": lambda p: p["productAttributes"].pop("title"),
    "missing_link_share": lambda p: p["productAttributes"].pop("link"),
    "missing_image_link_share": lambda p: p["productAttributes"].pop("imageLink"),
    "missing_price_share": lambda p: p["productAttributes"].pop("price"),
    "missing_availability_share": lambda p: p["productAttributes"].pop("availability"),
    "non_positive_price_share": lambda p: p["productAttributes"]["price"].update(
        amountMicros="0"),
    # Values of the v1 enums that name no availability or condition.
    "invalid_availability_share": lambda p: p["productAttributes"].update(
        availability="AVAILABILITY_UNSPECIFIED"),
    "invalid_condition_share": lambda p: p["productAttributes"].update(
        condition="CONDITION_UNSPECIFIED"),
    "invalid_gtin_share": lambda p: p["productAttributes"].update(gtins=["4000000000001"]),
}


def merchant(home: Path, apis: EditedApis) -> tuple[int, list[str]]:
    return run(home, "merchant", "--account", ACCOUNT, **google_env(apis))


def test_clean_merchant_products_break_no_rule(home: Path, apis: EditedApis) -> None:
    assert merchant(home, apis) == (0, [])


def test_each_merchant_rule_fires_on_the_product_that_breaks_it(home: Path,
                                                                apis: EditedApis) -> None:
    products = apis.listing(ACCOUNT).products
    for product, breaks in zip(products, MERCHANT_BREAKS.values(), strict=False):
        breaks(product)  # product i breaks rule i, and only it
    assert merchant(home, apis) == (0, list(MERCHANT_BREAKS))


def test_a_jump_of_the_disapproved_share_fires(home: Path, apis: EditedApis) -> None:
    products = apis.listing(ACCOUNT).products

    def disapprove(count: int) -> None:
        for index, product in enumerate(products):
            product["productStatus"]["itemLevelIssues"] = [{
                "code": "missing_shipping", "severity": "DISAPPROVED", "attribute": "shipping",
                "reportingContext": "SHOPPING_ADS", "applicableCountries": ["US"],
                "resolution": "MERCHANT_ACTION"}] if index < count else []

    disapprove(1)   # 5 %
    assert merchant(home, apis) == (0, [])
    disapprove(2)   # 10 %: +5 points is not above 5
    assert merchant(home, apis) == (0, [])
    disapprove(5)   # 25 %: +15 points
    assert merchant(home, apis) == (0, ["disapproved_share_jump"])


def test_repeated_merchant_products_fire_duplicate_keys(home: Path, apis: EditedApis) -> None:
    listing = apis.listing(ACCOUNT)
    listing.products = listing.products[:12] + listing.products[10:12] + listing.products[12:]
    assert merchant(home, apis) == (0, ["duplicate_keys"])


def search_console(home: Path, apis: EditedApis, start: date, end: date,
                   **env: str) -> tuple[int, list[str]]:
    return run(home, "search-console", "--site", SITE, "--start-date", start.isoformat(),
               "--end-date", end.isoformat(), **google_env(apis), **env)


FIRST = TODAY - timedelta(days=12)
LAST = TODAY - timedelta(days=10)


def test_clean_search_console_rows_break_no_rule(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 3, 12)
    assert search_console(home, apis, FIRST, LAST) == (0, [])


def test_each_search_console_row_rule_fires(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 3, 12)
    facts = apis.analytics.sites[SITE]
    facts[0] = replace(facts[0], clicks=facts[0].impressions + 5)  # and so a CTR above 1
    facts[1] = replace(facts[1], position=0.5)
    assert search_console(home, apis, FIRST, LAST) == (0, [
        "clicks_above_impressions_share", "ctr_out_of_range_share",
        "position_below_one_share"])


def test_a_ctr_out_of_range_alone_fires_its_rule(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 3, 12)
    apis.row_edit = lambda row: row.update(ctr=1.5) if row.get("keys", [""])[0] == \
        FIRST.isoformat() and row["clicks"] == 0 else None
    assert search_console(home, apis, FIRST, LAST) == (0, ["ctr_out_of_range_share"])


def test_missing_days_fail_the_import(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 2, 12)  # nothing on the third day
    assert search_console(home, apis, FIRST, LAST) == (1, ["missing_days"])


def test_a_day_at_the_api_row_limit_is_truncated(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 1, 50_000)
    assert search_console(home, apis, FIRST, FIRST) == (0, ["truncated_days"])


def test_incremental_search_console_runs_compare_rows_per_day(home: Path,
                                                              apis: EditedApis) -> None:
    # The first run loads 3 final days and the provisional ones; the next loads only the
    # provisional days again. Compared by items that is a drop of more than half.
    apis.add_search_data(SITE, TODAY - timedelta(days=20), 21, 12)
    config = f'[[imports]]\nname = "gsc"\nsource = "search-console"\nsite = "{SITE}"\n'
    env = {**google_env(apis), "INGESTCTL_GOOGLE__SEARCH_CONSOLE_FIRST_RUN_DAYS": "3"}
    assert run(home, "gsc", config=config, **env) == (0, [])
    assert run(home, "gsc", config=config, **env) == (0, [])
    [(first,), (second,)] = rows(home, "SELECT result FROM jobs ORDER BY id")
    volumes = [json.loads(str(r))["volume"] for r in (first, second)]
    assert [v["unit"] for v in volumes] == ["rows a day"] * 2
    assert volumes[0]["value"] == volumes[1]["value"]


def test_repeated_dimension_keys_fire_duplicate_keys(home: Path, apis: EditedApis) -> None:
    apis.add_search_data(SITE, FIRST, 1, 12)

    def new_top_row(body: dict[str, Any]) -> None:
        # Google's data moved between two pages: a new top row shifts every row down one.
        if body["startRow"] == 0 and body["dimensions"] != ["DATE"]:
            apis.analytics.sites[SITE].append(Fact(FIRST.isoformat(), "WEB", "breaking",
                                                   "https://example.com/new", "usa", "MOBILE",
                                                   "", 99, 120, 1.0))
            apis.after_page = None

    apis.after_page = new_top_row
    assert search_console(home, apis, FIRST, FIRST,
                          INGESTCTL_GOOGLE__SEARCH_CONSOLE_ROW_LIMIT="5") == (
        0, ["duplicate_keys"])


# The rules the other tests above break, by test.
OTHER_CASES = {
    "test_volume_rules_against_the_previous_completed_run": {
        "volume_drop_warning", "volume_drop_error", "volume_spike", "zero_items"},
    "test_a_jump_of_the_disapproved_share_fires": {"disapproved_share_jump"},
    "test_each_search_console_row_rule_fires": {
        "clicks_above_impressions_share", "ctr_out_of_range_share", "position_below_one_share"},
    "test_repeated_merchant_products_fire_duplicate_keys": {"duplicate_keys"},
    "test_missing_days_fail_the_import": {"missing_days"},
    "test_a_day_at_the_api_row_limit_is_truncated": {"truncated_days"},
}


def test_every_rule_of_the_table_has_an_end_to_end_case() -> None:
    assert all(name in globals() for name in OTHER_CASES)
    covered = set(SITEMAP_CASES) | set(MERCHANT_BREAKS) | set().union(*OTHER_CASES.values())
    assert covered == set(DEFAULT_RULES)
