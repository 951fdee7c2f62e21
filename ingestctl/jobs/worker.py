"""``ingestctl worker``: run due jobs, then wait for more; any number of workers may share a store.

Each pass claims due jobs one at a time (``Runner.run_due``), so workers on several hosts split
the queue. When nothing is due the worker waits: on SQLite it sleeps ``poll`` seconds; on
PostgreSQL it listens for the notification a due job sends and wakes at once, waiting at most
until the earliest retry is due or the earliest lease runs out (then it recovers that job),
and never longer than ``poll`` (default :data:`LISTEN_CAP`), a safety net for a lost
notification. See docs/guide/scale-out.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ingestctl.clock import from_iso
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobStatus
from ingestctl.store import POSTGRES
from ingestctl.store import jobs as job_store

if TYPE_CHECKING:
    from ingestctl.store.coordination import JobWaiter

log = logging.getLogger("ingestctl.worker")

SQLITE_POLL = 5.0
LISTEN_CAP = 60.0
# A listening worker looks up from the connection this often, so a stop request (SIGTERM,
# Ctrl-C) ends it within the 2 seconds even while it waits for a notification.
WAIT_SLICE = 0.5


@dataclass
class WorkerReport:
    """What a worker did before it stopped."""

    ran: int = 0
    failed: int = 0
    deferred: int = 0


class Worker:
    """The worker loop around a runner; :meth:`step` and :meth:`idle` can be driven alone."""

    def __init__(self, runner: Runner, *, poll: float | None = None,
                 after_pass: Callable[[], object] | None = None,
                 sleep: Callable[[float], None] | None = None,
                 check: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.store = runner.store
        self.clock = runner.clock
        self.after_pass = after_pass
        # ``sleep`` and ``check`` raise Interrupted once a stop was requested (the CLI's
        # cancellation token); by default the worker sleeps on its clock and never stops.
        self.sleep = sleep or self.clock.sleep
        self.check = check or (lambda: None)
        self.waiter: JobWaiter | None = None
        if self.store.dialect == POSTGRES:
            # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
            from ingestctl.store.coordination import JobWaiter
            from ingestctl.store.postgres import PostgresStore

            assert isinstance(self.store, PostgresStore)
            self.waiter = JobWaiter(self.store)
            self.poll = poll if poll is not None else LISTEN_CAP
        else:
            self.poll = poll if poll is not None else SQLITE_POLL
        self.report = WorkerReport()

    def step(self) -> int:
        """One pass over the due jobs; returns how many attempts ran."""
        if self.waiter is not None:
            self.waiter.listen()  # before the queue check: a job made due meanwhile wakes us
        jobs = self.runner.run_due()
        if self.after_pass is not None:
            self.after_pass()
        for job in jobs:
            self.report.ran += 1
            self.report.failed += job.status is JobStatus.FAILED
            self.report.deferred += job.status is JobStatus.RETRYING
        return len(jobs)

    def idle_wait(self, now: datetime) -> float:
        """Seconds to wait for work: until the next retry is due or lease runs out, capped."""
        wait = self.poll
        if self.waiter is None:
            return wait
        for when in (job_store.next_due_at(self.store),
                     job_store.next_lease_expiry(self.store)):
            moment = from_iso(when)
            if moment is not None:
                wait = min(wait, max(0.0, (moment - now).total_seconds()))
        return wait

    def idle(self) -> None:
        """Wait for work (see the module docstring), then recover jobs of dead owners."""
        wait = self.idle_wait(self.clock.now())
        if self.waiter is not None:
            while wait > 0 and not self.waiter.wait(min(WAIT_SLICE, wait)):
                self.check()
                wait -= WAIT_SLICE
        else:
            self.sleep(wait)
        self.runner.queue.recover()

    def run(self, *, once: bool = False) -> WorkerReport:
        """Loop until stopped (``once``: until no job is due)."""
        try:
            while True:
                if self.step() == 0:
                    if once:
                        break
                    self.idle()
        finally:
            self.close()
        return self.report

    def close(self) -> None:
        """Stop listening."""
        if self.waiter is not None:
            self.waiter.close()
