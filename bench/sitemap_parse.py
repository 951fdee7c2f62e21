"""Parse speed of ingestctl's SitemapParser against a plain lxml iterparse loop.

Generates a 50,000-URL urlset (every URL with lastmod, changefreq, priority and one image) in
memory, plain and gzipped, and prints URLs per second for each, best of several runs, one core.

    python bench/sitemap_parse.py [--urls 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import time
from collections.abc import Callable

from lxml import etree

from ingestctl.sources.sitemap.parser import SitemapParser

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
IMG = "{http://www.google.com/schemas/sitemap-image/1.1}"
CHUNK = 64 * 1024


def make_urlset(count: int) -> bytes:
    """A urlset of ``count`` URLs, each with an image; lastmods all differ."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
             'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
             'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n']
    for i in range(count):
        day, sec = i % 28 + 1, i % 86400
        parts.append(
            f"<url><loc>https://www.example.com/products/item-{i:07d}.html</loc>"
            f"<lastmod>2024-01-{day:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
            f"+00:00</lastmod><changefreq>daily</changefreq><priority>0.8</priority>"
            f"<image:image><image:loc>https://cdn.example.com/img/{i:07d}.jpg</image:loc>"
            f"</image:image></url>\n")
    parts.append("</urlset>\n")
    return "".join(parts).encode()


def ingestctl_parse(data: bytes) -> int:
    """URLs (with their images) through SitemapParser, fed in 64 KB chunks like a socket."""
    parser = SitemapParser("bench")
    count = 0
    for start in range(0, len(data), CHUNK):
        count += len(parser.feed(data[start:start + CHUNK]))
    return count + len(parser.close())


def lxml_iterparse(data: bytes) -> int:
    """The textbook loop: iterparse on url ends, findtext the fields, clear as we go."""
    raw = io.BytesIO(data)
    source = gzip.GzipFile(fileobj=raw) if data[:2] == b"\x1f\x8b" else raw
    count = 0
    for _event, el in etree.iterparse(source, tag=NS + "url"):
        el.findtext(NS + "loc")
        el.findtext(NS + "lastmod")
        el.findtext(f"{IMG}image/{IMG}loc")
        count += 1
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    return count


def best_rate(function: Callable[[bytes], int], data: bytes, urls: int, runs: int) -> float:
    """URLs per second of the fastest of ``runs`` runs."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.process_time()
        got = function(data)
        best = min(best, time.process_time() - start)
        assert got == urls, (function.__name__, got)
    return urls / best


def main() -> None:
    """Print the table."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--urls", type=int, default=50_000)
    args.add_argument("--runs", type=int, default=5)
    opts = args.parse_args()
    plain = make_urlset(opts.urls)
    packed = gzip.compress(plain, 6)
    print(f"{opts.urls:,} URLs with images: {len(plain) / 1e6:.1f} MB plain, "
          f"{len(packed) / 1e6:.1f} MB gzipped; best of {opts.runs} runs, CPU time of one core")
    print(f"{'input':8} {'ingestctl URLs/s':>17} {'lxml iterparse URLs/s':>22} {'ratio':>6}")
    for name, data in (("plain", plain), ("gzip", packed)):
        ours = best_rate(ingestctl_parse, data, opts.urls, opts.runs)
        base = best_rate(lxml_iterparse, data, opts.urls, opts.runs)
        print(f"{name:8} {ours:17,.0f} {base:22,.0f} {ours / base:6.2f}")


if __name__ == "__main__":
    main()
