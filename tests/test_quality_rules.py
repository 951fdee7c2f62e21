"""Rules of every source and of sitemaps, each fired by crafted input and quiet just below."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ingestctl.quality.model import Violation
from ingestctl.quality.model import ViolationSeverity as Severity
from ingestctl.quality.rules import evaluate
from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator, parse_lastmod
from ingestctl.quality.summaries import ImportSummary, SitemapSummary

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
SITEMAP = "https://shop.example.com/catalog/sitemap.xml"


def rules(*summaries: object) -> list[str]:
    return [v.rule for v in evaluate(*summaries)]  # type: ignore[arg-type]


def only(summary: object) -> Violation:
    found = evaluate(summary)  # type: ignore[arg-type]
    assert len(found) == 1, found
    return found[0]


# All sources


def test_volume_across_two_imports() -> None:
    first = ImportSummary("sitemap", items=1000, previous_items=None)
    assert evaluate(first) == []
    second = ImportSummary("sitemap", items=790, previous_items=first.items)
    assert evaluate(second) == [Violation(
        "volume_drop_warning", Severity.WARNING,
        "790 items, down 21 % from 1,000 in the previous completed run; "
        "warning at a drop of 20 %", 0.21, 0.2,
        {"items": 790, "previous_items": 1000, "change": -0.21})]
    third = ImportSummary("sitemap", items=395, previous_items=second.items)
    found = only(third)
    assert (found.rule, found.severity, found.observed) == ("volume_drop_error", Severity.ERROR,
                                                             0.5)
    assert found.message == ("395 items, down 50 % from 790 in the previous completed run; "
                             "error at a drop of 50 %")
    fourth = ImportSummary("sitemap", items=1185, previous_items=third.items)
    found = only(fourth)
    assert (found.rule, found.severity, found.observed) == ("volume_spike", Severity.WARNING,
                                                             2.0)
    assert found.message == ("1,185 items, up 200 % from 395 in the previous completed run; "
                             "warning at a rise of 200 %")


@pytest.mark.parametrize(("items", "previous", "expected"), [
    (800, 1000, ["volume_drop_warning"]),     # exactly -20 %
    (801, 1000, []),
    (500, 1000, ["volume_drop_error"]),       # exactly -50 %
    (501, 1000, ["volume_drop_warning"]),
    (3000, 1000, ["volume_spike"]),           # exactly +200 %
    (2999, 1000, []),
    (5, 0, []),                               # no ratio against nothing
])
def test_volume_thresholds_fire_at_the_boundary(items: int, previous: int,
                                                expected: list[str]) -> None:
    assert rules(ImportSummary("merchant", items, previous)) == expected


def test_zero_items_is_an_error_and_replaces_the_volume_drop() -> None:
    assert only(ImportSummary("sitemap", 0, 250)) == Violation(
        "zero_items", Severity.ERROR,
        "the import produced no items (the previous completed run had 250); error", 0, None,
        {"previous_items": 250})
    assert rules(ImportSummary("sitemap", 0, None)) == ["zero_items"]
    assert rules(ImportSummary("sitemap", 1, None)) == []


def test_duplicate_keys() -> None:
    assert only(ImportSummary("sitemap", 100, None, duplicate_keys=1)).message == (
        "1 item repeats a natural key already seen in this import; warning above 0")
    assert rules(ImportSummary("sitemap", 100, None, duplicate_keys=0)) == []


# Sitemaps: the accumulator


def test_parse_lastmod_reads_every_w3c_form() -> None:
    assert parse_lastmod("2024") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_lastmod("2024-05") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_lastmod("2024-05-06") == datetime(2024, 5, 6, tzinfo=UTC)
    assert parse_lastmod("2024-05-06T10:30+02:00") == datetime(2024, 5, 6, 8, 30, tzinfo=UTC)
    assert parse_lastmod(" 2024-05-06T10:30:15.5Z ") == datetime(2024, 5, 6, 10, 30, 15,
                                                                  500000, tzinfo=UTC)
    assert parse_lastmod("2024-05-06T10:30:15") == datetime(2024, 5, 6, 10, 30, 15, tzinfo=UTC)
    for bad in ("yesterday", "2024-13-01", "06/05/2024", "", "2024-5-6"):
        assert parse_lastmod(bad) is None, bad


def test_accumulator_counts_every_sitemap_problem() -> None:
    acc = SitemapStatsAccumulator(SITEMAP, now=NOW)
    acc.add("https://shop.example.com/catalog/a", "2026-01-01")
    acc.add("https://shop.example.com/catalog/b", datetime(2026, 1, 2, tzinfo=UTC))
    acc.add("https://shop.example.com/catalog/c", date(2026, 1, 11))          # within a day
    acc.add("https://shop.example.com/catalog/d", "2026-01-12")               # future
    acc.add("https://shop.example.com/catalog/e", "last tuesday")
    acc.add("https://SHOP.example.com:443/catalog/f")                         # same origin
    acc.add("https://other.example.com/catalog/g")
    acc.add("http://shop.example.com/catalog/h")                              # port 80
    acc.add("https://shop.example.com/about")
    acc.add("https://shop.example.com/catalog-old/x")
    acc.add("ftp://shop.example.com/catalog/i")
    acc.add("/catalog/relative")
    acc.add("https://shop.example.com/catalog/with space")
    acc.add("https://shop.example.com/catalog/" + "x" * 2100)
    acc.add("https://blog.example.com/post", sitemap_url="https://blog.example.com/s.xml")
    acc.add_invalid("", "empty <loc>")
    acc.add_child("https://shop.example.com/catalog/s1.xml", ok=True)
    acc.add_child("https://shop.example.com/catalog/s2.xml", ok=False)
    acc.add_file_over_limits("https://shop.example.com/catalog/big.xml", "50,001 URLs")
    acc.set_robots_sitemaps(["https://shop.example.com/index.xml",
                             "https://shop.example.com/catalog/s1.xml",
                             "https://shop.example.com/news.xml"])
    acc.add_index_children(["https://shop.example.com/catalog/s1.xml",
                            "https://shop.example.com/catalog/s2.xml"],
                           index_url="https://shop.example.com/index.xml")
    s = acc.summary()
    assert (s.urls, s.invalid_urls, s.lastmods, s.unparseable_lastmod, s.future_lastmod) == (
        16, 5, 5, 1, 1)
    assert (s.off_host_urls, s.outside_path_urls, s.same_lastmod) == (2, 2, None)
    assert (s.child_sitemaps, s.failed_child_sitemaps, s.files_over_limits) == (2, 1, 1)
    assert (s.index_children, s.robots_sitemaps, s.robots_unlisted) == (
        2, 3, ["https://shop.example.com/news.xml"])
    assert s.examples["off_host_url_share"] == ["https://other.example.com/catalog/g",
                                                "http://shop.example.com/catalog/h"]
    assert s.examples["invalid_url_share"][0] == (
        "ftp://shop.example.com/catalog/i (not an absolute http(s) URL)")
    assert s.examples["invalid_url_share"][4] == " (empty <loc>)"


def test_local_sitemap_files_skip_host_and_path_checks() -> None:
    acc = SitemapStatsAccumulator("/tmp/sitemap.xml", now=NOW)
    acc.add("https://anywhere.example/x")
    acc.add("https://elsewhere.example/y")
    s = acc.summary()
    assert (s.urls, s.invalid_urls, s.off_host_urls, s.outside_path_urls) == (2, 0, 0, 0)


def _urls(count: int, bad: int, *, lastmod: str | None = None,
          bad_kind: str = "invalid") -> SitemapSummary:
    acc = SitemapStatsAccumulator(SITEMAP, now=NOW)
    for i in range(count):
        url = f"https://shop.example.com/catalog/p{i}"
        stamp = lastmod or f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
        if i < bad:
            if bad_kind == "invalid":
                url = f"mailto:p{i}@example.com"
            elif bad_kind == "off_host":
                url = f"https://cdn.example.com/catalog/p{i}"
            elif bad_kind == "outside":
                url = f"https://shop.example.com/p{i}"
            elif bad_kind == "unparseable":
                stamp = "soon"
            elif bad_kind == "future":
                stamp = "2026-01-12T00:00:01Z"
        acc.add(url, stamp)
    return acc.summary()


@pytest.mark.parametrize(("rule", "kind", "fires", "quiet", "message"), [
    ("invalid_url_share", "invalid", 11, 10,
     "11 of 1,000 URLs (1.1 %) are invalid; warning above 1 %"),
    ("unparseable_lastmod_share", "unparseable", 11, 10,
     "11 of 1,000 lastmod values (1.1 %) are not W3C datetimes; warning above 1 %"),
    ("future_lastmod_share", "future", 11, 10,
     "11 of 1,000 lastmod values (1.1 %) lie more than a day in the future; "
     "warning above 1 %"),
    ("off_host_url_share", "off_host", 1, 0,
     "1 of 1,000 URLs (0.1 %) is on another host than its sitemap; warning above 0 %"),
    ("outside_path_url_share", "outside", 2, 0,
     "2 of 1,000 URLs (0.2 %) lie outside their sitemap's directory; warning above 0 %"),
])
def test_sitemap_share_rules(rule: str, kind: str, fires: int, quiet: int,
                             message: str) -> None:
    found = only(_urls(1000, fires, bad_kind=kind))
    assert (found.rule, found.severity, found.message) == (rule, Severity.WARNING, message)
    assert found.details["count"] == fires and found.details["total"] == 1000
    assert len(found.details["examples"]) == min(fires, 5)
    assert evaluate(_urls(1000, quiet, bad_kind=kind)) == []


def test_same_lastmod_from_ten_urls() -> None:
    found = only(_urls(10, 0, lastmod="2025-06-01"))
    assert found.message == ("all 10 URLs with a lastmod carry the same one "
                             "(2025-06-01T00:00:00+00:00); warning from 10 URLs")
    assert (found.observed, found.threshold) == (10, 10)
    assert evaluate(_urls(9, 0, lastmod="2025-06-01")) == []
    # The same instant written two ways is still the same lastmod.
    acc = SitemapStatsAccumulator(SITEMAP, now=NOW)
    for i in range(12):
        acc.add(f"https://shop.example.com/catalog/{i}",
                "2025-06-01" if i % 2 else "2025-06-01T02:00:00+02:00")
    assert rules(acc.summary()) == ["same_lastmod"]
    acc.add("https://shop.example.com/catalog/last", "2025-06-02")
    assert rules(acc.summary()) == []


def test_failed_children_files_over_limits_and_missing_index_children() -> None:
    summary = SitemapSummary(child_sitemaps=40, failed_child_sitemaps=2, files_over_limits=1,
                             index_children=8, robots_sitemaps=3,
                             robots_unlisted=["https://a.example/x.xml", "https://a.example/y.xml"])
    messages = [v.message for v in evaluate(summary)]
    assert messages == [
        "2 of 40 child sitemaps (5 %) failed; warning above 0 %",
        "1 sitemap file exceeds the protocol limits; warning above 0",
        "robots.txt names 2 sitemaps that no sitemap index lists (https://a.example/x.xml, "
        "https://a.example/y.xml); warning above 0",
    ]
    quiet = SitemapSummary(child_sitemaps=40, failed_child_sitemaps=0, files_over_limits=0,
                           index_children=12, robots_sitemaps=13, robots_unlisted=[])
    assert evaluate(quiet) == []
    assert evaluate(SitemapSummary(index_children=3, robots_sitemaps=None)) == []


def test_clean_sitemap_and_import_raise_nothing() -> None:
    assert evaluate(ImportSummary("sitemap", 1000, 990), _urls(1000, 0)) == []


def test_evaluate_rejects_what_is_not_a_summary() -> None:
    with pytest.raises(TypeError, match="not a quality summary: dict"):
        evaluate({"items": 3})  # type: ignore[arg-type]
