"""Runs jobs: one attempt at a time (``run_attempt``), or to the end with inline waits."""

from __future__ import annotations

import logging
import sqlite3
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ingestctl import interrupt
from ingestctl.clock import Clock, from_iso, to_iso
from ingestctl.config import Config
from ingestctl.errors import (
    CircuitOpenError,
    ErrorClass,
    ImportAlreadyRunning,
    IngestError,
    StoreError,
    StoreFullError,
    TransientError,
)
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.interrupt import Cancellation, Interrupted
from ingestctl.jobs.contract import AttemptReport, ImportContext, ProgressCallback
from ingestctl.jobs.lease import LeaseKeeper
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import AttemptOutcome, Job, JobSpec, JobStatus
from ingestctl.quality.gate import check_quality
from ingestctl.resilience.breaker import BreakerBoard, breaker_key
from ingestctl.resilience.breaker_state import BreakerTransition
from ingestctl.sources import get_source
from ingestctl.sources.inflight import InFlight
from ingestctl.store import Store
from ingestctl.store.database import store_error

if TYPE_CHECKING:
    from ingestctl.resilience.retry import Rng

log = logging.getLogger("ingestctl.runner")

# Deferrals wait for a breaker or a quota reset: the foreground exits 75 instead.
_NO_INLINE_WAIT = frozenset({ErrorClass.CIRCUIT_OPEN.value, ErrorClass.QUOTA_EXHAUSTED.value})


class Runner:
    """Drives jobs through the source, the job queue and the events."""

    def __init__(self, store: Store, config: Config, clock: Clock, events: EventBus,
                 *, on_progress: ProgressCallback | None = None, owner: str | None = None,
                 breakers: BreakerBoard | None = None, rng: Rng | None = None,
                 cancel: Cancellation | None = None) -> None:
        self.store = store
        # Set by the command line on SIGINT or SIGTERM: requests in flight are aborted.
        self.cancel = cancel or Cancellation()
        self.inflight = InFlight(config.http.request_deadline)
        self.cancel.on_cancel(self.inflight.abort_all)
        self.rng = rng
        self.config = config
        self.clock = clock
        self.events = events
        self.on_progress = on_progress
        self.queue = JobQueue(store, config.jobs, clock, events, owner)
        self.breakers = breakers
        if breakers is not None:
            breakers.on_transition = self._breaker_changed

    def _breaker_changed(self, change: BreakerTransition) -> None:
        log.warning("circuit breaker %s: %s -> %s", change.key, change.old.value,
                    change.new.value)
        self.events.emit(Event(EventKind.BREAKER_CHANGED, self.clock.now(), data={
            "key": change.key, "old": change.old.value, "new": change.new.value,
            "reason": change.reason}))

    def run_attempt(self, job_id: int) -> Job:
        """Run one attempt of a due job and return the job as it ended up.

        An open circuit breaker defers the job to its reopen time without using an attempt.
        """
        key = None
        if self.breakers is not None:
            pending = self.queue.get(job_id)
            key = breaker_key(pending.source, pending.target)
            try:
                self.breakers.admit(key)
            except CircuitOpenError as exc:
                return self.queue.defer(pending, exc.open_until, exc)
        interrupt.hold()  # from the claim until the attempt can record an interruption
        try:
            job = self.queue.claim(job_id)
        except BaseException:
            interrupt.drop()
            raise
        if job is None:
            interrupt.release()
            current = self.queue.get(job_id)
            if current.status is JobStatus.PROCESSING:
                raise ImportAlreadyRunning(current.import_key, current.id,
                                           current.lease_owner or "?")
            return current
        return self._attempt(job, key)

    def run_next(self, due_by: str | None = None, skip: Sequence[int] = ()) -> Job | None:
        """Claim the job due soonest and run one attempt of it; None when no job is due.

        The claim comes first (several workers, on several hosts, each get their own job),
        then the breaker: an open one gives the claimed job back, deferred, with no attempt
        used.
        """
        due = due_by or to_iso(self.clock.now()) or ""
        interrupt.hold()  # from the claim until the attempt can record an interruption
        try:
            job = self.queue.claim_next(due, skip)
        except BaseException:
            interrupt.drop()
            raise
        if job is None:
            interrupt.release()
            return None
        key = None
        if self.breakers is not None:
            key = breaker_key(job.source, job.target)
            try:
                self.breakers.admit(key)
            except CircuitOpenError as exc:
                interrupt.release()
                return self.queue.fail(job, exc, None, AttemptReport())
        self.queue.started(job)
        return self._attempt(job, key)

    def _attempt(self, job: Job, key: str | None) -> Job:
        keeper = LeaseKeeper(self.store.location, job.id, self.queue.owner, self.config.jobs,
                             self.clock)
        keeper.start()
        ctx = ImportContext(job, self.config, self.store, self.clock, self.events, self.queue,
                            self.on_progress, rng=self.rng, lease=keeper, cancel=self.cancel,
                            inflight=self.inflight)
        log.info("attempt %s of job %s started", job.attempts, job.id,
                 extra={"job_id": job.id, "attempt": job.attempts,
                        "import_key": job.import_key, "source": job.source})
        report: AttemptReport | None = None
        try:
            try:
                interrupt.release()
                report = get_source(job.source).run(ctx)
                # Quality after the source succeeded; it may fail the job (QualityFailedError).
                check_quality(ctx, report)
            finally:
                keeper.stop()
                ctx.close()
        except (Interrupted, KeyboardInterrupt, SystemExit) as exc:
            # Stopped by the operator or a signal: a retryable attempt that uses none up.
            name = (exc.signal_name if isinstance(exc, Interrupted) else
                    "SIGINT" if isinstance(exc, KeyboardInterrupt) else "SystemExit")
            self._interrupted(job, ctx, name)
            if isinstance(exc, Interrupted):
                exc.job_id = job.id
            raise
        except (StoreError, sqlite3.Error) as exc:  # the store failed, not the source:
            # no breaker verdict. A full disk's traceback helps nobody and needs space the
            # disk does not have.
            failure = (exc if isinstance(exc, StoreError)
                       else store_error(Path(self.store.where), exc))
            tb = None if isinstance(failure, StoreFullError) else traceback.format_exc()
            return self._failed(job, failure, ctx, tb)
        except IngestError as exc:
            if self.cancel.is_set():  # the error is the interruption cutting a request
                raise self._interrupted(job, ctx, self.cancel.signal_name) from None
            self._breaker_result(key, exc.error_class if report is None else None)
            # Kept for the dead-letter entry: where in the source the error was raised.
            return self._failed(job, exc, ctx, traceback.format_exc(), report=report)
        except Exception as exc:  # a bug must still leave the job retried or dead-lettered
            if self.cancel.is_set():
                raise self._interrupted(job, ctx, self.cancel.signal_name) from None
            error = TransientError(f"unexpected {type(exc).__name__}: {exc}")
            error.unexpected = exc
            return self._failed(job, error, ctx, traceback.format_exc())
        self._breaker_result(key, None)
        report.requests = max(report.requests, ctx.requests)
        done = self.queue.complete(job, report)
        log.info("job %s completed with %s items", job.id, done.items,
                 extra={"job_id": job.id, "attempt": job.attempts, "source": job.source})
        return done

    def _interrupted(self, job: Job, ctx: ImportContext, signal_name: str) -> Interrupted:
        progress = ctx.lease.progress if ctx.lease is not None else ctx.job.progress
        self.queue.interrupt(job, signal_name or "SIGINT",
                             AttemptReport(items=int(progress.get("items", 0)),
                                           requests=ctx.requests))
        return Interrupted(signal_name or "SIGINT", job.id)

    def _breaker_result(self, key: str | None, error_class: ErrorClass | None) -> None:
        if self.breakers is None or key is None:
            return
        if error_class is None:
            self.breakers.record_success(key)
        else:
            self.breakers.record_failure(key, error_class)

    def _failed(self, job: Job, error: IngestError, ctx: ImportContext, tb: str | None,
                outcome: AttemptOutcome = AttemptOutcome.FAILED, *,
                report: AttemptReport | None = None) -> Job:
        log.info("attempt %s of job %s failed: %s", job.attempts, job.id, error,
                 extra={"job_id": job.id, "attempt": job.attempts,
                        "error_class": error.error_class.value,
                        "error_type": type(error).__name__, "error_message": str(error)})
        if report is not None:  # the source succeeded, the quality gate failed the job
            report.requests = max(report.requests, ctx.requests)
            return self.queue.fail(job, error, tb, report, outcome)
        items = int(ctx.job.progress.get("items", 0)) if ctx.job.progress else 0
        return self.queue.fail(job, error, tb, AttemptReport(items=items,
                                                             requests=ctx.requests), outcome)

    def wait_for(self, job: Job) -> float | None:
        """Seconds until a retrying job is due; None when it is not waiting or is deferred."""
        if job.status is not JobStatus.RETRYING:
            return None
        due = from_iso(job.next_attempt_at)
        wait = max(0.0, (due - self.clock.now()).total_seconds()) if due else 0.0
        if wait > 0 and job.error and (job.error.error_class in _NO_INLINE_WAIT
                                       or job.error.type == StoreFullError.__name__):
            return None  # a full disk is not freed within an inline wait either
        return wait

    def run_to_end(self, job: Job, *, inline_wait: bool = True) -> Job:
        """Run attempts of ``job`` while retries are short enough to wait for in the foreground.

        Deferrals (an open breaker, a spent daily quota) are never waited for inline.
        """
        while True:
            job = self.run_attempt(job.id)
            wait = self.wait_for(job)
            if wait is None or not inline_wait or wait > self.config.jobs.max_inline_wait:
                return job
            log.info("job %s retries in %.1fs", job.id, wait,
                     extra={"job_id": job.id, "wait": wait})
            self._sleep(job, wait)

    def _sleep(self, job: Job, seconds: float) -> None:
        """Wait inline for the job's next attempt; an interruption names the waiting job."""
        try:
            self.cancel.sleeper(self.clock)(seconds)
        except Interrupted as exc:
            exc.job_id = job.id
            raise

    def submit_and_run(self, spec: JobSpec, *, inline_wait: bool = True) -> Job:
        """Create (or pick up) the job for ``spec`` and run it; the core of ``ingestctl run``."""
        job, _ = self.queue.submit(spec)
        if job.status is JobStatus.RETRYING:
            wait = self.wait_for(job)
            if wait is None or (wait > 0 and (not inline_wait
                                              or wait > self.config.jobs.max_inline_wait)):
                return job
            self._sleep(job, wait)
        return self.run_to_end(job, inline_wait=inline_wait)

    def run_due(self, *, max_jobs: int | None = None) -> list[Job]:
        """One worker pass: run every job due now, once each; the step ``worker`` loops on.

        Jobs are claimed one at a time (:meth:`run_next`), so workers sharing the store split
        the due jobs between them.
        """
        due_by = to_iso(self.clock.now()) or ""
        ran: list[Job] = []
        while max_jobs is None or len(ran) < max_jobs:
            job = self.run_next(due_by, [done.id for done in ran])
            if job is None:
                break
            ran.append(job)
        return ran
