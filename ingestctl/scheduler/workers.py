"""The scheduler's worker threads: what runs now, per-thread stores and runners, the runs.

SQLite connections belong to one thread, so each worker thread opens its own store and keeps
a runner on it (rebuilt when a reload changes the config). One entry per import is kept in
flight: a second run of the same import is refused here before the job store would refuse it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ingestctl.clock import Clock, iso_out, to_iso
from ingestctl.config import Config
from ingestctl.errors import ImportAlreadyRunning
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.jobs.spec import spec_for_config
from ingestctl.models.jobs import JobStatus
from ingestctl.paths import Home
from ingestctl.resilience.breaker import BreakerBoard
from ingestctl.resilience.breaker_files import book_for
from ingestctl.scheduler.configured import ScheduledImport
from ingestctl.store import Store, open_store
from ingestctl.store import scheduling as sched_store

log = logging.getLogger("ingestctl.scheduler")

Submit = Callable[[Callable[[], None]], None]


@dataclass
class Inflight:
    """One import running (or about to run) in this process."""
    key: str
    name: str
    kind: str  # scheduled | retry
    slot: datetime | None = None
    job_id: int | None = None


class Workers:
    """Runs scheduled imports and retries in a thread pool (or inline, with ``submit``)."""

    def __init__(self, home: Home, owner: str, clock: Clock, events: EventBus,
                 config: Callable[[], Config], main_store: Callable[[], Store],
                 submit: Submit | None = None) -> None:
        self.home = home
        self.owner = owner
        self.clock = clock
        self.events = events
        self.config = config
        self.main_store = main_store
        self.submit = submit
        self.pool: ThreadPoolExecutor | None = None
        self.closed = False
        self.generation = 0
        self._lock = threading.Lock()
        self._inflight: dict[str, Inflight] = {}
        self._local = threading.local()
        self._stores: list[Store] = []
        self._main = threading.get_ident()

    def start(self, max_workers: int) -> None:
        """Start the pool (unless work runs inline)."""
        if self.submit is None:
            self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="ingestctl-run")

    def shutdown(self) -> None:
        """Take no new work; queued work that has not started is cancelled."""
        with self._lock:
            self.closed = True
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def running(self) -> list[Inflight]:
        """What runs now."""
        with self._lock:
            return list(self._inflight.values())

    def get(self, key: str) -> Inflight | None:
        """The entry in flight for an import key."""
        with self._lock:
            return self._inflight.get(key)

    def claim(self, entry: Inflight) -> bool:
        """Put ``entry`` in flight; False when its import already is (or we are closing)."""
        with self._lock:
            if entry.key in self._inflight or self.closed:
                return False
            self._inflight[entry.key] = entry
            return True

    def release(self, entry: Inflight) -> None:
        """Take a claimed entry out of flight without running it."""
        self._forget(entry)

    def _forget(self, entry: Inflight) -> None:
        with self._lock:
            if self._inflight.get(entry.key) is entry:
                del self._inflight[entry.key]

    def dispatch(self, entry: Inflight, work: Callable[[], None]) -> None:
        """Run ``work`` for a claimed entry; the entry leaves flight when it ends."""
        def wrapped() -> None:
            try:
                work()
            except Exception:  # the runner already records source errors; this is a bug
                log.exception("scheduled work for %s failed", entry.name)
            finally:
                self._forget(entry)

        if self.submit is not None:
            self.submit(wrapped)
            return
        assert self.pool is not None
        try:
            future = self.pool.submit(wrapped)
        except RuntimeError:  # the pool is shutting down
            self._forget(entry)
            return
        future.add_done_callback(lambda f: self._forget(entry) if f.cancelled() else None)

    def run_scheduled(self, item: ScheduledImport, entry: Inflight) -> None:
        """One scheduled run: as ``Runner.submit_and_run(spec, inline_wait=False)``, recording
        the job in the ledger, and ``skipped`` when the import runs elsewhere or waits for a
        retry."""
        runner = self.runner()
        store = runner.store
        assert entry.slot is not None
        try:
            job, _ = runner.queue.submit(spec_for_config(item.config))
        except ImportAlreadyRunning as exc:
            log.warning("import %s is already running as job %s (%s); slot %s skipped",
                        item.name, exc.job_id, exc.owner, iso_out(to_iso(entry.slot)))
            self._skipped(store, item.name, entry.slot, exc.job_id)
            return
        entry.job_id = job.id
        sched_store.set_slot_job(store, item.name, entry.slot, job.id)
        wait = runner.wait_for(job)
        if job.status is JobStatus.RETRYING and (wait is None or wait > 0):
            log.info("import %s: job %s waits for its retry at %s", item.name, job.id,
                     job.next_attempt_at)
            self._skipped(store, item.name, entry.slot, job.id)
            return
        try:
            runner.run_to_end(job, inline_wait=False)
        except ImportAlreadyRunning as exc:
            log.warning("import %s was claimed by %s first", item.name, exc.owner)

    def _skipped(self, store: Store, name: str, slot: datetime, job_id: int) -> None:
        now = self.clock.now()
        sched_store.record_run(store, name, slot, now, "skipped", job_id, now)

    def run_retry(self, entry: Inflight) -> None:
        """One attempt of a due job (what ``Runner.run_due`` does for each)."""
        assert entry.job_id is not None
        # ImportAlreadyRunning: another worker took it between query and claim.
        with contextlib.suppress(ImportAlreadyRunning):
            self.runner().run_attempt(entry.job_id)

    def store(self) -> Store:
        """This thread's store connection (the main thread's is the daemon's)."""
        if threading.get_ident() == self._main:
            return self.main_store()
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.home, self.config().store)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def runner(self) -> Runner:
        """This thread's runner, rebuilt after a config reload."""
        if getattr(self._local, "generation", None) != self.generation:
            config = self.config()
            board = BreakerBoard(self.home.breakers, config.breaker, self.clock,
                                 owner=self.owner,
                                 book=book_for(self.home.breakers, self.store()))
            self._local.runner = Runner(self.store(), config, self.clock, self.events,
                                        owner=self.owner, breakers=board)
            self._local.generation = self.generation
        runner: Runner = self._local.runner
        return runner

    def close_stores(self) -> None:
        """Close the worker threads' connections (only once no worker runs)."""
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
