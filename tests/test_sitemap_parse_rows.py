"""The importer's form of the parser (row tuples, clean runs read in C loops) against entries."""

from __future__ import annotations

import gzip
from dataclasses import replace

import pytest

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.model import Image, Parsed, SitemapLimits, UrlEntry
from ingestctl.sources.sitemap.parser import SitemapParser

IMAGE_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/'
              b'schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
              b"\n")


def block(i: int, lastmod: str | None = "2024-01-02T03:04:05+00:00", extra: str = "",
          loc: str | None = None, image: str | None = "https://cdn.example/i.jpg") -> str:
    loc = loc if loc is not None else f"https://a.example/p/{i}?id={i}&amp;v=2"
    parts = [f"<url><loc>{loc}</loc>"]
    if lastmod is not None:
        parts.append(f"<lastmod>{lastmod}</lastmod>")
    parts.append(extra)
    if image is not None:
        parts.append(f"<image:image><image:loc>{image}</image:loc></image:image>")
    return "".join(parts) + "</url>\n"


def doc(blocks: list[str]) -> bytes:
    return IMAGE_HEAD + "".join(blocks).encode() + b"</urlset>\n"


def read(data: bytes, lines: bool, chunk: int, limits: SitemapLimits | None = None
         ) -> tuple[list[object], list[tuple[object, ...]], str | None]:
    parser = SitemapParser("https://a.example/s.xml", limits, lines=lines)
    out: list[Parsed] = []
    error = None
    try:
        for start in range(0, len(data), chunk):
            parser.feed_into(data[start:start + chunk], out)
        parser.close_into(out)
    except DataError as exc:
        error = str(exc)
    entries = [replace(e, line=0) if isinstance(e, UrlEntry) else e for e in out]
    rows = [UrlEntry(e[0], e[1], e[2], e[3], [], [], None, [], 0) if isinstance(e, tuple)
            else e for e in entries]
    images = [e[4] if isinstance(e, tuple) else None for e in entries]
    for row, image in zip(rows, images, strict=True):
        if image is not None and isinstance(row, UrlEntry):
            row.images.append(Image(image))
    problems = [(p.code, p.line, p.value) for p in parser.problems]
    return rows, problems, error


CLEAN = [block(i) for i in range(3000)]
SHAPES = {
    "clean runs": CLEAN,
    "utc Z and days": [block(i, "2024-01-02T03:04:05Z") for i in range(500)]
    + [block(i, "2024-02-03") for i in range(500, 900)],
    "no lastmod, no image": [block(i, None, image=None) for i in range(900)],
    "changefreq and priority": [block(i, extra="<changefreq>daily</changefreq><priority>0.5"
                                      "</priority>") for i in range(900)],
    "odd values inside a run": CLEAN[:700] + [
        block(700, "2024-13-02T03:04:05+00:00"), block(701, "2009-12-17 12:04:56Z"),
        block(702, extra="<changefreq>Daily</changefreq>"),
        block(703, extra="<priority>2</priority>"),
        block(704, loc="not a url"), block(705, loc=" https://a.example/spaced "),
        block(706, loc="https://a.example/&#x41;"), block(707, image=""),
        block(708, image=" https://cdn.example/spaced.jpg "),
        block(709, loc="https://other.example/x"),
        block(710, extra="<image:image><image:loc>https://cdn.example/2.jpg</image:loc>"
                         "</image:image>"),
        "<!-- a comment -->\n"] + CLEAN[711:1400],
    "a URL listed twice": CLEAN[:10] + CLEAN[:10],
}


@pytest.mark.parametrize("chunk", [977, 65536, 1 << 22])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rows_equal_the_entries_of_the_per_url_path(shape: str, chunk: int) -> None:
    data = doc(SHAPES[shape])
    assert read(data, lines=False, chunk=chunk) == read(data, lines=True, chunk=chunk)


def test_rows_of_a_gzipped_file_and_over_the_url_limit() -> None:
    data = gzip.compress(doc(CLEAN))
    limits = SitemapLimits(max_urls_per_file=2500)
    rows, problems, error = read(data, lines=False, chunk=65536, limits=limits)
    assert (rows, problems, error) == read(data, lines=True, chunk=65536, limits=limits)
    assert len(rows) == 2500 and error is None


@pytest.mark.parametrize("chunk", [977, 1 << 22])
def test_rows_read_before_a_syntax_error_are_kept(chunk: int) -> None:
    broken = doc(CLEAN[:1999] + ["<url><loc>https://a.example/x</lo></url>\n"] + CLEAN[:5])
    rows, _, error = read(broken, lines=False, chunk=chunk)
    assert error is not None and error.startswith("https://a.example/s.xml:2002:")
    assert len(rows) == 1999
    assert read(broken, lines=True, chunk=chunk)[0] == rows
