"""The worker side of a crawl: fetch one sitemap file, parse it as it streams, hand batches on.

A worker thread runs :func:`read_file` for one :class:`FileTask`. Bytes go from the socket (or
a local file) straight into a :class:`FileParser` (in this thread, or in a parse process of
:mod:`.pool`), which stages the rows in small SQLite files; their paths are sent as
:class:`Batch` messages through ``send`` (a bounded queue, so a slow writer slows the readers
down instead of letting staging files pile up). The file ends with one :class:`Done` message
carrying its outcome; nothing here touches the store.

A file read before (``FileTask.digest``) is first spooled to disk while its content is hashed:
when the hash matches, the file is not parsed at all and ends ``not_modified``, like a 304.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import httpx

from ingestctl.errors import DataError, IngestError, NotFoundError
from ingestctl.quality.summaries import SitemapSummary
from ingestctl.sources.http import HttpFetcher, iter_body
from ingestctl.sources.sitemap.digest import same_content
from ingestctl.sources.sitemap.fileparse import FileParser
from ingestctl.sources.sitemap.model import ChildSitemap, Problem, ProblemCode, SitemapLimits
from ingestctl.sources.sitemap.pool import ParsePool, RemoteParser
from ingestctl.sources.sitemap.redirects import HopRule
from ingestctl.sources.sitemap.robots import sitemaps_from_robots
from ingestctl.sources.sitemap.staging import Staged

CHUNK = 256 * 1024
#: Bytes of robots.txt read at most (Google reads 500 KiB).
ROBOTS_LIMIT = 512 * 1024

class Cancelled(BaseException):
    """The crawl is being abandoned; the worker stops reading.

    A BaseException, so the fetcher neither classifies nor retries it.
    """


@dataclass
class FileTask:
    """One file to read: its row id in sitemap_files, where it sits in the tree."""

    id: int
    url: str
    parent: str | None
    depth: int
    root: str
    etag: str | None = None
    last_modified: str | None = None
    robots: bool = False
    digest: str | None = None
    raw_digest: str | None = None
    #: Hosts a redirect hop may lead to; None: any (the address rule still applies).
    hop_hosts: frozenset[str] | None = None


@dataclass(slots=True)
class Restart:
    """The file is being read again from its first byte (a retried request)."""

    task_id: int


@dataclass(slots=True)
class Batch:
    """Staging files of one file's rows, and the child sitemaps an index listed."""

    task_id: int
    staged: list[Staged]
    children: list[ChildSitemap]


@dataclass
class ReadSettings:
    """What every read of one crawl shares."""

    limits: SitemapLimits
    now: datetime
    cancel: threading.Event
    stage_dir: str
    pool: ParsePool | None = None


@dataclass
class Outcome:
    """How reading one file ended."""

    status: str                      # ok | not_modified | failed
    kind: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    bytes: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[ProblemCode, int] = field(default_factory=dict)
    error: IngestError | None = None
    robots_sitemaps: list[str] | None = None
    final_url: str | None = None
    summary: SitemapSummary | None = None
    digest: str | None = None
    raw_digest: str | None = None
    redirects: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Done:
    """The last message of a file."""

    task_id: int
    outcome: Outcome


Message = Restart | Batch | Done
Send = Callable[[Message], None]


def _parse(task: FileTask, chunks: Iterator[bytes], job: ReadSettings, send: Send,
           outcome: Outcome) -> None:
    send(Restart(task.id))
    helper = job.pool.acquire() if job.pool is not None else None
    parser: FileParser | RemoteParser | None = None
    closed = False
    try:
        parser = (RemoteParser(helper, task.url, job.limits, job.now, job.stage_dir)
                  if helper is not None
                  else FileParser(task.url, job.limits, job.now, job.stage_dir))
        for chunk in chunks:
            if job.cancel.is_set():
                raise Cancelled()
            staged, children = parser.feed(chunk)
            if staged or children:
                send(Batch(task.id, staged, children))
            if parser.done:
                break
        (staged, children), result = parser.close()
        closed = True
    finally:
        if not closed and isinstance(parser, FileParser):
            parser.discard()  # a helper drops it when it starts its next file
        if helper is not None and job.pool is not None:
            job.pool.release(helper)
    if staged or children:
        send(Batch(task.id, staged, children))
    outcome.kind = result.kind
    outcome.bytes = result.bytes_in
    outcome.entries = result.entries
    outcome.problems = result.problems
    outcome.problem_counts = result.problem_counts
    outcome.summary = result.summary
    outcome.digest, outcome.raw_digest = result.digest, result.raw_digest
    if result.error is not None:
        raise result.error  # after what was read before it


def _file_chunks(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError("is a directory, not a sitemap file", url=str(path)) from None
    except OSError as exc:
        raise DataError(exc.strerror or str(exc), url=str(path)) from None


def _response_chunks(response: httpx.Response, url: str) -> Iterator[bytes]:
    # The parser recognises gzip files itself; only a transfer encoding needs decoding here.
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding and encoding != "identity":
        return iter_body(response, url=url)
    return response.iter_raw(CHUNK)


def read_file(task: FileTask, fetcher: HttpFetcher | None, job: ReadSettings,
              send: Send) -> None:
    """Read, parse and send one file; always ends with a :class:`Done` (unless cancelled)."""
    outcome = Outcome("ok")
    try:
        if task.robots:
            _read_robots(task, fetcher, outcome)
        elif fetcher is None:
            path = Path(task.url)
            reread = partial(_file_chunks, path)
            if task.digest is None or not _unchanged(task, reread(), reread, job, outcome):
                _parse(task, reread(), job, send, outcome)
        else:
            _fetch(task, fetcher, job, send, outcome)
    except IngestError as exc:
        outcome.status, outcome.error = "failed", exc
    except Cancelled:
        return
    send(Done(task.id, outcome))


def _unchanged(task: FileTask, chunks: Iterator[bytes], reread: Callable[[], Iterator[bytes]],
               job: ReadSettings, outcome: Outcome) -> bool:
    """True (and the outcome ``not_modified``) when the content is the one read last time."""
    assert task.digest is not None

    def checked() -> Iterator[bytes]:
        for chunk in chunks:
            if job.cancel.is_set():
                raise Cancelled()
            yield chunk

    same, size = same_content(checked(), reread, task.digest, task.raw_digest,
                              job.limits.max_bytes_per_file)
    if same:
        outcome.status, outcome.bytes = "not_modified", size
        outcome.digest, outcome.raw_digest = task.digest, task.raw_digest
    return same


def _fetch(task: FileTask, fetcher: HttpFetcher, job: ReadSettings, send: Send,
           outcome: Outcome) -> None:
    headers: dict[str, str] = {}
    if task.etag:
        headers["If-None-Match"] = task.etag
    if task.last_modified:
        headers["If-Modified-Since"] = task.last_modified

    def consume(response: httpx.Response) -> None:
        chunks = _response_chunks(response, task.url)
        if task.digest is None:
            _parse(task, chunks, job, send, outcome)
            return
        # Read before (and no 304): hash the content first, parse only when it changed.
        outcome.status = "ok"
        with tempfile.TemporaryFile(dir=job.stage_dir) as spool:

            def spooled() -> Iterator[bytes]:
                for chunk in chunks:
                    spool.write(chunk)
                    yield chunk

            def reread() -> Iterator[bytes]:
                spool.seek(0)
                return iter(partial(spool.read, CHUNK), b"")

            if _unchanged(task, spooled(), reread, job, outcome):
                return
            _parse(task, reread(), job, send, outcome)

    rule = HopRule(task.url, task.hop_hosts)
    try:
        fetched = fetcher.fetch(task.url, consume, headers=headers, on_redirect=rule)
    finally:
        outcome.redirects = rule.hops
    outcome.http_status = fetched.status_code
    outcome.final_url = fetched.url
    if fetched.not_modified:
        outcome.status = "not_modified"
        # A 304 may omit the validators: keep the ones we sent.
        outcome.etag = fetched.headers.get("etag") or task.etag
        outcome.last_modified = fetched.headers.get("last-modified") or task.last_modified
        return
    outcome.etag = fetched.headers.get("etag")
    outcome.last_modified = fetched.headers.get("last-modified")


def _read_robots(task: FileTask, fetcher: HttpFetcher | None, outcome: Outcome) -> None:
    outcome.kind = "robots"
    if fetcher is None:
        data = b"".join(_file_chunks(Path(task.url)))[:ROBOTS_LIMIT]
        final = task.url
    else:
        def consume(response: httpx.Response) -> bytes:
            parts: list[bytes] = []
            size = 0
            for chunk in iter_body(response, url=task.url):
                parts.append(chunk)
                size += len(chunk)
                if size >= ROBOTS_LIMIT:
                    break
            return b"".join(parts)[:ROBOTS_LIMIT]

        rule = HopRule(task.url, task.hop_hosts)
        try:
            fetched = fetcher.fetch(task.url, consume, on_redirect=rule)
        finally:
            outcome.redirects = rule.hops
        outcome.http_status = fetched.status_code
        data = fetched.value or b""
        final = fetched.url
    outcome.bytes = len(data)
    outcome.robots_sitemaps = sitemaps_from_robots(data.decode("utf-8", "replace"), final)
    outcome.entries = len(outcome.robots_sitemaps)
