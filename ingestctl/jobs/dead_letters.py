"""The dead-letter queue: list, show, requeue (one entry or every matching one) and purge.

An entry is written by :meth:`JobQueue.fail` when a job fails for good; it stays (inactive)
after a requeue as history, and a job that fails again re-activates its one entry. Entry ids
(``dlq ... ID``) are not job ids: ``ingestctl retry JOB_ID`` works by job id.

Requeueing makes the job due now and grants it one more attempt when it had none left; a
requeue is refused when the job is no longer failed or retrying, or when the same import
already has an active job (two jobs of one import never run at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ingestctl.clock import iso_out, to_iso
from ingestctl.errors import (
    EXIT_DEFERRED,
    EXIT_FAILED,
    EXIT_OK,
    ImportAlreadyRunning,
    JobError,
    JobNotFound,
)
from ingestctl.models.jobs import Attempt, Job, JobStatus
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store
from ingestctl.store.dead_letters import DeadLetter, LetterFilter

if TYPE_CHECKING:
    from ingestctl.jobs.queue import JobQueue
    from ingestctl.jobs.runner import Runner

log = logging.getLogger("ingestctl.dlq")

#: Entries requeued (and run) per batch; each requeue is its own short transaction.
BATCH_SIZE = 50


class DeadLetterNotFound(JobError):
    """No dead-letter entry has this id."""

    def __init__(self, letter_id: int) -> None:
        self.letter_id = letter_id
        super().__init__(f"no dead-letter entry with id {letter_id}",
                         hint="see `ingestctl dlq list`; `ingestctl retry JOB_ID` takes a job id")


class DeadLetterInactive(JobError):
    """The entry's job is no longer failed (it was requeued and has not failed since)."""

    def __init__(self, letter: DeadLetter, job: Job) -> None:
        self.letter_id = letter.id
        when = f" (requeued at {iso_out(letter.requeued_at)})" if letter.requeued_at else ""
        super().__init__(
            f"dead-letter entry {letter.id} is not waiting: its job {job.id} is "
            f"{job.status.value}{when}", hint=f"see `ingestctl jobs show {job.id}`")


class RetryOutcome(StrEnum):
    """What ``dlq retry`` did with one entry."""

    WOULD_REQUEUE = "would_requeue"   # --dry-run
    REQUEUED = "requeued"             # --no-run, or not run yet
    SKIPPED = "skipped"               # could not be requeued; ``reason`` says why
    COMPLETED = "completed"
    FAILED = "failed"
    DEFERRED = "deferred"             # retrying later: a job retry wait or an open breaker


@dataclass
class RetryItem:
    """One entry handled by ``dlq retry``."""

    letter_id: int
    job_id: int
    outcome: RetryOutcome
    reason: str | None = None
    job: Job | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``dlq retry --json`` shape of one entry."""
        return {"id": self.letter_id, "job_id": self.job_id, "outcome": self.outcome.value,
                "reason": self.reason,
                "status": self.job.status.value if self.job is not None else None}


@dataclass
class RetryReport:
    """Every entry ``dlq retry`` touched, in order."""

    items: list[RetryItem] = field(default_factory=list)

    def count(self, outcome: RetryOutcome) -> int:
        """How many entries ended with ``outcome``."""
        return sum(item.outcome is outcome for item in self.items)

    @property
    def exit_code(self) -> int:
        """As for ``worker``: 1 if a job failed or an entry could not be requeued, 75 if a
        job is still waiting for a retry, else 0."""
        if self.count(RetryOutcome.FAILED) or self.count(RetryOutcome.SKIPPED):
            return EXIT_FAILED
        if self.count(RetryOutcome.DEFERRED):
            return EXIT_DEFERRED
        return EXIT_OK

    def summary(self) -> str:
        """One line for stdout."""
        order = [RetryOutcome.WOULD_REQUEUE, RetryOutcome.REQUEUED, RetryOutcome.COMPLETED,
                 RetryOutcome.FAILED, RetryOutcome.DEFERRED, RetryOutcome.SKIPPED]
        parts = [f"{self.count(o)} {o.value.replace('_', ' ')}" for o in order if self.count(o)]
        return f"dlq retry: {len(self.items)} entr{'y' if len(self.items) == 1 else 'ies'}" + (
            f": {', '.join(parts)}" if parts else "")


@dataclass
class LetterDetail:
    """``dlq show``: the entry, its job and every attempt with its error and traceback."""

    letter: DeadLetter
    job: Job
    attempts: list[Attempt]

    def to_json(self) -> dict[str, Any]:
        """The ``dlq show --json`` shape: ``attempts`` is a count, the list ``attempt_history``."""
        return {**self.letter.to_json(), "job": self.job.to_json(),
                "attempt_history": [a.to_json() for a in self.attempts]}


#: Called after each entry with (entries done, entries in all, the item).
Progress = Callable[[int, int, RetryItem], None]


class DeadLetterQueue:
    """The dead-letter queue of one store; requeueing needs the job queue, running a runner."""

    def __init__(self, store: Store, queue: JobQueue | None = None,
                 runner: Runner | None = None) -> None:
        self.store = store
        self.runner = runner
        self.queue = queue if queue is not None else (runner.queue if runner else None)

    def list(self, flt: LetterFilter) -> list[DeadLetter]:
        """Active entries matching ``flt``, oldest first."""
        return dl_store.list_letters(self.store, flt)

    def get(self, letter_id: int) -> DeadLetter:
        """The entry, or :class:`DeadLetterNotFound`."""
        letter = dl_store.get_letter(self.store, letter_id)
        if letter is None:
            raise DeadLetterNotFound(letter_id)
        return letter

    def show(self, letter_id: int) -> LetterDetail:
        """The entry with its job and every attempt."""
        letter = self.get(letter_id)
        job = self._job(letter)
        return LetterDetail(letter, job, job_store.attempts_of(self.store, job.id))

    def requeue(self, letter_id: int) -> Job:
        """Make the entry's job due now; raises when it cannot be requeued."""
        letter = self.get(letter_id)
        self._check(letter, self._job(letter))
        return self._queue().requeue(letter.job_id)

    def retry(self, letter_id: int, *, inline_wait: bool = True) -> Job:
        """Requeue the entry's job and run it now, like ``ingestctl retry JOB_ID``."""
        job = self.requeue(letter_id)
        return self._runner().run_to_end(job, inline_wait=inline_wait)

    def retry_matching(self, flt: LetterFilter, *, dry_run: bool = False, run: bool = True,
                       batch_size: int = BATCH_SIZE, on_progress: Progress | None = None,
                       only: int | None = None) -> RetryReport:
        """Requeue every active entry matching ``flt`` (or just entry ``only``), in batches.

        With ``run`` each batch's jobs then get one attempt now (their last attempt was
        used up, so a requeue grants exactly one); without it the worker or the scheduler
        picks them up. ``dry_run`` changes nothing and reports what would happen.
        """
        if run and not dry_run:
            self._runner()
        total = 1 if only is not None else dl_store.count_letters(self.store, flt)
        report = RetryReport()
        after: int | None = None
        while True:
            if only is not None:
                batch = [self.get(only)] if after is None else []
            else:
                page = LetterFilter(flt.source, flt.error_class, flt.since, batch_size, after)
                batch = dl_store.list_letters(self.store, page)
            if not batch:
                return report
            after = batch[-1].id
            requeued: list[RetryItem] = []
            for letter in batch:
                item = self._requeue_one(letter, dry_run)
                if item.outcome is RetryOutcome.REQUEUED and run and not dry_run:
                    requeued.append(item)
                    continue
                report.items.append(item)
                if on_progress is not None:
                    on_progress(len(report.items), total, item)
            for item in requeued:
                self._run_one(item)
                report.items.append(item)
                if on_progress is not None:
                    on_progress(len(report.items), total, item)

    def purge(self, older_than: float) -> int:
        """Delete entries last touched more than ``older_than`` seconds ago; returns how many."""
        cutoff = self._queue().clock.now() - timedelta(seconds=older_than)
        removed = dl_store.purge(self.store, to_iso(cutoff) or "")
        log.info("purged %s dead-letter entries older than %s", removed, to_iso(cutoff))
        return removed

    def _requeue_one(self, letter: DeadLetter, dry_run: bool) -> RetryItem:
        item = RetryItem(letter.id, letter.job_id, RetryOutcome.REQUEUED)
        try:
            job = self._job(letter)
            self._check(letter, job)
            if dry_run:
                clash = job_store.active_job(self.store, job.import_key)
                if clash is not None and clash.id != job.id:
                    raise ImportAlreadyRunning(job.import_key, clash.id, clash.lease_owner
                                               or clash.status.value)
                item.outcome, item.job = RetryOutcome.WOULD_REQUEUE, job
            else:
                item.job = self._queue().requeue(letter.job_id)
        except JobError as exc:
            item.outcome, item.reason = RetryOutcome.SKIPPED, str(exc)
            log.warning("dead-letter entry %s (job %s) not requeued: %s", letter.id,
                        letter.job_id, exc, extra={"job_id": letter.job_id, "console": False})
        return item

    def _run_one(self, item: RetryItem) -> None:
        try:
            job = self._runner().run_to_end(self._queue().get(item.job_id), inline_wait=False)
        except ImportAlreadyRunning as exc:  # a worker claimed it between requeue and run
            item.outcome, item.reason = RetryOutcome.SKIPPED, str(exc)
            return
        item.job = job
        if job.status is JobStatus.COMPLETED:
            item.outcome = RetryOutcome.COMPLETED
        elif job.status is JobStatus.FAILED:
            item.outcome = RetryOutcome.FAILED
        else:
            item.outcome = RetryOutcome.DEFERRED
        if job.error is not None and job.status is not JobStatus.COMPLETED:
            item.reason = f"{job.error.error_class}: {job.error.message}"

    def _check(self, letter: DeadLetter, job: Job) -> None:
        if job.status is not JobStatus.FAILED:
            raise DeadLetterInactive(letter, job)

    def _job(self, letter: DeadLetter) -> Job:
        job = job_store.get_job(self.store, letter.job_id)
        if job is None:  # pragma: no cover - the foreign key keeps the job
            raise JobNotFound(letter.job_id)
        return job

    def _queue(self) -> JobQueue:
        if self.queue is None:
            raise RuntimeError("this DeadLetterQueue was built without a job queue")
        return self.queue

    def _runner(self) -> Runner:
        if self.runner is None:
            raise RuntimeError("this DeadLetterQueue was built without a runner")
        return self.runner
