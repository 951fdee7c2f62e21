"""The writer side of a crawl: staging files into the store, quality counters, bookkeeping.

Everything here runs on the thread that owns the store connection.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator
from ingestctl.quality.summaries import SitemapSummary, keep_example
from ingestctl.sources.sitemap.fetch import Batch, FileTask, Outcome
from ingestctl.sources.sitemap.model import ChildSitemap, ProblemCode
from ingestctl.sources.sitemap.staging import StagingArea
from ingestctl.store.sitemaps import SitemapFile, UrlWriter

_INVALID = (ProblemCode.INVALID_URL, ProblemCode.URL_TOO_LONG, ProblemCode.MISSING_LOC)
_OVER = (ProblemCode.OVER_URL_LIMIT, ProblemCode.OVER_SIZE_LIMIT)
_COUNTERS = ("urls", "invalid_urls", "lastmods", "unparseable_lastmod", "future_lastmod",
             "off_host_urls", "outside_path_urls")
#: Problems kept in full per file row (all are counted).
KEEP_PROBLEMS = 5


@dataclass
class FileState:
    """One file being read: where it sits, what was written, what it listed."""

    task: FileTask
    allowed: frozenset[str] | None
    prior: SitemapFile | None
    root: bool = False
    outcome: Outcome | None = None
    written: int = 0
    children: list[ChildSitemap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Where the job's own target ended up after its redirects: its children may live there.
    final_hosts: frozenset[str] = frozenset()


class Sink:
    """Writes batches and adds up the quality figures of the files read."""

    def __init__(self, writer: UrlWriter, acc: SitemapStatsAccumulator,
                 area: StagingArea) -> None:
        self.writer = writer
        self.acc = acc
        self.area = area
        self.written = 0
        self.problem_counts: dict[str, int] = {}
        self._parts = SitemapSummary()
        self._same: set[str] = set()
        self._mixed = False

    def restart(self, st: FileState) -> None:
        """The file is read again from the start (a retried request)."""
        self.written -= st.written
        st.written = 0
        st.children.clear()

    def batch(self, st: FileState, msg: Batch) -> None:
        """Merge ``st``'s staging files into the store (and delete them)."""
        for staged in msg.staged:
            if not self.area.owns(staged.path):
                raise ValueError(f"not a staging file of this crawl: {staged.path}")
            try:
                self.writer.merge(st.task.id, staged.path, staged.extensions)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(staged.path)
            st.written += staged.urls
            self.written += staged.urls
        st.children.extend(msg.children)

    def file_summary(self, part: SitemapSummary | None) -> None:
        """Add the quality figures of one file read completely."""
        if part is None:
            return
        into = self._parts
        for name in _COUNTERS:
            setattr(into, name, getattr(into, name) + getattr(part, name))
        for rule, values in part.examples.items():
            for value in values:
                keep_example(into.examples, rule, value)
        if part.lastmods - part.unparseable_lastmod > 0:
            if part.same_lastmod is None:
                self._mixed = True
            else:
                self._same.add(part.same_lastmod)

    def summary(self) -> SitemapSummary:
        """The job's quality summary: the crawl's own figures plus every file's."""
        total = self.acc.summary()
        self.file_summary(total)
        merged = self._parts
        for name in ("child_sitemaps", "failed_child_sitemaps", "files_over_limits",
                     "index_children", "robots_sitemaps", "robots_unlisted"):
            setattr(merged, name, getattr(total, name))
        merged.same_lastmod = next(iter(self._same)) if len(self._same) == 1 and \
            not self._mixed else None
        return merged

    def replay(self, url: str, prior: SitemapFile) -> None:
        """Count a file found unchanged (304 or same content) with the figures of its read."""
        if prior.summary:
            self.file_summary(SitemapSummary(**prior.summary))
        counts: dict[str, int] = (prior.problems or {}).get("counts", {})
        for code, n in counts.items():
            self.problem_counts[code] = self.problem_counts.get(code, 0) + n
        for _ in range(sum(counts.get(code.value, 0) for code in _INVALID)):
            self.acc.add_invalid("", "invalid (in a file unchanged since it was read)")
        if any(counts.get(code.value) for code in _OVER):
            self.acc.add_file_over_limits(url, "unchanged since it was read")

    def file_problems(self, st: FileState, outcome: Outcome) -> dict[str, Any] | None:
        """The parser's findings for the file row; counts them for the job and the rules."""
        counts = {code.value: n for code, n in outcome.problem_counts.items()}
        for code, n in counts.items():
            self.problem_counts[code] = self.problem_counts.get(code, 0) + n
        examples = [p for p in outcome.problems if p.code in _INVALID]
        for problem in examples:
            self.acc.add_invalid(problem.value or "", problem.message)
        extra = sum(outcome.problem_counts.get(code, 0) for code in _INVALID) - len(examples)
        for _ in range(max(0, extra)):
            self.acc.add_invalid("", "invalid")
        for problem in outcome.problems:
            if problem.code in _OVER:
                self.acc.add_file_over_limits(st.task.url, problem.message)
        if not counts and not st.notes:
            return None
        shown = [_describe(p.code.value, p.message, p.line, p.column)
                 for p in outcome.problems[:KEEP_PROBLEMS]]
        return {"counts": counts, "examples": shown + st.notes[:KEEP_PROBLEMS]}


def _describe(code: str, message: str, line: int | None, column: int | None) -> str:
    where = f"line {line}" + (f", column {column}" if column is not None else "") if line else ""
    return f"{code}: {message}" + (f" ({where})" if where else "")
