"""Runs jobs: one attempt at a time (``run_attempt``), or to the end with inline waits."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingestctl.clock import Clock, from_iso, to_iso
from ingestctl.config import Config
from ingestctl.errors import (
    CircuitOpenError,
    CrashedError,
    ErrorClass,
    ImportAlreadyRunning,
    IngestError,
    TransientError,
)
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs import AttemptReport, JobQueue
from ingestctl.models import AttemptOutcome, Job, JobSpec, JobStatus
from ingestctl.resilience.breaker import BreakerBoard, BreakerTransition, breaker_key
from ingestctl.sources import get_source
from ingestctl.store import Store, counters
from ingestctl.store import jobs as job_store

if TYPE_CHECKING:
    from ingestctl.resilience.classify import BodyClassifier
    from ingestctl.resilience.retry import Rng
    from ingestctl.sources.http import HttpFetcher

log = logging.getLogger("ingestctl.runner")

ProgressCallback = Callable[[Job, dict[str, Any]], None]

# Deferrals wait for a breaker or a quota reset: the foreground exits 75 instead.
_NO_INLINE_WAIT = frozenset({ErrorClass.CIRCUIT_OPEN.value, ErrorClass.QUOTA_EXHAUSTED.value})


@dataclass
class ImportContext:
    """What a source gets for one attempt: the job, the config, the store and a progress hook."""

    job: Job
    config: Config
    store: Store
    clock: Clock
    events: EventBus
    queue: JobQueue
    on_progress: ProgressCallback | None = None
    requests: int = 0
    rng: Rng | None = None  # request-retry jitter; tests pass a fixed one
    _last_beat: datetime | None = field(default=None, repr=False)
    _counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=dict, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def progress(self, **state: Any) -> None:
        """Report progress (items, current, files_done, files_total); renews the lease.

        Call it from the thread that owns the store connection.
        """
        if self.on_progress is not None:
            self.on_progress(self.job, state)
        moment = self.clock.now()
        interval = timedelta(seconds=self.config.jobs.heartbeat)
        if self._last_beat is None or moment - self._last_beat >= interval:
            self._last_beat = moment
            self.queue.heartbeat(self.job, state)
            self.flush_counts()

    def count_request(self, n: int = 1) -> None:
        """Count HTTP requests made by this attempt."""
        self.requests += n

    def count(self, name: str, labels: dict[str, str], by: float = 1) -> None:
        """Add to a store counter; kept in memory and written with the next heartbeat."""
        key = (name, tuple(sorted(labels.items())))
        self._counts[key] = self._counts.get(key, 0) + by

    def flush_counts(self) -> None:
        """Write the counted increments to the store in one transaction."""
        if not self._counts:
            return
        pending, self._counts = self._counts, {}
        with self.store.write() as conn:
            for (name, labels), value in pending.items():
                counters.increment(conn, name, dict(labels), value)

    def http(self, api: str | None = None, *,
             body_classifier: BodyClassifier | None = None) -> HttpFetcher:
        """An HTTP fetcher with the configured retries that counts requests and retries.

        ``api`` labels ``ingestctl_api_requests_total``; it defaults to the job's source.
        The client is closed when the attempt ends.
        """
        from ingestctl.sources.http import HttpFetcher, build_client

        client = build_client(self.config.http)
        self._closers.append(client.close)
        label = api or self.job.source

        def on_response(url: str, code: str) -> None:
            self.count_request()
            self.count("api_requests_total", {"api": label, "code": code})

        def on_retry(number: int, error: IngestError, wait: float) -> None:
            cls = error.error_class.value
            log.info("request retry %s in %.2fs: %s", number, wait, error,
                     extra={"job_id": self.job.id, "error_class": cls, "wait": wait})
            self.count("retries_total", {"source": self.job.source, "error_class": cls})

        extra: dict[str, Any] = {} if self.rng is None else {"rng": self.rng}
        return HttpFetcher(client, self.config.retry, clock=self.clock, on_retry=on_retry,
                           on_response=on_response, body_classifier=body_classifier, **extra)

    def close(self) -> None:
        """Release what the attempt opened and write its counters."""
        for close in self._closers:
            close()
        self._closers.clear()
        self.flush_counts()


class Runner:
    """Drives jobs through the source, the job queue and the events."""

    def __init__(self, store: Store, config: Config, clock: Clock, events: EventBus,
                 *, on_progress: ProgressCallback | None = None, owner: str | None = None,
                 breakers: BreakerBoard | None = None, rng: Rng | None = None) -> None:
        self.store = store
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
        job = self.queue.claim(job_id)
        if job is None:
            current = self.queue.get(job_id)
            if current.status is JobStatus.PROCESSING:
                raise ImportAlreadyRunning(current.import_key, current.id,
                                           current.lease_owner or "?")
            return current
        ctx = ImportContext(job, self.config, self.store, self.clock, self.events, self.queue,
                            self.on_progress, rng=self.rng)
        log.info("attempt %s of job %s started", job.attempts, job.id,
                 extra={"job_id": job.id, "attempt": job.attempts,
                        "import_key": job.import_key, "source": job.source})
        report: AttemptReport | None = None
        try:
            try:
                report = get_source(job.source).run(ctx)
                # Quality after the source succeeded; it may fail the job (QualityFailedError).
                from ingestctl.quality_gate import check_quality

                check_quality(ctx, report)
            finally:
                ctx.close()
        except IngestError as exc:
            self._breaker_result(key, exc.error_class if report is None else None)
            # Kept for the dead-letter entry: where in the source the error was raised.
            return self._failed(job, exc, ctx, traceback.format_exc(), report=report)
        except (KeyboardInterrupt, SystemExit):
            # Interrupted by the operator or a signal: leave a retryable attempt, not a
            # processing job that only lease expiry would free.
            self._failed(job, CrashedError("interrupted"), ctx, None, AttemptOutcome.CRASHED)
            raise
        except Exception as exc:  # a bug must still leave the job retried or dead-lettered
            error = TransientError(f"unexpected {type(exc).__name__}: {exc}")
            error.unexpected = exc
            return self._failed(job, error, ctx, traceback.format_exc())
        self._breaker_result(key, None)
        report.requests = max(report.requests, ctx.requests)
        done = self.queue.complete(job, report)
        log.info("job %s completed with %s items", job.id, done.items,
                 extra={"job_id": job.id, "attempt": job.attempts, "source": job.source})
        return done

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
        if wait > 0 and job.error and job.error.error_class in _NO_INLINE_WAIT:
            return None
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
            self.clock.sleep(wait)

    def submit_and_run(self, spec: JobSpec, *, inline_wait: bool = True) -> Job:
        """Create (or pick up) the job for ``spec`` and run it; the core of ``ingestctl run``."""
        job, _ = self.queue.submit(spec)
        if job.status is JobStatus.RETRYING:
            wait = self.wait_for(job)
            if wait is None or (wait > 0 and (not inline_wait
                                              or wait > self.config.jobs.max_inline_wait)):
                return job
            self.clock.sleep(wait)
        return self.run_to_end(job, inline_wait=inline_wait)

    def run_due(self, *, max_jobs: int | None = None) -> list[Job]:
        """One worker pass: run every job due now, once each; the step ``worker`` loops on."""
        ran: list[Job] = []
        for job in job_store.due_jobs(self.store, to_iso(self.clock.now()) or ""):
            if max_jobs is not None and len(ran) >= max_jobs:
                break
            try:
                ran.append(self.run_attempt(job.id))
            except ImportAlreadyRunning:  # another worker took it between query and claim
                continue
        return ran
