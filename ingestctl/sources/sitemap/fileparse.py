"""Parsing one sitemap file into row tuples, in a worker thread or a parse process.

:class:`FileParser` wraps :class:`SitemapParser` and turns entries into the plain tuples the
store writes (URL rows and extension rows), in batches, and counts the quality figures of the
file in its own :class:`SitemapStatsAccumulator`. Everything it returns pickles cheaply, so
the same class runs behind a pipe in :mod:`.pool`. It imports neither the store nor httpx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator
from ingestctl.quality.summaries import SitemapSummary
from ingestctl.sources.sitemap.model import (
    ChildSitemap,
    Problem,
    ProblemCode,
    SitemapLimits,
    UrlEntry,
)
from ingestctl.sources.sitemap.parser import SitemapParser

#: URLs per batch: one transaction each on the writer side.
BATCH = 2000

_URL_FIELDS = attrgetter("loc", "lastmod", "changefreq", "priority")

#: (urls, images, videos, news, alternates, children): the lists of one batch.
Rows = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[ChildSitemap]]


@dataclass
class FileResult:
    """What the parser found in a whole file."""

    kind: str | None
    bytes_in: int
    entries: int
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[ProblemCode, int] = field(default_factory=dict)
    summary: SitemapSummary | None = None


def _empty() -> Rows:
    return [], [], [], [], [], []


class FileParser:
    """Parser, batcher and quality counter of one file; feed raw bytes, collect batches."""

    def __init__(self, url: str, limits: SitemapLimits, now: datetime) -> None:
        self.url = url
        self.parser = SitemapParser(url, limits)
        scope = url if url.startswith(("http://", "https://")) else None
        self.acc = SitemapStatsAccumulator(scope, now=now, max_url_length=limits.max_url_length)
        self.rows = _empty()
        self.ready: list[Rows] = []

    @property
    def done(self) -> bool:
        """True once the parser ignores further input (size limit reached)."""
        return self.parser.done

    def feed(self, chunk: bytes) -> list[Rows]:
        """Batches completed by ``chunk``."""
        entries = self.parser.feed(chunk)
        if entries:
            self._add(entries)
        ready, self.ready = self.ready, []
        return ready

    def close(self) -> tuple[list[Rows], FileResult]:
        """The last batches and the file's result; raises DataError for a broken file."""
        self._add(self.parser.close())
        if self.rows[0] or self.rows[5]:
            self.ready.append(self.rows)
            self.rows = _empty()
        p = self.parser
        result = FileResult(p.kind.value if p.kind is not None else None, p.bytes_in, p.count,
                            p.problems, dict(p.problem_counts), self.acc.summary())
        ready, self.ready = self.ready, []
        return ready, result

    def _add(self, entries: list[UrlEntry | ChildSitemap]) -> None:
        urls, images, videos, news, alternates, children = self.rows
        found = [e for e in entries if type(e) is UrlEntry]
        if len(found) != len(entries):
            children.extend(e for e in entries if type(e) is ChildSitemap)
        add = self.acc.add
        for e in found:
            add(e.loc, e.lastmod)
            if e.images:
                images.extend((e.loc, n, i.loc, i.title, i.caption)
                              for n, i in enumerate(e.images))
            if e.videos or e.news is not None or e.alternates:
                videos.extend((e.loc, n, v.title, v.content_loc, v.player_loc, v.thumbnail_loc,
                               v.description) for n, v in enumerate(e.videos))
                if e.news is not None:
                    w = e.news
                    news.append((e.loc, w.publication_name, w.language, w.publication_date,
                                 w.title))
                alternates.extend((e.loc, n, a.hreflang, a.href)
                                  for n, a in enumerate(e.alternates))
        urls.extend(map(_URL_FIELDS, found))
        if len(urls) >= BATCH or len(children) >= BATCH:
            self.ready.append(self.rows)
            self.rows = _empty()
