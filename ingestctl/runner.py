"""Runs jobs: one attempt at a time (``run_attempt``), or to the end with inline waits."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ingestctl.clock import Clock, from_iso
from ingestctl.config import Config
from ingestctl.errors import CrashedError, ImportAlreadyRunning, IngestError, TransientError
from ingestctl.events import EventBus
from ingestctl.jobs import AttemptReport, JobQueue
from ingestctl.models import AttemptOutcome, Job, JobSpec, JobStatus
from ingestctl.sources import get_source
from ingestctl.store import Store
from ingestctl.store import jobs as job_store

log = logging.getLogger("ingestctl.runner")

ProgressCallback = Callable[[Job, dict[str, Any]], None]


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
    _last_beat: datetime | None = field(default=None, repr=False)

    def progress(self, **state: Any) -> None:
        """Report progress (items, current, files_done, files_total); renews the lease."""
        if self.on_progress is not None:
            self.on_progress(self.job, state)
        moment = self.clock.now()
        interval = timedelta(seconds=self.config.jobs.heartbeat)
        if self._last_beat is None or moment - self._last_beat >= interval:
            self._last_beat = moment
            self.queue.heartbeat(self.job, state)

    def count_request(self, n: int = 1) -> None:
        """Count HTTP requests made by this attempt."""
        self.requests += n


class Runner:
    """Drives jobs through the source, the job queue and the events."""

    def __init__(self, store: Store, config: Config, clock: Clock, events: EventBus,
                 *, on_progress: ProgressCallback | None = None, owner: str | None = None,
                 ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.events = events
        self.on_progress = on_progress
        self.queue = JobQueue(store, config.jobs, clock, events, owner)

    def run_attempt(self, job_id: int) -> Job:
        """Run one attempt of a due job and return the job as it ended up."""
        job = self.queue.claim(job_id)
        if job is None:
            current = self.queue.get(job_id)
            if current.status is JobStatus.PROCESSING:
                raise ImportAlreadyRunning(current.import_key, current.id,
                                           current.lease_owner or "?")
            return current
        ctx = ImportContext(job, self.config, self.store, self.clock, self.events, self.queue,
                            self.on_progress)
        log.info("attempt %s of job %s started", job.attempts, job.id,
                 extra={"job_id": job.id, "attempt": job.attempts,
                        "import_key": job.import_key, "source": job.source})
        try:
            source = get_source(job.source)
            report = source.run(ctx)
        except IngestError as exc:
            return self._failed(job, exc, ctx, None)
        except (KeyboardInterrupt, SystemExit):
            # Interrupted by the operator or a signal: leave a retryable attempt, not a
            # processing job that only lease expiry would free.
            self._failed(job, CrashedError("interrupted"), ctx, None, AttemptOutcome.CRASHED)
            raise
        except Exception as exc:  # a bug must still leave the job retried or dead-lettered
            error = TransientError(f"unexpected {type(exc).__name__}: {exc}")
            return self._failed(job, error, ctx, traceback.format_exc())
        report.requests = max(report.requests, ctx.requests)
        done = self.queue.complete(job, report)
        log.info("job %s completed with %s items", job.id, done.items,
                 extra={"job_id": job.id, "attempt": job.attempts, "source": job.source})
        return done

    def _failed(self, job: Job, error: IngestError, ctx: ImportContext, tb: str | None,
                outcome: AttemptOutcome = AttemptOutcome.FAILED) -> Job:
        log.info("attempt %s of job %s failed: %s", job.attempts, job.id, error,
                    extra={"job_id": job.id, "attempt": job.attempts,
                           "error_class": error.error_class.value,
                           "error_type": type(error).__name__, "error_message": str(error)})
        items = int(ctx.job.progress.get("items", 0)) if ctx.job.progress else 0
        return self.queue.fail(job, error, tb, AttemptReport(items=items,
                                                             requests=ctx.requests), outcome)

    def wait_for(self, job: Job) -> float | None:
        """Seconds until a retrying job is due, or None when it is not waiting."""
        if job.status is not JobStatus.RETRYING:
            return None
        due = from_iso(job.next_attempt_at)
        return max(0.0, (due - self.clock.now()).total_seconds()) if due else 0.0

    def run_to_end(self, job: Job, *, inline_wait: bool = True) -> Job:
        """Run attempts of ``job`` while retries are short enough to wait for in the foreground."""
        while True:
            job = self.run_attempt(job.id)
            wait = self.wait_for(job)
            if wait is None or not inline_wait or wait > self.config.jobs.max_inline_wait:
                return job
            log.info("job %s retries in %.1fs", job.id, wait, extra={"job_id": job.id,
                                                                     "wait": wait})
            self.clock.sleep(wait)

    def submit_and_run(self, spec: JobSpec, *, inline_wait: bool = True) -> Job:
        """Create (or pick up) the job for ``spec`` and run it; the core of ``ingestctl run``."""
        job, _ = self.queue.submit(spec)
        wait = self.wait_for(job)
        if wait:
            if not inline_wait or wait > self.config.jobs.max_inline_wait:
                return job
            self.clock.sleep(wait)
        return self.run_to_end(job, inline_wait=inline_wait)

    def run_due(self, *, max_jobs: int | None = None) -> list[Job]:
        """One worker pass: run every job due now, once each; the step ``worker`` loops on."""
        from ingestctl.clock import to_iso

        ran: list[Job] = []
        for job in job_store.due_jobs(self.store, to_iso(self.clock.now()) or ""):
            if max_jobs is not None and len(ran) >= max_jobs:
                break
            try:
                ran.append(self.run_attempt(job.id))
            except ImportAlreadyRunning:  # another worker took it between query and claim
                continue
        return ran
