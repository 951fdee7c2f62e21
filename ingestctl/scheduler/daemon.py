"""The scheduler daemon: APScheduler fires configured imports; a step loop does the rest.

Threads: APScheduler's own small pool (:mod:`.firing`) only *fires* (records the slot and hands
the run over); imports and due retries run in a pool of ``[scheduler] max_workers`` threads,
each with its own store connection and runner (SQLite connections belong to one thread). The
main thread runs :meth:`SchedulerDaemon.step` every ``poll_interval``: heartbeat, missed-run
ledger (and, on the first step, catch-up of slots missed while stopped), dispatch of due
retries, recovery of dead processes' jobs and hooks such as the alert outbox. :meth:`step`
takes ``now``, so tests drive the ledger with an injected clock and run work inline
(``submit=``).

Under systemd (``Type=notify``) the daemon reports READY, WATCHDOG, RELOADING and STOPPING
through :class:`~ingestctl.scheduler.sdnotify.Notifier`; the watchdog is fed from the main
loop and between the pieces of a step, so a hung loop gets the daemon restarted.

The same import never runs twice at once: this process keeps one entry per import in flight,
and the job store refuses a second active job anyway (ImportAlreadyRunning: the slot is
recorded as ``skipped``, never a crash).

On SQLite one scheduler runs per home (``scheduler.lock``). On PostgreSQL any number may run,
on any hosts: the one holding the ``scheduler`` advisory lock leads (fires, catches up,
dispatches retries, runs the hooks); the others stand by, trying for the lock every step, and
the first to get it when the leader dies leads from its next step (docs/guide/scale-out.md).
A slot is claimed in the ledger before it runs, so a new leader never runs a slot twice.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

from ingestctl.clock import SYSTEM, Clock, from_iso, iso_out, to_iso
from ingestctl.config import Config
from ingestctl.errors import IngestError
from ingestctl.events import EventBus
from ingestctl.host import hostname
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.queue import JobQueue, process_owner
from ingestctl.jobs.spec import spec_for_config
from ingestctl.models.jobs import JobStatus
from ingestctl.paths import Home
from ingestctl.scheduler.configured import ScheduledImport, scheduled_imports
from ingestctl.scheduler.firing import FireTimer
from ingestctl.scheduler.hooks import Hook, SerialBus, default_hooks
from ingestctl.scheduler.ledger import update_import
from ingestctl.scheduler.lock import InstanceLock
from ingestctl.scheduler.misfire import latest_slot
from ingestctl.scheduler.sdnotify import Notifier
from ingestctl.scheduler.workers import Inflight, Submit, Workers
from ingestctl.store import POSTGRES, Store, open_store
from ingestctl.store import jobs as job_store
from ingestctl.store import scheduling as sched_store
from ingestctl.units import format_duration

if TYPE_CHECKING:
    from ingestctl.store.coordination import LeaderLock

log = logging.getLogger("ingestctl.scheduler")

#: The advisory lock whose holder leads (PostgreSQL).
LEADER_LOCK = "scheduler"

PENDING_MIN_AGE = 10.0  # a younger pending job is about to be claimed by the process that made it


@dataclass
class StepReport:
    """What one step did."""
    at: datetime
    fired: list[tuple[str, datetime]] = field(default_factory=list)
    dispatched: list[int] = field(default_factory=list)
    missed: dict[str, list[list[datetime]]] = field(default_factory=dict)


@dataclass
class StopReport:
    """How the daemon stopped: runs that finished in the grace time, jobs interrupted."""
    signal: str = ""
    waited_for: int = 0
    interrupted: list[int] = field(default_factory=list)
    abandoned: bool = False  # worker threads were still running when the daemon returned


class SchedulerDaemon:
    """Runs configured imports on their schedules; see the module docstring."""

    def __init__(self, home: Home, config: Config, events: EventBus, *, clock: Clock = SYSTEM,
                 owner: str | None = None, submit: Submit | None = None,
                 config_loader: Callable[[], Config] | None = None,
                 on_config: Sequence[Callable[[Config], None]] = (),
                 hooks: Sequence[Hook] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 notifier: Notifier | None = None) -> None:
        self.home = home
        self.config = config
        self.events = SerialBus(events)
        self.clock = clock
        self.owner = owner or process_owner()
        self.imports = {item.name: item for item in scheduled_imports(config)}
        self.store: Store | None = None
        self.http_url = ""
        self.started_at: datetime | None = None
        self._config_loader = config_loader
        self._on_config = list(on_config)
        self._hooks = list(default_hooks(clock) if hooks is None else hooks)
        self._sleep = sleep
        self.notifier = notifier or Notifier()
        self.workers = Workers(home, self.owner, clock, self.events, lambda: self.config,
                               self._main_store, submit)
        self._timer: FireTimer | None = None
        self._apscheduler = True
        self._instance = InstanceLock(home.root)
        self._leader: LeaderLock | None = None
        # SQLite: the home's lock makes this process the one scheduler; PostgreSQL: elected.
        self.leading = False
        self.leader_since: datetime | None = None
        self._first_step = True
        self._stopping = False
        self._stop_signal = ""
        self._force = False
        self._reload = False
        self.running = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, *, apscheduler: bool = True) -> None:
        """Take the home's lock (or SchedulerAlreadyRunning), open the store, then lead (or,
        on PostgreSQL while another scheduler leads, stand by)."""
        self.started_at = self.clock.now()
        self._instance.acquire(self.info())
        self.home.ensure()
        self.store = open_store(self.home, self.config.store)
        self._apscheduler = apscheduler
        self.workers.start(self.config.scheduler.max_workers)
        if self.store.dialect == POSTGRES:
            # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
            from ingestctl.store.coordination import LeaderLock
            from ingestctl.store.postgres import PostgresStore

            assert isinstance(self.store, PostgresStore)
            self._leader = LeaderLock(self.store, LEADER_LOCK)
            self.elect()
            if not self.leading:
                log.info("another scheduler leads; standing by")
        else:
            self._lead()
        self.running = True

    def elect(self) -> bool:
        """PostgreSQL: keep the lead while the lock is ours, or take it when it is free."""
        if self._leader is None or self._stopping:
            return self.leading
        if self.leading:
            if not self._leader.check():
                self._step_down("the leader lock was lost with its database connection")
        elif self._leader.try_acquire():
            self._lead()
        return self.leading

    def _lead(self) -> None:
        self.leading, self.leader_since = True, self.clock.now()
        self._first_step = True  # catch up the slots missed while nobody led
        self._queue().recover()
        if self._apscheduler:
            self._timer = FireTimer(self.fire)
            self._timer.start(self.imports)
        if self._leader is not None:
            log.info("this scheduler leads now (%s)", self.owner)

    def _step_down(self, why: str) -> None:
        log.warning("this scheduler stops leading: %s; standing by", why)
        self.leading, self.leader_since = False, None
        if self._timer is not None:
            self._timer.shutdown()
            self._timer = None

    def role(self) -> dict[str, Any] | None:
        """Leading or standing by, and who leads (for /readyz); None without an election
        (SQLite: the one scheduler of the home)."""
        if self._leader is None:
            return None
        if self.leading:
            return {"role": "leader", "owner": self.owner,
                    "since": to_iso(self.leader_since)}
        leader: Any = None
        if self.store is not None:
            info = sched_store.get_state(self.store, sched_store.INFO)
            leader = json.loads(info).get("owner") if info else None
        return {"role": "standby", "owner": self.owner, "leader": leader}

    def info(self) -> dict[str, Any]:
        """Who this scheduler is: written to the lock file and with the heartbeat."""
        return {"pid": os.getpid(), "host": hostname(), "owner": self.owner,
                "started_at": to_iso(self.started_at), "http": self.http_url,
                "imports": sorted(self.imports)}

    def set_http_url(self, url: str) -> None:
        """Record where the HTTP endpoints listen (shown in the lock file)."""
        self.http_url = url
        self._instance.update(self.info())

    def serve(self, *, install_signals: bool = True) -> StopReport:
        """Step every ``poll_interval`` until SIGTERM/SIGINT, reloading on SIGHUP; then stop."""
        previous: dict[int, Any] = {}
        if install_signals:
            for signum, handler in ((signal.SIGTERM, self._on_stop), (signal.SIGINT, self._on_stop),
                                    (signal.SIGHUP, self._on_hup)):
                previous[signum] = signal.signal(signum, handler)
        try:
            due = 0.0
            self.notifier.ready(self.status_line())
            while not self._stop_signal:
                self.notifier.keepalive()
                if self._reload:
                    self._reload = False
                    self.notifier.reloading()
                    self.reload()
                    self.notifier.ready(self.status_line())
                if time.monotonic() >= due:
                    self.step()
                    due = time.monotonic() + max(0.1, self.config.scheduler.poll_interval)
                self._sleep(min(0.2, max(0.0, due - time.monotonic())))
            return self.stop()
        finally:
            for number, old in previous.items():
                signal.signal(number, old)

    def status_line(self) -> str:
        """One line for ``systemctl status``: what is scheduled and what runs."""
        return (f"{len(self.imports)} scheduled import(s), {len(self.workers.running())} "
                "running")

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: a signal handler must not take locks the main thread may hold.
        if self._stop_signal:
            self._force = True  # a second signal skips the rest of the grace time
        self._stop_signal = signal.Signals(signum).name

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True

    def stop(self, grace: float | None = None) -> StopReport:
        """Take no new work, wait for running imports up to the grace time, then release the
        leases of those still running (their attempts end as interrupted: retried at once,
        and using up no attempt)."""
        grace = self.config.scheduler.shutdown_grace if grace is None else grace
        self._stopping = True
        self.running = False
        self.notifier.stopping(f"stopping ({self._stop_signal or 'stop'}): "
                               f"{len(self.workers.running())} import(s) running")
        report = StopReport(self._stop_signal)
        if self._timer is not None:
            self._timer.shutdown()
        self.workers.shutdown()
        report.waited_for = len(self.workers.running())
        log.info("scheduler stopping (%s): waiting up to %s for %d running import(s)",
                 report.signal or "stop", format_duration(grace), report.waited_for)
        deadline = time.monotonic() + grace
        while self.workers.running() and time.monotonic() < deadline and not self._force:
            self.notifier.keepalive()
            self._sleep(0.05)
        left = self.workers.running()
        queue = self._queue()
        for entry in left:
            if entry.job_id is None:
                continue
            job = queue.get(entry.job_id)
            if job.status is not JobStatus.PROCESSING or job.lease_owner != self.owner:
                continue
            log.warning("job %s of import %s did not finish within the shutdown grace (%s); "
                        "its attempt is recorded as interrupted and retried", job.id,
                        entry.name, format_duration(grace), extra={"job_id": job.id})
            queue.interrupt(job, report.signal or "stop",
                            AttemptReport(items=int(job.progress.get("items", 0))))
            report.interrupted.append(job.id)
        report.abandoned = bool(left)
        self.close(threads_done=not left)
        return report

    def close(self, *, threads_done: bool = True) -> None:
        """Close the store connections and release the lock."""
        if threads_done:
            self.workers.close_stores()
        if self._leader is not None:
            self._leader.release()
        if self.store is not None:
            self.store.close()
        self.store = None
        self._instance.release()

    # -- the step ------------------------------------------------------------------------

    def step(self, now: datetime | None = None) -> StepReport:
        """One round of periodic work at ``now``; see the module docstring."""
        now = now or self.clock.now()
        report = StepReport(now)
        store = self._main_store()
        if not self._guard("election", self.elect):
            return report  # standing by: the leader does the rest
        first, self._first_step = self._first_step, False
        self._guard("heartbeat", sched_store.write_heartbeat, store, now,
                    self.info() if first else None)
        for item in list(self.imports.values()):
            # Published for `status`, which must not import APScheduler to compute it.
            self._guard(f"next run of {item.name}", self._publish_next_run, store, item, now)
            ledger = self._guard(f"ledger of {item.name}", update_import, store, item, now,
                                 self.events)
            if ledger is None:
                continue
            if ledger.missed:
                report.missed[item.name] = ledger.missed
            # Catch-up only on start: later, a due pending slot is APScheduler's to fire.
            for slot in ledger.due if first else []:
                log.info("catching up import %s for its slot %s", item.name, iso_out(to_iso(slot)))
                if self.fire(item.name, slot):
                    report.fired.append((item.name, slot))
        if not self._stopping:
            report.dispatched = self._guard("retries", self._dispatch_due, store, now) or []
            self._guard("recovery", self._queue().recover)
        with self.events.lock:  # hooks share the subscribers' state (the alert outbox)
            for hook in self._hooks:
                name = getattr(hook, "__name__", type(hook).__name__)
                self._guard(name, hook, store, self.config, now)
        return report

    def _publish_next_run(self, store: Store, item: ScheduledImport, now: datetime) -> None:
        upcoming = item.schedule.next_run(now)
        sched_store.set_state(store, f"next_run:{item.name}", to_iso(upcoming) or "", now)

    def _guard(self, what: str, func: Callable[..., Any], *args: Any) -> Any:
        self.notifier.keepalive()  # between each piece of a long step, for WatchdogSec
        try:
            return func(*args)
        except Exception as exc:  # the daemon must outlive a locked database or a bad hook
            log.error("scheduler %s failed: %s: %s", what, type(exc).__name__, exc,
                      exc_info=not isinstance(exc, IngestError))
            return None

    def _dispatch_due(self, store: Store, now: datetime) -> list[int]:
        dispatched = []
        for job in job_store.due_jobs(store, to_iso(now) or ""):
            created = from_iso(job.created_at)
            if job.status is JobStatus.PENDING and created is not None and (
                    now - created).total_seconds() < PENDING_MIN_AGE:
                continue
            entry = Inflight(job.import_key, job.name, "retry", job_id=job.id)
            if self.workers.claim(entry):
                self.workers.dispatch(entry, partial(self.workers.run_retry, entry))
                dispatched.append(job.id)
        return dispatched

    # -- firing and running --------------------------------------------------------------

    def fire(self, name: str, slot: datetime | None = None) -> bool:
        """Run import ``name`` for ``slot`` (default: its latest slot); False when skipped."""
        item = self.imports.get(name)
        if item is None or self._stopping:
            return False
        now = self.clock.now()
        slot = slot or latest_slot(item.schedule, now) or now
        store = self.workers.store()
        if sched_store.slot_outcome(store, name, slot) in sched_store.SERVED:
            return False  # already fired for this slot (catch-up raced with APScheduler)
        entry = Inflight(spec_for_config(item.config).import_key, name, "scheduled", slot)
        if not self.workers.claim(entry):
            if self._stopping:
                return False
            running = self.workers.get(entry.key)
            log.warning("import %s is still running; its slot %s is skipped", name,
                        iso_out(to_iso(slot)), extra={"import_key": entry.key})
            sched_store.record_run(store, name, slot, now, "skipped",
                                   running.job_id if running else None, now)
            return False
        if not sched_store.claim_slot(store, name, slot, now, now):
            self.workers.release(entry)
            return False  # another scheduler (a leader before us) already ran this slot
        self.workers.dispatch(entry, partial(self.workers.run_scheduled, item, entry))
        return True

    # -- configuration -------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config (SIGHUP); a bad new config is logged and the old one kept."""
        if self._config_loader is None:
            return False
        try:
            config = self._config_loader()
            items = {item.name: item for item in scheduled_imports(config)}
        except IngestError as exc:
            log.error("config reload failed; keeping the running config: %s", exc)
            return False
        old = self.imports
        self.config, self.imports = config, items
        self.workers.generation += 1
        if self._timer is not None:
            self._timer.update(old, items)
        for hook in self._on_config:
            hook(config)
        log.info("config reloaded: %d scheduled import(s) (%s)", len(items),
                    ", ".join(sorted(items)) or "none")
        return True

    def _main_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the scheduler is not started")
        return self.store

    def _queue(self) -> JobQueue:
        return JobQueue(self._main_store(), self.config.jobs, self.clock, self.events,
                        self.owner)

