"""The sitemap parser against every file of the real-world corpus (see its MANIFEST.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestctl.errors import DataError, ErrorClass
from ingestctl.sources.sitemap.model import (
    Alternate,
    ChildSitemap,
    Image,
    News,
    ProblemCode,
    SitemapKind,
    SitemapLimits,
    UrlEntry,
    Video,
)
from tests.sitemap_parse_helpers import manifest, parse

KINDS = {"urlset": SitemapKind.URLSET, "sitemapindex": SitemapKind.SITEMAPINDEX,
         "rss": SitemapKind.RSS, "feed": SitemapKind.ATOM, "text sitemap": SitemapKind.TEXT}
BROKEN = {  # file -> (line, column, message) as libxml2 reports the first error
    "advertools/error_sitemap.xml": (3, 19, "Specification mandates value for attribute does"),
    "sitemapjs/index-unescaped-lt.xml": (11, 25, "StartTag: invalid element name"),
    "sitemapjs/unescaped-lt.xml": (6, 24, "StartTag: invalid element name"),
}


def _sitemap_rows(corpus: Path) -> list[tuple[str, str, int | None]]:
    return [row for row in manifest(corpus) if row[1] not in ("robots.txt", "json")]


def test_manifest_is_read(corpus: Path) -> None:
    rows = _sitemap_rows(corpus)
    assert len(rows) == 42
    assert sum(1 for _, kind, _ in rows if kind.startswith("not well-formed")) == 3


def test_every_file_gives_its_manifest_count(corpus: Path) -> None:
    checked = 0
    for path, kind, entries in _sitemap_rows(corpus):
        data = (corpus / path).read_bytes()
        if path in BROKEN:
            line, column, message = BROKEN[path]
            with pytest.raises(DataError) as caught:
                parse(data, url=path)
            assert (caught.value.line, caught.value.column) == (line, column), path
            assert str(caught.value) == f"{path}:{line}:{column}: malformed XML: {message}"
            assert caught.value.error_class is ErrorClass.DATA
            continue
        limits = SitemapLimits(max_urls_per_file=200_000)
        parser, got = parse(data, url=path, limits=limits)
        assert parser.count == entries, path
        assert parser.kind is KINDS[kind.split(" (")[0]], path
        # Every entry seen is either returned or explained by a problem.
        skipped = sum(n for code, n in parser.problem_counts.items()
                      if code in (ProblemCode.INVALID_URL, ProblemCode.MISSING_LOC,
                                  ProblemCode.URL_TOO_LONG))
        assert len(got) + skipped == entries, path
        checked += 1
    assert checked == 39


def test_only_expected_problems_in_corpus(corpus: Path) -> None:
    found = {}
    for path, _kind, _entries in _sitemap_rows(corpus):
        if path in BROKEN:
            continue
        parser, _ = parse((corpus / path).read_bytes(), limits=SitemapLimits(200_000))
        if parser.problem_counts:
            found[path] = dict(parser.problem_counts)
    assert found == {
        "crawlercommons/feed.rss": {ProblemCode.MISSING_LOC: 1},
        "crawlercommons/sitemap.badns.xml": {ProblemCode.BAD_NAMESPACE: 1},
        "sitemapjs/perf-data.txt": {ProblemCode.INVALID_URL: 2},
    }


@pytest.mark.parametrize("chunk", [1, 7, 4093])
def test_chunk_size_does_not_change_the_result(corpus: Path, chunk: int) -> None:
    for path, _kind, _entries in _sitemap_rows(corpus):
        data = (corpus / path).read_bytes()
        if path in BROKEN or (chunk < 4093 and len(data) > 60_000):
            continue
        limits = SitemapLimits(max_urls_per_file=200_000)
        whole_parser, whole = parse(data, limits=limits)
        parts_parser, parts = parse(data, limits=limits, chunk=chunk)
        assert parts == whole, (path, chunk)
        assert parts_parser.problems == whole_parser.problems, (path, chunk)


def test_fast_path_and_tree_parser_agree(corpus: Path) -> None:
    for path, _kind, _entries in _sitemap_rows(corpus):
        data = (corpus / path).read_bytes()
        if path in BROKEN:
            continue
        limits = SitemapLimits(max_urls_per_file=200_000)
        fast_parser, fast = parse(data, limits=limits)
        tree_parser, tree = parse(data, limits=limits, fast=False)
        assert fast == tree, path
        assert fast_parser.problems == tree_parser.problems, path


def test_broken_files_fail_in_small_chunks_too(corpus: Path) -> None:
    for path, (line, column, _message) in BROKEN.items():
        with pytest.raises(DataError) as caught:
            parse((corpus / path).read_bytes(), chunk=7)
        assert (caught.value.line, caught.value.column) == (line, column)


def test_wrong_namespace_is_accepted_with_a_problem(corpus: Path) -> None:
    parser, entries = parse((corpus / "crawlercommons/sitemap.badns.xml").read_bytes())
    assert [(e.loc, e.changefreq) for e in entries if isinstance(e, UrlEntry)] == [
        ("http://www.example.com/1", "daily"), ("http://www.example.com/2", "daily")]
    assert [(p.code, p.line, p.value) for p in parser.problems] == [
        (ProblemCode.BAD_NAMESPACE, 2, "http://www.google.com/schemas/sitemap/0.9")]


def test_text_sitemap_with_bom(corpus: Path) -> None:
    parser, entries = parse((corpus / "crawlercommons/sitemap-with-bom.txt").read_bytes(),
                            chunk=1)
    assert [(e.loc, e.line) for e in entries] == [
        ("http://www.domain.com/page1.html", 1), ("http://www.domain.com/page2.html", 2)]
    assert parser.kind is SitemapKind.TEXT and parser.problems == []


def test_gzip_is_told_by_content_not_name(corpus: Path) -> None:
    plain, plain_entries = parse((corpus / "advertools/regular_sitemap.xml.gz").read_bytes())
    assert not plain.gzipped and plain.kind is SitemapKind.URLSET and len(plain_entries) == 5
    packed, packed_entries = parse((corpus / "crawlercommons/xmlSitemap.gz").read_bytes())
    assert packed.gzipped and packed.kind is SitemapKind.URLSET and len(packed_entries) == 5
    assert packed.bytes_in == 339 and packed.bytes_out > packed.bytes_in
    text, text_entries = parse((corpus / "crawlercommons/sitemap.txt.gz").read_bytes(), chunk=3)
    assert text.gzipped and text.kind is SitemapKind.TEXT and len(text_entries) == 5


@pytest.mark.parametrize("on_limit", ["warn", "error"])
def test_text_sitemap_over_the_url_limit(corpus: Path, on_limit: str) -> None:
    data = (corpus / "sitemapjs/medium-list.txt.gz").read_bytes()
    limits = SitemapLimits(on_limit=on_limit)
    if on_limit == "error":
        with pytest.raises(DataError) as caught:
            parse(data, url="medium-list.txt.gz", limits=limits, chunk=65536)
        assert caught.value.line == 50_001
        assert str(caught.value) == "medium-list.txt.gz:50001: more than 50,000 URLs in one file"
        return
    parser, entries = parse(data, limits=limits, chunk=65536)
    assert len(entries) == 50_000 and parser.count == 100_000
    assert [(p.code, p.line) for p in parser.problems] == [(ProblemCode.OVER_URL_LIMIT, 50_001)]
    assert parser.problems[0].message == ("more than 50,000 URLs in one file; only the first "
                                          "50,000 are imported")


def test_refinebio_urlset_over_a_small_limit_both_paths(corpus: Path) -> None:
    data = (corpus / "refinebio/sitemap-2.xml").read_bytes()
    for fast in (True, False):
        parser, entries = parse(data, limits=SitemapLimits(max_urls_per_file=10_000),
                                chunk=65536, fast=fast)
        assert len(entries) == 10_000 and parser.count == 12_641
        assert parser.problem_counts == {ProblemCode.OVER_URL_LIMIT: 1}


def test_index_limit_is_its_own(corpus: Path) -> None:
    data = (corpus / "crawlercommons/sitemap.index.xml").read_bytes()
    with pytest.raises(DataError, match="more than 10 index entries in one file"):
        parse(data, limits=SitemapLimits(max_index_entries=10, max_urls_per_file=5,
                                         on_limit="error"))


def test_image_extension(corpus: Path) -> None:
    _, entries = parse((corpus / "advertools/image_sitemap.xml").read_bytes())
    assert entries == [
        UrlEntry("http://example.com/sample.html", line=4, images=[
            Image("http://example.com/image.jpg"), Image("http://example.com/photo.jpg")]),
        UrlEntry("http://example.com/sample_2.html", line=14, images=[
            Image("http://example.com/image2.jpg"),
            Image("http://example.com/photo2.jpg", "Image Title", "This is the Caption!")]),
    ]


def test_video_news_and_alternates(corpus: Path) -> None:
    _, entries = parse((corpus / "sitemapjs/alltags.xml").read_bytes())
    odd = "&><'\""
    first, third, fourth = entries[0], entries[2], entries[3]
    assert isinstance(first, UrlEntry) and isinstance(third, UrlEntry)
    assert first.videos == [Video(
        title="2018:E6 - GoldenEye: Source" + odd,
        content_loc=None,
        player_loc="https://roosterteeth.com/embed/rouletsplay-2018-goldeneye-source" + odd,
        thumbnail_loc="https://rtv3-img-roosterteeth.akamaized.net/store/0e841100-289b-4184-"
                      "ae30-b6a16736960a.jpg/sm/thumb3.jpg" + odd,
        description="We play gun game in GoldenEye: Source with a good friend of ours. His "
                    "name is Gruchy. Dan Gruchy." + odd)]
    assert first.loc == ("https://roosterteeth.com/episode/rouletsplay-2018-goldeneye-source"
                         "&%3E%3C'%22")
    assert third.videos[0].content_loc == "http://streamserver.example.com/video123.mp4"
    assert (third.lastmod, third.changefreq, third.priority) == (
        "2016-09-12T00:00:00Z", "daily", 0.6)
    assert third.alternates == [
        Alternate("en", "http://test.com/page-1/&%3E%3C'%22"),
        Alternate("ja", "http://test.com/page-1/ja/&%3E%3C'%22"),
        Alternate(None, "android-app://com.company.test/page-1/" + odd),
    ]
    assert isinstance(fourth, UrlEntry)
    assert fourth.lastmod == "2015-06-27T15:30:00Z"
    assert fourth.news == News("The Example Times" + odd, "en", "2008-12-23",
                               "Companies A, B in Merger Talks" + odd)


def test_cdata_variant_gives_the_same_values(corpus: Path) -> None:
    _, plain = parse((corpus / "sitemapjs/alltags.xml").read_bytes())
    _, cdata = parse((corpus / "sitemapjs/alltags.cdata.xml").read_bytes())
    assert [e.loc for e in cdata] == [e.loc for e in plain]


def test_hreflang_links(corpus: Path) -> None:
    _, entries = parse((corpus / "crawlercommons/sitemap-links.xml").read_bytes())
    assert isinstance(entries[0], UrlEntry)
    assert entries[0].alternates == [
        Alternate("de", "http://www.example.com/deutsch/"),
        Alternate("de-ch", "http://www.example.com/schweiz-deutsch/"),
        Alternate("en", "http://www.example.com/english/"),
    ]


def test_news_with_empty_fields(corpus: Path) -> None:
    _, entries = parse((corpus / "crawlercommons/sitemap-news.xml").read_bytes())
    assert isinstance(entries[0], UrlEntry) and isinstance(entries[1], UrlEntry)
    assert entries[0].news == News("The Example Times", "en", "2008-12-23",
                                   "Companies A, B in Merger Talks")
    assert entries[1].news is not None and entries[1].news.publication_name is None


def test_video_sitemap_values(corpus: Path) -> None:
    _, entries = parse((corpus / "sitemapjs/video.xml").read_bytes())
    assert isinstance(entries[0], UrlEntry)
    assert entries[0].videos == [Video(
        "Grilling steaks for summer", "http://streamserver.example.com/video123.mp4",
        "http://www.example.com/videoplayer.php?video=123", "http://www.example.com/thumbs/123.jpg",
        "Alkis shows you how to get perfectly done steaks every\n         time")]


def test_sitemap_indexes(corpus: Path) -> None:
    _, gopher = parse((corpus / "gopher/sitemap-index.xml").read_bytes())
    assert gopher == [
        ChildSitemap("http://www.example.com/sitemap1.xml.gz", "2004-10-01T18:23:17Z", 3),
        ChildSitemap("http://www.example.com/sitemap2.xml.gz", "2005-01-01", 7),
        ChildSitemap("http://www.example.com/sitemap3.xml.gz", None, 11),
    ]
    _, bare = parse((corpus / "crawlercommons/sitemap.index.xml").read_bytes())
    assert bare[0] == ChildSitemap("https://example.com/sitemap.jss?portalCode=10260&lang=en",
                                   None, 3)


def test_feeds(corpus: Path) -> None:
    rss, items = parse((corpus / "crawlercommons/feed.rss").read_bytes())
    assert [e.loc for e in items] == ["https://www.example.com/blog/post/1",
                                      "https://www.example.com/foo?q=a&l=en",
                                      "https://www.example.com/foo?q=a&l=fr"]
    assert items[0].lastmod == "2009-09-06T16:20:00Z"
    assert [(p.code, p.line) for p in rss.problems] == [(ProblemCode.MISSING_LOC, 21)]
    _, dated = parse((corpus / "crawlercommons/xmlRss_pubDate.xml").read_bytes())
    assert [e.lastmod for e in dated] == [
        "2017-01-05T12:34:51Z", "2017-01-05T12:34:52Z", "2017-01-05T12:34:53Z",
        "2017-01-05T12:34:54Z", "2017-01-05T13:34:55Z", None, None]
    _, atom = parse((corpus / "crawlercommons/atom.xml").read_bytes())
    assert atom == [UrlEntry("http://example.org/2003/12/13/atom03", "2003-12-13T18:30:02Z",
                             line=16)]


def test_big_gzipped_urlset_lines(corpus: Path) -> None:
    parser, entries = parse((corpus / "refinebio/sitemap-1.xml.gz").read_bytes(), chunk=65536)
    assert len(entries) == 36_005 and parser.gzipped
    assert entries[0].loc == "https://www.refine.bio/" and entries[0].line == 1
    assert entries[0].lastmod == "2025-05-28T22:28:39Z"
