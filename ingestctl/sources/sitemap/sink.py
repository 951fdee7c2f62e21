"""The writer side of a crawl: batches into the store, quality counters, per-file bookkeeping.

Everything here runs on the thread that owns the store connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestctl.quality import SitemapStatsAccumulator
from ingestctl.sources.sitemap.fetch import Batch, FileTask, Outcome
from ingestctl.sources.sitemap.model import ChildSitemap, ProblemCode
from ingestctl.store.sitemaps import SitemapFile, UrlWriter

_INVALID = (ProblemCode.INVALID_URL, ProblemCode.URL_TOO_LONG, ProblemCode.MISSING_LOC)
_OVER = (ProblemCode.OVER_URL_LIMIT, ProblemCode.OVER_SIZE_LIMIT)
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
    position: int = 0
    counted: int = 0
    children: list[ChildSitemap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Sink:
    """Writes batches and feeds the quality accumulator exactly once per entry."""

    def __init__(self, writer: UrlWriter, acc: SitemapStatsAccumulator) -> None:
        self.writer = writer
        self.acc = acc
        self.written = 0
        self.problem_counts: dict[str, int] = {}

    def restart(self, st: FileState) -> None:
        """The file is read again from the start (a retried request)."""
        st.written = st.position = 0
        st.children.clear()

    def batch(self, st: FileState, msg: Batch) -> None:
        """Write one batch of ``st``'s rows and count its entries."""
        rows = msg.urls.urls
        if rows:
            self.writer.write(st.task.id, msg.urls)
            st.written += len(rows)
            self.written += len(rows)
            # A re-read file (retried request) is not counted twice.
            skip = max(0, st.counted - st.position)
            st.position += len(rows)
            st.counted = max(st.counted, st.position)
            add = self.acc.add
            scope = st.task.url if st.task.url.startswith(("http://", "https://")) else None
            for loc, lastmod, _cf, _pr in rows[skip:] if skip else rows:
                add(loc, lastmod, sitemap_url=scope)
        st.children.extend(msg.children)

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
