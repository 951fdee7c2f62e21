"""The job lifecycle (docs/design.md): submit, claim under a lease, heartbeat, finish, recover."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ingestctl.clock import Clock, from_iso, to_iso
from ingestctl.config import JobsConfig
from ingestctl.errors import (
    CrashedError,
    ErrorClass,
    ImportAlreadyRunning,
    IngestError,
    JobNotFound,
    JobStateError,
    QuotaExhaustedError,
    RateLimitedError,
    StoreError,
)
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.host import hostname
from ingestctl.jobs.contract import AttemptReport
from ingestctl.models.jobs import AttemptOutcome, ErrorInfo, Job, JobSpec, JobStatus
from ingestctl.redact import redact_data, redact_text
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store

log = logging.getLogger("ingestctl.jobs")


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid``, so a reused pid is not mistaken for the owner."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_owner() -> str:
    """This process as a lease owner: ``host:pid:start``."""
    pid = os.getpid()
    return f"{hostname()}:{pid}:{_process_start(pid)}"


def owner_is_local(owner: str | None) -> bool:
    """True when ``owner`` names a process of this host (or no process at all)."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    return host == hostname() and rest.partition(":")[0].isdigit()


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer runs.

    A pid that runs again with another start time belongs to a new process: the owner is dead.
    """
    if not owner:
        return True
    if not owner_is_local(owner):
        return False
    pid_text, _, start = owner.partition(":")[2].partition(":")
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it exists, compare its start time
        pass
    current = _process_start(pid)
    return bool(start) and bool(current) and current != start


def job_retry_delay(cfg: JobsConfig, attempts_done: int) -> float:
    """Seconds before the next job attempt after ``attempts_done`` failed ones."""
    if not cfg.retry_delays:
        return 0.0
    index = min(max(attempts_done, 1), len(cfg.retry_delays)) - 1
    return cfg.retry_delays[index]


class JobQueue:
    """Every state change of a job goes through here, in one transaction each."""

    def __init__(self, store: Store, cfg: JobsConfig, clock: Clock, events: EventBus,
                 owner: str | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.events = events
        self.owner = owner or process_owner()

    def _now(self) -> tuple[datetime, str]:
        moment = self.clock.now()
        return moment, to_iso(moment) or ""

    def get(self, job_id: int) -> Job:
        """The job, or JobNotFound."""
        job = job_store.get_job(self.store, job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def submit(self, spec: JobSpec) -> tuple[Job, bool]:
        """The job to run for ``spec``: a new pending one, or the import's waiting one.

        Returns the job and whether it was created. An import that is being processed by a
        live process raises ImportAlreadyRunning, so the same import never runs twice.
        """
        _, now = self._now()
        with self.store.write() as conn:
            active = job_store.active_job(self.store, spec.import_key)
            if active is None:
                import_id = job_store.ensure_import(conn, spec, now)
                job_id = job_store.insert_job(conn, spec, import_id, self.cfg.max_attempts, now)
                created = True
            else:
                job_id, created = active.id, False
        job = self.get(job_id)
        # A job created here may already be claimed by a worker woken by its insert: that is
        # the queue working, not the import running twice.
        if job.status is JobStatus.PROCESSING and not created:
            raise ImportAlreadyRunning(spec.import_key, job.id, job.lease_owner or "?")
        return job, created

    def claim(self, job_id: int) -> Job | None:
        """Take the job for this process; None when another process has it or it is not due."""
        moment, now = self._now()
        lease = to_iso(moment + timedelta(seconds=self.cfg.lease)) or ""
        job = job_store.claim(self.store, job_id, self.owner, lease, now)
        if job is not None:
            self.started(job)
        return job

    def claim_next(self, due_by: str, skip: Sequence[int] = ()) -> Job | None:
        """Take the job due soonest (by ``due_by``) for this process; None when none is.

        Workers on any number of hosts may call it at once: each gets a different job. The
        caller emits :meth:`started` once it decides to run the attempt.
        """
        moment, now = self._now()
        lease = to_iso(moment + timedelta(seconds=self.cfg.lease)) or ""
        return job_store.claim_next(self.store, self.owner, lease, now, due_by, skip)

    def started(self, job: Job) -> None:
        """Announce that an attempt of a claimed job starts."""
        self.events.emit(Event(EventKind.JOB_STARTED, self.clock.now(), job.id,
                               job.import_key, {"attempt": job.attempts}))

    def heartbeat(self, job: Job, progress: dict[str, Any] | None = None) -> bool:
        """Extend the lease and publish progress for other processes to show."""
        moment, now = self._now()
        lease = to_iso(moment + timedelta(seconds=self.cfg.lease)) or ""
        return job_store.renew_lease(self.store, job.id, self.owner, lease, now,
                                     redact_data(progress))

    def complete(self, job: Job, report: AttemptReport) -> Job:
        """Finish the attempt successfully."""
        moment, now = self._now()
        end = job_store.AttemptEnd(AttemptOutcome.COMPLETED, JobStatus.COMPLETED, now,
                                   items=report.items, requests=report.requests,
                                   result=report.result, job_items=report.job_items)
        with self.store.write() as conn:
            job_store.end_attempt(conn, job, end)
        done = self.get(job.id)
        self.events.emit(Event(EventKind.JOB_COMPLETED, moment, job.id, job.import_key,
                               {"items": done.items, "source": job.source}))
        return done

    def fail(self, job: Job, error: IngestError, traceback: str | None,
             report: AttemptReport, outcome: AttemptOutcome = AttemptOutcome.FAILED) -> Job:
        """Finish the attempt with ``error``: retry later, defer, or dead-letter the job."""
        moment, now = self._now()
        cls = error.error_class
        # Stored and shown everywhere (status, alerts, pings): no URL secrets in it.
        info = ErrorInfo(cls.value, type(error).__name__, redact_text(str(error)))
        traceback = redact_text(traceback) if traceback else traceback
        refund = cls.deferred
        next_at: datetime | None = None
        if cls.deferred:
            next_at = _deferred_until(error) or moment + timedelta(
                seconds=job_retry_delay(self.cfg, job.attempts))
        elif cls.retryable and job.attempts < job.max_attempts:
            wait = 0.0 if cls is ErrorClass.CRASHED else job_retry_delay(self.cfg, job.attempts)
            if isinstance(error, RateLimitedError) and error.retry_after:
                wait = max(wait, error.retry_after)
            next_at = moment + timedelta(seconds=wait)
        status = JobStatus.RETRYING if next_at is not None else JobStatus.FAILED
        end = job_store.AttemptEnd(outcome, status, now, items=report.items,
                                   requests=report.requests, error=info, traceback=traceback,
                                   next_attempt_at=to_iso(next_at), result=report.result,
                                   job_items=report.job_items, refund_attempt=refund)
        try:
            with self.store.write() as conn:
                job_store.end_attempt(conn, job, end)
                if status is JobStatus.FAILED:
                    dl_store.bury(conn, job, cls.value, info.type, info.message, now)
        except (sqlite3.Error, StoreError) as exc:
            status = self._release(job, info, moment, now, exc)
        done = self.get(job.id)
        kind = (EventKind.JOB_DEAD_LETTERED if status is JobStatus.FAILED else
                EventKind.JOB_DEFERRED if refund else EventKind.JOB_RETRYING)
        data: dict[str, Any] = {
            "error_class": cls.value, "error_type": info.type, "message": info.message,
            "next_attempt_at": done.next_attempt_at, "attempt": job.attempts,
            "source": job.source}
        if error.unexpected is not None:
            data["unexpected"] = error.unexpected
        self.events.emit(Event(kind, moment, job.id, job.import_key, data))
        return done

    def _release(self, job: Job, info: ErrorInfo, moment: datetime, now: str,
                 exc: sqlite3.Error | StoreError) -> JobStatus:
        """The full record of a failed attempt could not be written (a full disk, usually):
        write the least that keeps the job retrying instead of processing. Should that fail
        too, the job stays processing under this process and the next one recovers it."""
        retry_at = to_iso(moment + timedelta(seconds=job_retry_delay(self.cfg, job.attempts)))
        log.error("job %s: cannot record the failed attempt in full (%s); it retries at %s",
                  job.id, exc, retry_at, extra={"job_id": job.id})
        with self.store.write() as conn:
            job_store.release_failed(conn, job, info, now, retry_at or now)
        return JobStatus.RETRYING

    def defer(self, job: Job, until: datetime, error: IngestError) -> Job:
        """Put off a job that has not started an attempt (e.g. an open breaker)."""
        moment, now = self._now()
        with self.store.write() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'retrying', next_attempt_at = ?, error_class = ?, "
                "error_type = ?, error_message = ? WHERE id = ? AND status IN "
                "('pending', 'retrying')",
                (to_iso(until), error.error_class.value, type(error).__name__,
                 redact_text(str(error)), job.id))
        self.events.emit(Event(EventKind.JOB_DEFERRED, moment, job.id, job.import_key,
                               {"error_class": error.error_class.value,
                                "message": redact_text(str(error)),
                                "next_attempt_at": to_iso(until), "source": job.source}))
        return self.get(job.id)

    def interrupt(self, job: Job, signal_name: str, report: AttemptReport) -> Job:
        """Record the attempt as ``interrupted`` (SIGINT, SIGTERM) and make the job due again.

        The attempt stays in the history but grants one more, so interruptions never use up
        ``max_attempts``; no alert is raised (the operator asked for it).
        """
        moment, now = self._now()
        end = job_store.AttemptEnd(AttemptOutcome.INTERRUPTED, JobStatus.RETRYING, now,
                                   items=report.items, requests=report.requests,
                                   next_attempt_at=now, grant_attempt=True,
                                   note=f"interrupted by {signal_name}")
        with self.store.write() as conn:
            job_store.end_attempt(conn, job, end)
        log.info("attempt %s of job %s interrupted by %s; the job is due again", job.attempts,
                    job.id, signal_name, extra={"job_id": job.id, "attempt": job.attempts})
        done = self.get(job.id)
        self.events.emit(Event(EventKind.JOB_INTERRUPTED, moment, job.id, job.import_key,
                               {"signal": signal_name, "attempt": job.attempts,
                                "source": job.source}))
        return done

    def recover(self) -> list[Job]:
        """Record a crashed attempt for every processing job whose owner is gone.

        On this host the owner is gone when its process no longer runs (pid and start time);
        a live owner keeps its job however late its lease is. A job owned by another host is
        recovered once its lease has expired, since its process cannot be seen from here.
        """
        moment, now = self._now()
        recovered: list[Job] = []
        for job in job_store.jobs_in_status(self.store, [JobStatus.PROCESSING]):
            if job.lease_owner == self.owner:
                continue
            if owner_is_local(job.lease_owner):
                gone = owner_is_dead(job.lease_owner)
                why = "its process is gone"
            else:
                gone = (from_iso(job.lease_expires_at) or moment) <= moment
                why = "its lease expired"
            if not gone:
                continue
            # Take the lease over first: of several processes (or hosts) recovering at once,
            # exactly one records the crashed attempt.
            if not job_store.take_over(self.store, job.id, job.lease_owner, self.owner):
                continue
            log.warning("recovering job %s: %s (%s)", job.id, why, job.lease_owner,
                        extra={"job_id": job.id, "error_class": "crashed"})
            try:
                done = self.fail(job, CrashedError(job.lease_owner or "?"), None,
                                 AttemptReport(items=int(job.progress.get("items", 0))),
                                 AttemptOutcome.CRASHED)
            except (sqlite3.Error, StoreError) as exc:  # e.g. a full disk: reads still work
                log.warning("job %s not recovered: %s; the next ingestctl process tries again",
                            job.id, exc, extra={"job_id": job.id})
                continue
            self.events.emit(Event(EventKind.JOB_RECOVERED, moment, job.id, job.import_key,
                                   {"owner": job.lease_owner, "status": done.status.value,
                                    "source": job.source}))
            recovered.append(done)
        return recovered

    def requeue(self, job_id: int) -> Job:
        """Make a failed or retrying job due now (manual retry); others are refused."""
        job = self.get(job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.RETRYING, JobStatus.PENDING):
            hint = (f"wait for it to finish (`ingestctl jobs show {job_id}`)"
                    if job.status is JobStatus.PROCESSING else "only failed or retrying jobs "
                    "can be retried; start a new import with `ingestctl run`")
            raise JobStateError(job_id, job.status.value, "retry", hint)
        _, now = self._now()
        with self.store.write() as conn:
            clash = job_store.active_job(self.store, job.import_key)
            if clash is not None and clash.id != job.id:
                raise ImportAlreadyRunning(job.import_key, clash.id, clash.lease_owner or
                                           clash.status.value)
            extra = 1 if job.attempts >= job.max_attempts else 0
            job_store.requeue(conn, job.id, now, extra)
            dl_store.mark_requeued(conn, job.id, now)
        return self.get(job_id)


def _deferred_until(error: IngestError) -> datetime | None:
    if isinstance(error, QuotaExhaustedError):
        return error.reset_at
    until = getattr(error, "open_until", None)
    return until if isinstance(until, datetime) else None
