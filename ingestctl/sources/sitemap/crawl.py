"""One attempt of a sitemap import: discover, follow the tree, fetch concurrently, write once.

The thread that calls :meth:`Crawl.run` owns the store connection and is the only writer.
Reader threads (:mod:`.readers`) fetch and parse files (:mod:`.fetch`) and pass batches
through a bounded queue; this thread writes them, decides which listed files to follow
(depth, cycles, ``max_files``, cross-host policy, resume) and reports progress. A file done
by an earlier attempt of the same job is not fetched again.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingestctl.clock import to_iso
from ingestctl.errors import (
    IngestError,
    NotFoundError,
    RateLimitedError,
    StoreError,
    TransientError,
)
from ingestctl.jobs.contract import AttemptReport, ImportContext
from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator
from ingestctl.sources.sitemap.fetch import (
    Batch,
    FileTask,
    Message,
    Outcome,
    ReadSettings,
    Restart,
)
from ingestctl.sources.sitemap.heap import keep_heap_small
from ingestctl.sources.sitemap.model import SitemapLimits
from ingestctl.sources.sitemap.pool import ParsePool
from ingestctl.sources.sitemap.readers import Readers, is_http
from ingestctl.sources.sitemap.redirects import host_of
from ingestctl.sources.sitemap.report import Outcomes, failure
from ingestctl.sources.sitemap.report import result as attempt_result
from ingestctl.sources.sitemap.sink import FileState, Sink
from ingestctl.sources.sitemap.staging import StagingArea, staging_dir
from ingestctl.store import SQLITE
from ingestctl.store import sitemaps as sm
from ingestctl.store.sitemaps import DONE_STATUSES, SitemapFile, UrlWriter


@dataclass
class _Listed:
    url: str
    allowed: frozenset[str] | None
    root: bool = False


class Crawl:
    """Runs one attempt of a sitemap job; see the module docstring."""

    def __init__(self, ctx: ImportContext) -> None:
        keep_heap_small()
        self.ctx = ctx
        self.cfg = ctx.config.sitemap
        self.limits = SitemapLimits.from_config(self.cfg)
        self.job = ctx.job
        self.store = ctx.store
        moment = ctx.clock.now()
        self.now = to_iso(moment) or ""
        self.prior = {f.url: f for f in sm.files_of(self.store, self.job.import_id)}
        self.acc = SitemapStatsAccumulator(now=moment, max_url_length=self.cfg.max_url_length)
        self.area = StagingArea(staging_dir(self.store.location))
        self.sink = Sink(UrlWriter(self.store, self.job.import_id, self.job.id, self.now),
                         self.acc, self.area)
        disk = Path(self.store.where) if self.store.dialect == SQLITE else self.area.path
        self.readers = Readers(ctx, self.cfg.concurrency, Path(disk))
        self.cancel = self.readers.cancel
        processes = _processes(self.cfg.parse_processes, self.cfg.concurrency)
        self.pool = ParsePool(processes) if processes else None
        self.read = ReadSettings(self.limits, moment, self.cancel, self.area.path)
        self.states: dict[int, FileState] = {}
        self.inflight = 0
        self.seen: set[str] = set()
        self.counts = {"files": 0, "not_modified": 0, "failed_files": 0, "refused_files": 0,
                       "cycles": 0, "resumed_files": 0}
        self.files_total = 0
        self.incomplete = False
        self.failures: list[tuple[str, IngestError]] = []
        self.facts: list[dict[str, Any]] = []
        self.roots = 0
        self.root_errors: list[IngestError] = []

    # -- the attempt ---------------------------------------------------------------------

    def run(self) -> AttemptReport:
        """Crawl the job's target; raise the root's error, or a transient one to resume."""
        try:
            self._start(self.job.target)
            while self.inflight:
                self._handle(self.readers.next())
        except BaseException:
            self.cancel.set()
            raise
        finally:
            self._shutdown()
        return self._finish()

    def _start(self, target: str) -> None:
        parts = urlsplit(target) if is_http(target) else None
        if parts is not None and parts.path.endswith("/robots.txt"):
            self._follow(None, [_Listed(target, None, root=True)], 0, robots=True)
        elif parts is not None and parts.path in ("", "/") and not parts.query:
            self._follow(None, [_Listed(urljoin(target, "/robots.txt"), None, root=True)], 0,
                         robots=True)
        elif parts is None and target.rsplit("/", 1)[-1] == "robots.txt":
            self._follow(None, [_Listed(target, None, root=True)], 0, robots=True)
        else:
            allowed = frozenset({host_of(target)}) if parts is not None else None
            self._follow(None, [_Listed(target, allowed, root=True)], 0)

    def _handle(self, msg: Message) -> None:
        st = self.states[msg.task_id]
        if isinstance(msg, Batch):
            self.sink.batch(st, msg)
            self._progress(st.task.url)
        elif isinstance(msg, Restart):
            self.sink.restart(st)
        else:
            self.inflight -= 1
            self._done(st, msg.outcome)
            self._progress(st.task.url)

    def _progress(self, current: str) -> None:
        # Worker threads count requests into the context: share its lock.
        with self.readers.lock:
            self.ctx.progress(items=self.sink.written, current=current,
                              files_done=sum(self.counts[k] for k in
                                             ("files", "not_modified", "failed_files")),
                              files_total=self.files_total)

    # -- deciding what to fetch ------------------------------------------------------------

    def _follow(self, parent: FileState | None, listed: list[_Listed], depth: int, *,
                robots: bool = False, finish: SitemapFile | None = None) -> None:
        """Record what ``parent`` lists (with its own outcome, in one transaction) and fetch
        what needs fetching; files done earlier by this job are only walked."""
        rows: list[tuple[str, str | None, int, str, str | None]] = []
        plans: list[_Listed] = []
        walk: list[tuple[_Listed, SitemapFile]] = []
        parent_url = parent.task.url if parent is not None else None
        for item in listed:
            if item.url in self.seen:
                self.counts["cycles"] += 1
                if parent is not None:
                    parent.notes.append(f"cycle: lists {item.url}, already read by this job")
                continue
            self.seen.add(item.url)
            prior = self.prior.get(item.url)
            if prior is not None and prior.job_id == self.job.id and \
                    prior.status in DONE_STATUSES:
                walk.append((item, prior))
                continue
            reason = self._refusal(item, depth)
            if reason is not None:
                self.counts["refused_files"] += 1
                rows.append((item.url, parent_url, depth, "refused", reason))
                continue
            self.files_total += 1
            rows.append((item.url, parent_url, depth, "pending", None))
            plans.append(item)
        if finish is not None and parent is not None:
            finish.problems = self.sink.file_problems(parent, parent.outcome) \
                if parent.outcome is not None else finish.problems
        with self.store.write() as conn:
            if finish is not None:
                sm.finish_file(conn, finish)
            ids = {url: sm.list_file(conn, self.job.import_id, self.job.id, url, parent_url,
                                     depth, status=status, reason=reason)
                   for url, parent_url, depth, status, reason in rows}
        for item in plans:
            self._submit(item, ids[item.url], parent_url, depth, robots)
        for item, prior in walk:
            self._walk(item, prior, depth)

    def _refusal(self, item: _Listed, depth: int) -> str | None:
        if depth > self.cfg.max_depth:
            return f"nested deeper than max_depth ({self.cfg.max_depth})"
        if self.files_total >= self.cfg.max_files:
            self.incomplete = True
            return f"max_files ({self.cfg.max_files}) reached for this job"
        if item.allowed is not None and not self.cfg.allow_cross_host and is_http(item.url):
            host = host_of(item.url)
            if host not in item.allowed:
                return (f"on another host ({host}) than its root sitemap; not followed unless "
                        "that host's robots.txt lists the root or allow_cross_host = true")
        return None

    def _walk(self, item: _Listed, prior: SitemapFile, depth: int) -> None:
        """A file this job already read (an earlier attempt): follow what it listed.

        It counts in the quality shares as read, so they cover the whole tree, not only the
        files this attempt fetched.
        """
        self.counts["resumed_files"] += 1
        self.files_total += 1
        if item.root and prior.kind != "robots":
            self.roots += 1
        if not item.root:
            self.acc.add_child(item.url, ok=True)
        if prior.kind in ("sitemapindex", "robots"):
            task = FileTask(prior.id, item.url, prior.parent_url, depth, item.url,
                            robots=prior.kind == "robots")
            st = FileState(task, item.allowed, prior, root=item.root)
            children = sm.children_of(self.store, self.job.import_id, item.url, self.job.id)
            if prior.kind == "robots":
                self.acc.set_robots_sitemaps([c.url for c in children])
            else:
                self.acc.add_index_children([c.url for c in children], index_url=item.url)
            self._follow(st, self._children(st, [c.url for c in children]),
                         depth + (0 if prior.kind == "robots" else 1))

    def _children(self, st: FileState, urls: list[str]) -> list[_Listed]:
        if st.task.robots:
            # Sitemaps named by robots.txt are cross-submitted by that host (before and after
            # the redirects of robots.txt itself).
            if not is_http(st.task.url):
                return [_Listed(u, None, root=True) for u in urls]
            hosts = {host_of(st.task.url), *st.final_hosts}
            return [_Listed(u, frozenset({*hosts, host_of(u)}), root=True) for u in urls]
        allowed = st.allowed | st.final_hosts if st.allowed is not None else None
        return [_Listed(u, allowed) for u in urls]

    def _submit(self, item: _Listed, file_id: int, parent: str | None, depth: int,
                robots: bool) -> None:
        prior = self.prior.get(item.url)
        conditional = prior is not None and prior.status in DONE_STATUSES and not robots
        # The job's own target may redirect anywhere (the address rule still holds); the
        # files it leads to keep to the hosts their listing allows.
        hop_hosts = None if self.cfg.allow_cross_host or parent is None else item.allowed
        task = FileTask(file_id, item.url, parent, depth, item.url,
                        etag=prior.etag if conditional and prior else None,
                        last_modified=prior.last_modified if conditional and prior else None,
                        robots=robots, digest=prior.digest if conditional and prior else None,
                        raw_digest=prior.raw_digest if conditional and prior else None,
                        hop_hosts=hop_hosts)
        self.states[file_id] = FileState(task, item.allowed, prior, root=item.root)
        if item.root and not robots:
            self.roots += 1
        self.inflight += 1
        # Children are the big files: they go to the parse processes, when there are any.
        settings = self.read if item.root or self.pool is None else ReadSettings(
            self.limits, self.read.now, self.cancel, self.area.path, self.pool)
        self.readers.submit(task, settings)

    def _shutdown(self) -> None:
        try:
            self.readers.shutdown()
            if self.pool is not None:
                self.pool.close()
        finally:
            # The staging files go whatever ended the crawl: after a full disk, they hold the
            # space the failed attempt needs to be recorded.
            self.area.close()

    # -- outcomes --------------------------------------------------------------------------

    def _done(self, st: FileState, outcome: Outcome) -> None:
        task = st.task
        st.outcome = outcome
        f = SitemapFile(task.url, task.parent, task.depth, outcome.kind, outcome.status,
                        outcome.http_status, outcome.etag, outcome.last_modified,
                        outcome.bytes, st.written, job_id=self.job.id, fetched_at=self.now,
                        checked_at=self.now, redirects=outcome.redirects or None, id=task.id)
        if task.parent is None and outcome.final_url and is_http(outcome.final_url):
            st.final_hosts = frozenset({host_of(outcome.final_url)})
        if outcome.status == "failed":
            self._failed(st, f, outcome)
            return
        if outcome.status == "not_modified":
            self.counts["not_modified"] += 1
            prior = st.prior
            assert prior is not None
            f.kind, f.urls, f.bytes, f.fetched_at = prior.kind, prior.urls, prior.bytes, None
            f.problems, f.summary = prior.problems, prior.summary
            f.digest, f.raw_digest = prior.digest, prior.raw_digest
            st.outcome = None
            self.sink.replay(task.url, prior)
            if not st.root:
                self.acc.add_child(task.url, ok=True)
            urls: list[str] = []
            if prior.kind == "sitemapindex" and prior.job_id is not None:
                urls = [c.url for c in sm.children_of(self.store, self.job.import_id,
                                                      task.url, prior.job_id)]
            self._follow(st, self._children(st, urls), task.depth + 1, finish=f)
            return
        self.counts["files"] += 1
        f.digest, f.raw_digest = outcome.digest, outcome.raw_digest
        f.summary = asdict(outcome.summary) if outcome.summary is not None else None
        if task.robots:
            found = outcome.robots_sitemaps or []
            self.acc.set_robots_sitemaps(found)
            if not found:
                found = [urljoin(task.url, "/sitemap.xml")] if is_http(task.url) else []
            self._follow(st, self._children(st, found), 0, finish=f)
            return
        if not st.root:
            self.acc.add_child(task.url, ok=True)
        self.sink.file_summary(outcome.summary)
        urls = []
        if outcome.kind == "sitemapindex":
            urls = [c.loc for c in st.children]
            self.acc.add_index_children(urls, index_url=task.url)
            st.children = []
        self._follow(st, self._children(st, urls), task.depth + 1, finish=f)

    def _failed(self, st: FileState, f: SitemapFile, outcome: Outcome) -> None:
        error = outcome.error
        assert error is not None
        if isinstance(error, StoreError):  # the store's disk, not the file: stop the attempt
            raise error
        self.counts["failed_files"] += 1
        f.error_class, f.error_message = error.error_class.value, str(error)
        f.problems = self.sink.file_problems(st, outcome)
        # What was read before a parse error is kept, and counted like any other file's.
        self.sink.file_summary(outcome.summary)
        sm.save_file(self.store, f)
        if st.task.robots:
            if isinstance(error, NotFoundError) and is_http(st.task.url):
                # No robots.txt: the conventional location is the only guess left.
                self._follow(st, self._children(st, [urljoin(st.task.url, "/sitemap.xml")]), 0)
                return
            raise error
        if st.root and st.task.parent is None:
            # The job fails; what the file gave before its error is stored and counted.
            self.job.progress = {**(self.job.progress or {}), "items": self.sink.written}
            raise error
        if st.root:
            self.root_errors.append(error)
        else:
            self.acc.add_child(st.task.url, ok=False)
        self.failures.append((st.task.url, error))
        self.facts.append(failure(st.task.url, st.task.parent, error, st.written,
                                  outcome.http_status, st.prior, f.redirects))

    def _finish(self) -> AttemptReport:
        if self.root_errors and len(self.root_errors) == self.roots:
            raise self.root_errors[0]
        retryable = [(url, e) for url, e in self.failures if e.error_class.retryable]
        if retryable:
            raise _retry_error(retryable, self.files_total)
        complete = not self.failures and not self.incomplete
        removed = sm.mark_removed(self.store, self.job.import_id, self.job.id, self.now) \
            if complete and self._may_have_removed() else 0
        first = all(f.job_id == self.job.id for f in self.prior.values())
        seen = Outcomes(self.counts, self.facts, self.incomplete, self.sink.problem_counts,
                        first)
        result, items, duplicates = attempt_result(self.store, self.job.import_id, self.job.id,
                                                   seen, removed)
        return AttemptReport(items=self.sink.written, job_items=items, result=result,
                             summaries=[self.sink.summary()], duplicate_keys=duplicates)

    def _may_have_removed(self) -> bool:
        """False when no URL can have gone: a first import, or every file answered 304."""
        earlier = [f for f in self.prior.values() if f.urls and f.job_id != self.job.id]
        if not earlier:
            return False
        current = {f.url: f for f in sm.files_of(self.store, self.job.import_id)}
        return any(current[f.url].job_id != self.job.id or current[f.url].status != "not_modified"
                   for f in earlier if f.url in current)


def _retry_error(failed: list[tuple[str, IngestError]], total: int) -> IngestError:
    url, first = failed[0]
    message = (f"{len(failed)} of {total} sitemap files failed; a retry fetches only the "
               f"failed ones; first: {first}")
    if isinstance(first, RateLimitedError):
        return RateLimitedError(message, retry_after=first.retry_after, url=url)
    return TransientError(message, url=url)


def _processes(configured: int, concurrency: int) -> int:
    """Parse processes to use: as configured, or (-1, auto) one per core when there are two."""
    if configured >= 0:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    return min(cores, concurrency) if cores >= 2 else 0
