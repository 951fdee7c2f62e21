"""Units of the sitemap parser: dates, URL checks, robots.txt discovery, limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.config import SitemapConfig
from ingestctl.sources.sitemap.lastmod import normalize_lastmod
from ingestctl.sources.sitemap.model import ProblemCode, ProblemLog, SitemapLimits, UrlEntry
from ingestctl.sources.sitemap.robots import sitemaps_from_robots
from ingestctl.sources.sitemap.urls import check_url
from tests.sitemap_parse_helpers import parse

LASTMODS = [
    # W3C datetime, every granularity
    ("2024", "2024-01-01"),
    ("2024-05", "2024-05-01"),
    ("2024-05-07", "2024-05-07"),
    ("2024-05-07T10:11Z", "2024-05-07T10:11:00Z"),
    ("2024-05-07T10:11:12Z", "2024-05-07T10:11:12Z"),
    ("2024-05-07T10:11:12.5Z", "2024-05-07T10:11:12Z"),
    ("2018-04-27T17:00:00.000Z", "2018-04-27T17:00:00Z"),
    ("2024-05-07T10:11:12+00:00", "2024-05-07T10:11:12Z"),
    ("2015-05-07T19:13:09+09:00", "2015-05-07T10:13:09Z"),
    ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
    ("2024-05-07T10:11:12.123456789-05:30", "2024-05-07T15:41:12Z"),
    ("2024-05-07T10:11+02:00", "2024-05-07T08:11:00Z"),
    # broken forms seen in the wild
    ("2024-05-07T10:11:12-00:00", "2024-05-07T10:11:12Z"),
    ("2024-05-07T10:11:12+0100", "2024-05-07T09:11:12Z"),
    ("2024-05-07T10:11:12+01", "2024-05-07T09:11:12Z"),
    ("2024-05-07 10:11:12", "2024-05-07T10:11:12Z"),
    ("2024-05-07T10:11:12", "2024-05-07T10:11:12Z"),
    ("2024-05-07t10:11:12z", "2024-05-07T10:11:12Z"),
    ("2024-05-07T10:11:12 +01:00", "2024-05-07T09:11:12Z"),
    ("  2024-05-07  ", "2024-05-07"),
    ("2024-5-7", "2024-05-07"),
    # RFC 822 (RSS pubDate)
    ("Thu, 05 Jan 2017 13:34:51 +0100", "2017-01-05T12:34:51Z"),
    ("Thu, 05 Jan 17 13:34:52 +0100", "2017-01-05T12:34:52Z"),
    ("05 Jan 2017 13:34:53 GMT", "2017-01-05T13:34:53Z"),
    ("05 Jan 17 13:34:55", "2017-01-05T13:34:55Z"),
    ("Mon, 06 Sep 2010 00:01:00 +0000 ", "2010-09-06T00:01:00Z"),
    # garbage
    ("", None),
    ("   ", None),
    ("yesterday", None),
    ("2024-13-01", None),
    ("2024-02-30", None),
    ("2024-02-30T10:00:00Z", None),
    ("2024-05-07T25:00:00Z", None),
    ("2024-05-07T10:11:12+25:00", None),
    ("2024-05-07X10:11:12+00:00", None),
    ("0000-01-01", None),
    ("1-1-1", None),
    ("20240507", None),
]


@pytest.mark.parametrize(("text", "expected"), LASTMODS)
def test_normalize_lastmod(text: str, expected: str | None) -> None:
    assert normalize_lastmod(text) == expected
    assert normalize_lastmod(text) == expected  # and again, from the cache


URLS = [
    ("https://www.example.com/a b", ProblemCode.INVALID_URL),
    ("https://www.example.com/a\tb", ProblemCode.INVALID_URL),
    ("https://www.example.com/", None),
    ("http://HOST/", None),
    ("HTTPS://Example.COM/x", None),
    ("https://a.example:8443/x?y#z", None),
    ("https://a.example:99999/x", ProblemCode.INVALID_URL),
    ("https://[::1]/x", None),
    ("https://user@a.example/x", None),
    ("https://a.example?q=1", None),
    ("https://bücher.example/straße", None),
    ("http:///path", ProblemCode.INVALID_URL),
    ("http://", ProblemCode.INVALID_URL),
    ("ftp://a.example/x", ProblemCode.INVALID_URL),
    ("/relative/path", ProblemCode.INVALID_URL),
    ("android-app://com.example/x", ProblemCode.INVALID_URL),
    ("https://a.example/" + "x" * 2030, ProblemCode.URL_TOO_LONG),
    ("https://a.example/" + "x" * 2029, None),
]


@pytest.mark.parametrize(("url", "expected"), URLS)
def test_check_url(url: str, expected: ProblemCode | None) -> None:
    assert check_url(url, 2048) == expected


def test_url_problems_name_the_line_in_both_paths() -> None:
    doc = (b'<?xml version="1.0"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
           b"<url><loc>https://a.example/1</loc><priority>0.5</priority></url>\n"
           b"<url><loc>https://a.example/" + b"x" * 3000 + b"</loc></url>\n"
           b"<url><loc> </loc></url>\n"
           b"<url><loc>https://b.example/4</loc><changefreq>sometimes</changefreq></url>\n"
           b"</urlset>")
    for fast in (True, False):
        parser, entries = parse(doc, fast=fast)
        assert entries == [UrlEntry("https://a.example/1", priority=0.5, line=3),
                           UrlEntry("https://b.example/4", line=6)]
        assert [(p.code, p.line) for p in parser.problems] == [
            (ProblemCode.URL_TOO_LONG, 4), (ProblemCode.MISSING_LOC, 5),
            (ProblemCode.BAD_CHANGEFREQ, 6)]
        assert parser.problems[0].message == "URL of 3018 characters (limit 2048)"


@pytest.mark.parametrize(("name", "expected"), [
    ("crawlercommons/relative-sitemap-robots.txt", ["https://site.example/sitemap.xml"]),
    ("crawlercommons/sitemap-robots-dedup.txt", ["http://example.org/sitemap.xml"]),
    ("crawlercommons/sitemap-robots.txt", ["http://domain.com/sitemap.xml",
                                           "http://domain.com/dir/MixedCased-sitemap.xml"]),
    ("advertools/robots.txt", ["https://advertools.readthedocs.io/sitemap.xml"]),
    ("refinebio/robots.txt", ["https://www.refine.bio/sitemap-index.xml"]),
])
def test_sitemaps_from_corpus_robots(corpus: Path, name: str, expected: list[str]) -> None:
    text = (corpus / name).read_text()
    assert sitemaps_from_robots(text, "https://site.example/robots.txt") == expected


def test_sitemaps_from_robots_resolves_and_dedups() -> None:
    text = ("\ufeffSITEMAP: /a.xml\r\nUser-agent: *\r\nsitemap:b/c.xml # comment\r\n"
            "Sitemap: https://x.example/a.xml\nSitemap: /a.xml\nSitemap:\n"
            "Disallow: /sitemap: /no\nNosite-map: /no.xml\n")
    assert sitemaps_from_robots(text, "https://x.example/dir/robots.txt") == [
        "https://x.example/a.xml", "https://x.example/dir/b/c.xml"]


def test_sitemap_keys_are_read_as_googles_robots_parser_reads_them() -> None:
    # Google's robots.txt parser: a key that starts with "sitemap" or "site-map" (any case);
    # a line without a colon works when it has exactly two words; CR alone ends a line.
    text = ("Site-map: /one.xml\nSITE-MAP : /two.xml\rsitemaps: /three.xml\n"
            "Sitemap /four.xml\nSitemap /not five.xml\n")
    assert sitemaps_from_robots(text, "https://x.example/robots.txt") == [
        "https://x.example/one.xml", "https://x.example/two.xml", "https://x.example/three.xml",
        "https://x.example/four.xml"]


def test_limits_from_config() -> None:
    config = SitemapConfig(max_urls_per_file=10, max_bytes_per_file=2000, max_index_entries=3,
                           max_url_length=100, on_limit="error")
    assert SitemapLimits.from_config(config) == SitemapLimits(10, 2000, 3, 100, "error")
    assert SitemapLimits.from_config(SitemapConfig()) == SitemapLimits()


def test_problem_log_keeps_the_first_and_counts_all() -> None:
    log = ProblemLog(keep=2)
    for line in range(5):
        log.add(ProblemCode.BAD_LASTMOD, "bad", line)
    log.add(ProblemCode.INVALID_URL, "bad", 9)
    assert [(p.code, p.line) for p in log.items] == [
        (ProblemCode.BAD_LASTMOD, 0), (ProblemCode.BAD_LASTMOD, 1), (ProblemCode.INVALID_URL, 9)]
    assert log.counts == {ProblemCode.BAD_LASTMOD: 5, ProblemCode.INVALID_URL: 1}


def test_same_content_reads_gzip_bytes_only_when_they_differ() -> None:
    import gzip
    import hashlib

    from ingestctl.sources.sitemap.digest import same_content

    content = b"<urlset>" + b"x" * 100_000 + b"</urlset>"
    digest = hashlib.sha256(content).hexdigest()
    packed = gzip.compress(content, mtime=1)
    raw = hashlib.sha256(packed).hexdigest()
    rereads: list[int] = []

    def check(data: bytes, raw_digest: str | None = raw, limit: int = 1 << 20) -> bool:
        def reread() -> Iterator[bytes]:
            rereads.append(1)
            return iter([data[:1000], data[1000:]])
        return same_content(iter([data[:7], data[7:]]), reread, digest, raw_digest, limit)[0]

    assert check(content) and not check(content + b" ") and not check(content, limit=1000)
    assert check(packed) and rereads == []  # the same gzip bytes: not inflated
    assert check(gzip.compress(content, mtime=2)) and rereads == [1]  # recompressed
    assert check(packed, raw_digest=None) and len(rereads) == 2
    assert not check(gzip.compress(content + b" ", mtime=1))
    corrupt = packed[:30] + bytes(b ^ 0xFF for b in packed[30:60]) + packed[60:]
    assert not check(packed[:-20]) and not check(corrupt)
