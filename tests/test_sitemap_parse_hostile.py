"""Hostile and broken inputs built here: every one fails or is cut off fast, with bounded work."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

import pytest

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.decompress import PIECE
from ingestctl.sources.sitemap.model import ProblemCode, SitemapLimits, UrlEntry
from tests.sitemap_parse_helpers import parse

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>\n'.encode()
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://a.example/&lol9;</loc></url></urlset>
"""


def url_block(i: int) -> bytes:
    return f"<url><loc>https://www.example.com/page-{i:09d}</loc></url>\n".encode()


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk", [None, 5])
def test_billion_laughs_is_refused_before_parsing(fast: bool, chunk: int | None) -> None:
    started = time.monotonic()
    with pytest.raises(DataError) as caught:
        parse(LAUGHS, url="laughs.xml", chunk=chunk, fast=fast)
    assert str(caught.value) == ("laughs.xml:2:1: DOCTYPE with an internal subset (entity "
                                 "declarations) is not allowed")
    assert time.monotonic() - started < 1


def test_external_entity_is_refused_and_never_read() -> None:
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           b'\n<urlset ' + NS.encode() + b'><url><loc>http://a.example/&xxe;</loc></url></urlset>')
    with pytest.raises(DataError, match="DOCTYPE with an internal subset"):
        parse(xxe)


@pytest.mark.parametrize("fast", [True, False])
def test_external_dtd_is_not_loaded_and_undeclared_entities_fail(fast: bool) -> None:
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE urlset SYSTEM "file:///etc/passwd">\n<urlset '
           + NS.encode() + b'>\n<url><loc>http://a.example/&xxe;</loc></url></urlset>')
    with pytest.raises(DataError) as caught:
        parse(doc, url="x.xml", fast=fast)
    assert str(caught.value) == "x.xml:4:33: malformed XML: Entity 'xxe' not defined"
    # Without entity references the same DOCTYPE is harmless: nothing is fetched or read.
    harmless = doc.replace(b"&xxe;", b"ok")
    _, entries = parse(harmless, fast=fast)
    assert [e.loc for e in entries] == ["http://a.example/ok"]


def _gzip_bomb(prefix: bytes, total: int, step: int = 1 << 20) -> Iterator[bytes]:
    """A gzip stream of ``prefix`` and ``total`` bytes of spaces, compressed lazily."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    yield packer.compress(prefix)
    spaces = b" " * step
    for _ in range(total // step):
        out = packer.compress(spaces)
        if out:
            yield out
    yield packer.flush()


@pytest.mark.parametrize("on_limit", ["error", "warn"])
def test_gzip_bomb_stops_at_the_size_limit(on_limit: str) -> None:
    limits = SitemapLimits(on_limit=on_limit)
    bomb = _gzip_bomb(HEAD + url_block(1), 10 * 1000**3)  # inflates to 10 GB
    started = time.monotonic()
    if on_limit == "error":
        with pytest.raises(DataError) as caught:
            parse(bomb, url="bomb.xml.gz", limits=limits)
        assert str(caught.value) == ("bomb.xml.gz: content larger than 50,000,000 bytes "
                                     "(max_bytes_per_file)")
    else:
        parser, entries = parse(bomb, url="bomb.xml.gz", limits=limits)
        assert [e.loc for e in entries] == ["https://www.example.com/page-000000001"]
        assert [(p.code, p.message) for p in parser.problems] == [
            (ProblemCode.OVER_SIZE_LIMIT,
             "content larger than 50,000,000 bytes; the rest of the file is ignored")]
        assert parser.bytes_out == 50_000_000
        assert parser.bytes_in < 200_000  # the rest of the 10 GB was never inflated
    assert time.monotonic() - started < 10


def test_gzip_bomb_inflates_no_more_than_a_piece_past_the_limit() -> None:
    from tests.sitemap_parse_helpers import SitemapParser
    parser = SitemapParser("bomb", SitemapLimits(max_bytes_per_file=3 * PIECE + 5,
                                                 on_limit="error"))
    with pytest.raises(DataError):
        for chunk in _gzip_bomb(HEAD, 10 * 1000**3):
            parser.feed(chunk)
    assert parser.bytes_out <= 3 * PIECE + 5


def _big_urlset(total: int) -> Iterator[bytes]:
    """About ``total`` bytes of urlset, 64 KB per chunk, never held whole."""
    yield HEAD
    block = b"".join(url_block(i) for i in range(1000))
    for _ in range(total // len(block)):
        for start in range(0, len(block), 65536):
            yield block[start:start + 65536]
    yield b"</urlset>\n"


@pytest.mark.parametrize(("fast", "on_limit"), [(True, "warn"), (True, "error"),
                                                (False, "error")])
def test_sixty_megabyte_urlset(fast: bool, on_limit: str) -> None:
    limits = SitemapLimits(max_urls_per_file=10_000_000, on_limit=on_limit)
    if on_limit == "error":
        with pytest.raises(DataError, match="content larger than 50,000,000 bytes"):
            parse(_big_urlset(60 * 1000**2), limits=limits, fast=fast)
        return
    parser, entries = parse(_big_urlset(60 * 1000**2), limits=limits, fast=fast)
    # Every URL wholly inside the first 50 MB is imported, and nothing after it.
    complete = (50_000_000 - len(HEAD)) // len(url_block(0))
    assert len(entries) == complete
    assert entries[-1].loc == f"https://www.example.com/page-{(complete - 1) % 1000:09d}"
    assert parser.problem_counts == {ProblemCode.OVER_SIZE_LIMIT: 1}


def test_truncated_and_corrupt_gzip() -> None:
    packed = zlib.compress(HEAD + url_block(1) + b"</urlset>", 9, wbits=31)
    with pytest.raises(DataError, match="gzip stream ends early"):
        parse(packed[:-20], url="t.gz")
    with pytest.raises(DataError, match="corrupt gzip stream"):
        parse(packed[:10] + b"\x00" * 40 + packed[50:])
    # Two gzip members in a row are one valid stream.
    parts = [zlib.compress(HEAD + url_block(1), wbits=31),
             zlib.compress(url_block(2) + b"</urlset>", wbits=31)]
    _, entries = parse(b"".join(parts), chunk=3)
    assert len(entries) == 2


def test_not_a_sitemap() -> None:
    with pytest.raises(DataError) as caught:
        parse(b"\n<!doctype html>\n<html><body>hi</body></html>", url="page")
    assert str(caught.value) == "page:2:1: not a sitemap: an HTML page"
    with pytest.raises(DataError) as caught:
        parse(b"<?xml version='1.0'?>\n<html><body/></html>", url="page")
    assert str(caught.value) == ("page:2: not a sitemap: root element <html> is none of "
                                 "urlset, sitemapindex, rss, feed")
    with pytest.raises(DataError, match="binary content"):
        parse(b"\x00\x01\x02 PNG")


def test_too_deep_nesting_fails() -> None:
    doc = HEAD + b"<url>" + b"<a>" * 300 + b"</a>" * 300 + b"</url></urlset>"
    with pytest.raises(DataError, match="[Ee]xcessive depth"):
        parse(doc)


def test_empty_and_whitespace_input() -> None:
    parser, entries = parse(b"")
    assert entries == [] and parser.count == 0
    parser, entries = parse(b"  \n\n ")
    assert entries == [] and parser.count == 0
    with pytest.raises(DataError, match="malformed XML"):
        parse(HEAD)  # a urlset that never ends


def test_endless_line_in_text_sitemap_is_dropped() -> None:
    data = b"http://a.example/1\n" + b"x" * 100_000 + b"\nhttp://a.example/3\n"
    parser, entries = parse(data, chunk=1000)
    assert [(e.loc, e.line) for e in entries] == [("http://a.example/1", 1),
                                                   ("http://a.example/3", 3)]
    assert [(p.code, p.line) for p in parser.problems] == [(ProblemCode.URL_TOO_LONG, 2)]


def _tricky_urlset() -> bytes:
    return (HEAD
            + b"<url><loc>https://a.example/1?x=1&amp;y=&#x41;&#66;</loc>"
              b"<lastmod>2024-05-06T07:08:09+02:00</lastmod><changefreq>Weekly</changefreq>"
              b"<priority>2</priority></url>\n"
            + b"<!-- a comment between urls stays on the fast path -->\n"
            + b"<url><loc>not a url</loc></url>\n"
            + b"<url><!-- a comment inside hands over to the tree parser -->"
              b"<loc>https://a.example/3</loc></url>\n"
            + b"<url><loc>https://a.example/4</loc><lastmod>junk</lastmod></url>\n"
            + b"<url><loc>https://a.example/5</loc></url><url><loc>broken</lo></url>\n")


def test_fast_path_fallback_matches_the_tree_parser() -> None:
    doc = _tricky_urlset()
    results = []
    for fast in (True, False):
        parser = None
        with pytest.raises(DataError) as caught:
            parse(doc, url="t.xml", fast=fast)
        # Up to the error both paths return the same entries and problems.
        parser, entries = parse(doc[:doc.rindex(b"<url><loc>broken")] + b"</urlset>",
                                fast=fast)
        results.append((str(caught.value), entries,
                        [(p.code, p.line, p.value) for p in parser.problems]))
    assert results[0] == results[1]
    message, entries, problems = results[0]
    assert message == ("t.xml:8:63: malformed XML: Opening and ending tag mismatch: loc line 8 "
                       "and lo")
    assert entries == [
        UrlEntry("https://a.example/1?x=1&y=AB", "2024-05-06T05:08:09Z", "weekly", None, line=3),
        UrlEntry("https://a.example/3", line=6),
        UrlEntry("https://a.example/4", line=7),
        UrlEntry("https://a.example/5", line=8),
    ]
    assert problems == [
        (ProblemCode.BAD_PRIORITY, 3, "2"),
        (ProblemCode.INVALID_URL, 5, "not a url"),
        (ProblemCode.BAD_LASTMOD, 7, "junk"),
    ]


def test_fallback_keeps_columns_on_a_one_line_file() -> None:
    doc = (HEAD.rstrip(b"\n") + url_block(1).rstrip(b"\n") + b"<url><loc>https://a.example/x"
           b"</loc><video:video xmlns:video='v'/></url><url><loc>x</loc><bad></url></urlset>")
    errors = []
    for fast in (True, False):
        with pytest.raises(DataError) as caught:
            parse(doc, fast=fast, chunk=50)
        errors.append((caught.value.line, caught.value.column, caught.value.problem))
    assert errors[0] == errors[1]
    assert errors[0] == (2, 220, "malformed XML: Opening and ending tag mismatch: bad line 2 "
                                 "and url")


def test_fast_path_images_match_the_tree_parser() -> None:
    img = 'xmlns:i="http://www.google.com/schemas/sitemap-image/1.1"'
    doc = (f'<?xml version="1.0"?>\n<urlset {NS} {img}>\n'.encode()
           + b"<url><loc>https://a.example/1</loc><i:image><i:loc> https://c.example/1&amp;x"
             b"</i:loc></i:image></url>\n"
           + b"<url><loc>https://a.example/2</loc><i:image><i:loc></i:loc></i:image>"
             b"<i:image><i:loc>https://c.example/2b</i:loc></i:image></url>\n"
           + b"<url><loc>https://a.example/3</loc>\n  <i:image>\n <i:loc>https://c.example/3a"
             b"</i:loc></i:image><i:image><i:loc>https://c.example/3b</i:loc></i:image>\n"
             b"<i:image><i:loc> </i:loc></i:image></url>\n"
           + b"<url><loc>https://a.example/4</loc><i:image><i:loc>https://c.example/4</i:loc>"
             b"<i:title>T</i:title></i:image></url>\n</urlset>\n")
    fast_parser, fast = parse(doc, chunk=11)
    _, tree = parse(doc, fast=False)
    assert fast == tree
    assert [[i.loc for i in e.images] for e in fast if isinstance(e, UrlEntry)] == [
        ["https://c.example/1&x"], ["https://c.example/2b"],
        ["https://c.example/3a", "https://c.example/3b"], ["https://c.example/4"]]
    assert fast_parser.problems == []


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("children", [b"<a/>", b"<a>x</a>\n"])
def test_an_entry_that_never_ends_fails_before_it_fills_memory(fast: bool,
                                                              children: bytes) -> None:
    body = HEAD + url_block(1) + b"<url><loc>https://a.example/wide</loc>" + \
        children * 1_000_000 + b"</url></urlset>"
    started = time.monotonic()
    with pytest.raises(DataError) as caught:
        parse(body, chunk=1 << 16, fast=fast)
    assert time.monotonic() - started < 5
    # The wide entry starts on line 4; the error is where reading stopped.
    assert caught.value.line is not None and caught.value.line >= 4
    if children == b"<a/>":
        assert caught.value.line == 4
    assert caught.value.problem == ("no sitemap entry ended in the last 2,000,000 bytes or "
                                    "50,000 tags; the rest of the file is not read")


def test_a_url_with_a_thousand_captioned_images_is_read() -> None:
    images = "".join(f"<image:image><image:loc>https://cdn.example/{i}.jpg</image:loc>"
                     f"<image:caption>Caption number {i} of a long gallery</image:caption>"
                     "</image:image>" for i in range(1000))
    body = (f'<?xml version="1.0"?><urlset {NS} xmlns:image="http://www.google.com/schemas/'
            f'sitemap-image/1.1"><url><loc>https://a.example/gallery</loc>{images}</url>'
            "</urlset>").encode()
    _, entries = parse(body, chunk=4096)
    [entry] = entries
    assert isinstance(entry, UrlEntry) and len(entry.images) == 1000
