"""Parsing one sitemap file into staging files, in a worker thread or a parse process.

:class:`FileParser` wraps :class:`SitemapParser`: URL rows go into staging files
(:mod:`.staging`) as they are parsed, child sitemaps of an index are collected, and the quality
figures of the file are counted (by SQLite over each staging file, see
:class:`~.staging.BatchFigures`). Everything it returns pickles cheaply, so the same class runs
behind a pipe in :mod:`.pool`. It never raises for a broken file: it stops, stages what was
read before the error, and reports the error in :attr:`FileResult.error`, so a malformed file
keeps what was read before the error, whatever the size of a staging file. It imports neither
the store nor httpx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingestctl.errors import DataError
from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator, scope_prefixes
from ingestctl.quality.summaries import SitemapSummary
from ingestctl.sources.sitemap.model import (
    ChildSitemap,
    Parsed,
    Problem,
    ProblemCode,
    SitemapLimits,
    UrlEntry,
)
from ingestctl.sources.sitemap.parser import SitemapParser
from ingestctl.sources.sitemap.staging import EXTENSIONS, Staged, StageWriter

#: (staging files ready to merge, child sitemaps listed): what a piece of input completed.
Parts = tuple[list[Staged], list[ChildSitemap]]


@dataclass
class FileResult:
    """What the parser found in a whole file (or up to its error)."""

    kind: str | None
    bytes_in: int
    entries: int
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[ProblemCode, int] = field(default_factory=dict)
    summary: SitemapSummary | None = None
    digest: str | None = None
    raw_digest: str | None = None  # of the bytes as fetched, for a gzip file
    error: DataError | None = None


class FileParser:
    """Parser, stager and quality counter of one file; feed raw bytes, collect staged parts."""

    def __init__(self, url: str, limits: SitemapLimits, now: datetime, stage_dir: str) -> None:
        self.url = url
        self.parser = SitemapParser(url, limits, lines=False)
        scope = url if url.startswith(("http://", "https://")) else None
        self.acc = SitemapStatsAccumulator(scope, now=now, max_url_length=limits.max_url_length)
        self.stage = StageWriter(stage_dir, scope_prefixes(scope) if scope else None,
                                 self.acc.future_threshold)
        self.error: DataError | None = None

    @property
    def done(self) -> bool:
        """True once further input is ignored (size limit reached, or a parse error)."""
        return self.parser.done or self.error is not None

    def feed(self, chunk: bytes) -> Parts:
        """What ``chunk`` completed; after an error, what was read before it."""
        staged: list[Staged] = []
        children: list[ChildSitemap] = []
        if self.error is not None:
            return staged, children

        def spill(out: list[Parsed]) -> None:
            more, listed = self._stage(out)
            staged.extend(more)
            children.extend(listed)

        out: list[Parsed] = []
        try:
            self.parser.feed_into(chunk, out, spill)
        except DataError as exc:
            self.error = exc
            spill(out)
            staged.extend(self._flush())
            return staged, children
        spill(out)
        return staged, children

    def close(self) -> tuple[Parts, FileResult]:
        """The last staged parts and the file's result."""
        out: list[Parsed] = []
        if self.error is None:
            try:
                self.parser.close_into(out)
            except DataError as exc:
                self.error = exc
        staged, children = self._stage(out)
        staged += self._flush()
        p = self.parser
        self.acc.add_unreadable_lastmods(p.bad_lastmods, [
            q.value or "" for q in p.problems if q.code is ProblemCode.BAD_LASTMOD])
        ok = self.error is None
        result = FileResult(p.kind.value if p.kind is not None else None, p.bytes_in, p.count,
                            p.problems, dict(p.problem_counts), self.acc.summary(),
                            p.digest if ok else None, p.raw_digest if ok else None, self.error)
        return (staged, children), result

    def discard(self) -> None:
        """Drop what is staged but not handed over (the file is read again from the start)."""
        self.stage.discard()

    def _flush(self) -> list[Staged]:
        staged = self.stage.flush()
        self._count(staged)
        return staged

    def _stage(self, out: list[Parsed]) -> Parts:
        if not out:
            return [], []
        rows = [e for e in out if type(e) is tuple]
        children: list[ChildSitemap] = []
        extensions: dict[str, list[Any]] | None = None
        if len(rows) != len(out):
            # Rows keep document order: of a URL listed twice, the last listing wins.
            rows, extensions = [], {name: [] for name in EXTENSIONS}
            for e in out:
                if type(e) is tuple:
                    rows.append(e)
                elif type(e) is UrlEntry:
                    rows.append(_entry_rows(e, extensions))
                elif type(e) is ChildSitemap:
                    children.append(e)
        staged = self.stage.add(rows, extensions) if rows or extensions else []
        self._count(staged)
        return staged, children

    def _count(self, staged: list[Staged]) -> None:
        for part in staged:
            self.acc.add_counted(part.figures)


def _entry_rows(e: UrlEntry, ext: dict[str, list[Any]]) -> tuple[Any, ...]:
    """The URL row of an entry; its extension rows go into ``ext``."""
    image = None
    if len(e.images) == 1 and e.images[0].title is None and e.images[0].caption is None:
        image = e.images[0].loc
    elif e.images:
        ext["images"].extend((e.loc, n, i.loc, i.title, i.caption)
                             for n, i in enumerate(e.images))
    if e.videos:
        ext["videos"].extend((e.loc, n, v.title, v.content_loc, v.player_loc, v.thumbnail_loc,
                              v.description) for n, v in enumerate(e.videos))
    if e.news is not None:
        w = e.news
        ext["news"].append((e.loc, w.publication_name, w.language, w.publication_date, w.title))
    if e.alternates:
        ext["alternates"].extend((e.loc, n, a.hreflang, a.href)
                                 for n, a in enumerate(e.alternates))
    return (e.loc, e.lastmod, e.changefreq, e.priority, image)
