"""The reader threads of a sitemap crawl: fetch and parse files, send what they read back.

Each file is read on a thread of a pool (at most ``sitemap.concurrency`` at once per host);
its batches, restarts and final outcome travel through one bounded queue to the thread that
owns the store (:mod:`.crawl`), so a slow writer holds the readers back instead of memory
growing.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Empty, Full, Queue

from ingestctl.errors import IngestError, TransientError
from ingestctl.interrupt import Interrupted
from ingestctl.jobs.contract import ImportContext
from ingestctl.sources.http import HttpFetcher
from ingestctl.sources.sitemap.fetch import (
    Cancelled,
    Done,
    FileTask,
    Message,
    Outcome,
    ReadSettings,
    read_file,
)
from ingestctl.sources.sitemap.redirects import host_of
from ingestctl.store.database import store_error

log = logging.getLogger("ingestctl.sitemap")

#: Seconds a cancelled crawl waits for its reader threads (requests in flight are aborted;
#: one still connecting is left to finish on its own).
CANCEL_WAIT = 1.0


def is_http(url: str) -> bool:
    """True for an http(s) URL (anything else is a local path)."""
    return url.startswith(("http://", "https://"))


class Readers:
    """The pool of reader threads of one crawl and the queue they answer through."""

    def __init__(self, ctx: ImportContext, concurrency: int, disk: Path) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        #: The file whose disk holds the staging files, named when a staging write fails.
        self.disk = disk
        self.queue: Queue[Message] = Queue(maxsize=max(2, concurrency))
        self.cancel = threading.Event()
        #: Held while touching the context, which reader threads and the writer share.
        self.lock = threading.Lock()
        self.threads = ThreadPoolExecutor(max_workers=min(32, 4 * concurrency),
                                          thread_name_prefix="sitemap")
        self.slots: dict[str, threading.BoundedSemaphore] = {}
        self.futures: list[Future[None]] = []
        self._fetcher: HttpFetcher | None = None

    def submit(self, task: FileTask, settings: ReadSettings) -> None:
        """Read ``task`` on a thread once its host has a free slot."""
        fetcher = self._http() if is_http(task.url) else None
        slot = self.slots.setdefault(host_of(task.url) if fetcher else "",
                                     threading.BoundedSemaphore(self.concurrency))
        self.futures.append(self.threads.submit(self._work, task, fetcher, settings, slot))

    def next(self) -> Message:
        """The next message of any reader; raises Interrupted when the job is cancelled."""
        # Readers cut by a cancellation send nothing more: check the token while idle.
        while True:
            try:
                return self.queue.get(timeout=0.25)
            except Empty:
                self.ctx.cancel.check()

    def shutdown(self) -> None:
        """Wait for the readers; after a cancellation, at most CANCEL_WAIT seconds."""
        if not self.cancel.is_set():
            self.threads.shutdown(wait=True)
            return
        # Workers may be blocked on a full queue: drain it until they have all stopped.
        until = time.monotonic() + CANCEL_WAIT
        while not all(f.done() for f in self.futures) and time.monotonic() < until:
            with contextlib.suppress(Empty):
                self.queue.get(timeout=0.05)
        stuck = sum(not f.done() for f in self.futures)
        if stuck:
            log.info("%d sitemap reader(s) still connecting; not waiting for them", stuck)
        self.threads.shutdown(wait=not stuck, cancel_futures=True)

    def _http(self) -> HttpFetcher:
        if self._fetcher is None:
            fetcher = self.ctx.http()
            on_response, on_retry = fetcher.on_response, fetcher.on_retry
            lock = self.lock

            def counted(url: str, code: str) -> None:
                with lock:
                    if on_response is not None:
                        on_response(url, code)

            def retried(number: int, error: IngestError, wait: float) -> None:
                with lock:
                    if on_retry is not None:
                        on_retry(number, error, wait)

            fetcher.on_response, fetcher.on_retry = counted, retried
            self._fetcher = fetcher
        return self._fetcher

    def _work(self, task: FileTask, fetcher: HttpFetcher | None, settings: ReadSettings,
              slot: threading.BoundedSemaphore) -> None:
        try:
            with slot:
                read_file(task, fetcher, settings, self.send)
        except (Cancelled, Interrupted):
            return
        except sqlite3.Error as exc:  # its staging file could not be written: the disk is full
            self._report(task, store_error(self.disk, exc))
        except Exception as exc:  # a bug must not leave the writer waiting for ever
            log.exception("reading %s failed", task.url)
            self._report(task, TransientError(f"unexpected {type(exc).__name__}: {exc}",
                                              url=task.url))

    def _report(self, task: FileTask, error: IngestError) -> None:
        try:
            self.send(Done(task.id, Outcome("failed", error=error)))
        except Cancelled:
            return

    def send(self, msg: Message) -> None:
        """Queue ``msg`` for the writer; raises Cancelled once the crawl is cancelled."""
        while True:
            if self.cancel.is_set():
                raise Cancelled()
            try:
                self.queue.put(msg, timeout=0.1)
                return
            except Full:
                continue
