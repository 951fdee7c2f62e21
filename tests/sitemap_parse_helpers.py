"""Helpers for the sitemap parser tests: run a parser over bytes, read the corpus MANIFEST."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ingestctl.sources.sitemap.model import Entry, SitemapLimits
from ingestctl.sources.sitemap.parser import SitemapParser


def parse(data: bytes | Iterable[bytes], url: str = "test", limits: SitemapLimits | None = None,
          chunk: int | None = None, fast: bool = True) -> tuple[SitemapParser, list[Entry]]:
    """Feed ``data`` (bytes, optionally re-chunked, or an iterable of chunks); close."""
    parser = SitemapParser(url, limits, fast=fast)
    if isinstance(data, bytes):
        size = chunk or max(len(data), 1)
        chunks: Iterable[bytes] = (data[i:i + size] for i in range(0, len(data), size))
    else:
        chunks = data
    entries: list[Entry] = []
    for piece in chunks:
        entries.extend(parser.feed(piece))
        if parser.done:
            break
    entries.extend(parser.close())
    return parser, entries


def manifest(corpus: Path) -> list[tuple[str, str, int | None]]:
    """(path, kind, entries) for every file row of the corpus MANIFEST."""
    rows = []
    for line in (corpus / "MANIFEST.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.match(r"^\d+$", cells[1]):
            rows.append((cells[0], cells[3], int(cells[4]) if cells[4] else None))
    return rows
