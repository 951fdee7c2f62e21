"""Keeping a job's lease while its attempt runs: a timer thread with its own store connection.

The import may be waiting on a silent server, parsing a big file or holding the store's write
lock for a large batch; none of that stops the renewals. The keeper writes on its own SQLite
connection (WAL lets it commit between the import's transactions) with a short busy timeout,
so a renewal waits for at most one of the import's write transactions and is tried again soon
when it could not get the lock. The latest progress the import published goes with each
renewal, for ``status`` and ``jobs list`` in other processes. See
docs/guide/jobs-and-failures.md ("Leases").
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingestctl.clock import Clock, to_iso
from ingestctl.config import JobsConfig
from ingestctl.errors import StoreError
from ingestctl.redact import redact_data
from ingestctl.store import Store
from ingestctl.store import jobs as job_store

log = logging.getLogger("ingestctl.lease")

#: Seconds before a renewal that could not get the write lock is tried again.
RETRY_AFTER = 1.0


class LeaseKeeper:
    """Renews the lease of one job every ``heartbeat`` seconds until :meth:`stop`."""

    def __init__(self, location: Path | str, job_id: int, owner: str, cfg: JobsConfig, clock: Clock,
                 *, on_lost: Callable[[], None] | None = None) -> None:
        self.location = location
        self.job_id = job_id
        self.owner = owner
        self.lease = cfg.lease
        # At least three renewals per lease, so one that waits or fails is not fatal.
        self.interval = max(0.05, min(cfg.heartbeat, cfg.lease / 3))
        self.busy_timeout = max(0.05, min(2.0, cfg.lease / 10))
        self.clock = clock
        self.on_lost = on_lost
        self.renewals = 0
        self.failures = 0
        self.max_wait = 0.0  # longest time one renewal took, lock wait included (seconds)
        self.lost = False
        self._progress: dict[str, Any] | None = None
        self._published = False
        self._store: Store | None = None
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start renewing on a daemon thread (it dies with the process, as a lease should)."""
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.job_id}",
                                        daemon=True)
        self._thread.start()

    @property
    def progress(self) -> dict[str, Any]:
        """The progress last published by the import."""
        return dict(self._progress or {})

    def publish(self, progress: dict[str, Any]) -> None:
        """Progress to write with the next renewal; the first one is written at once."""
        self._progress = redact_data(dict(progress))  # shown by status: no URL secrets
        if not self._published:
            self._published = True
            self._wake.set()

    def stop(self) -> None:
        """Stop renewing and close the connection (the attempt is ending)."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.busy_timeout + 5)
        if self._store is not None and (self._thread is None or not self._thread.is_alive()):
            self._store.close()
            self._store = None

    def renew(self) -> bool:
        """One renewal now; False when it could not be written (it is tried again soon)."""
        started = time.perf_counter()
        moment = self.clock.now()
        until = to_iso(moment + timedelta(seconds=self.lease)) or ""
        try:
            if self._store is None:
                # SQLite: its own connection with a short busy timeout; PostgreSQL: the pool.
                self._store = (Store(self.location,
                                     busy_timeout_ms=int(self.busy_timeout * 1000))
                               if isinstance(self.location, Path) else Store(self.location))
            ours = job_store.renew_lease(self._store, self.job_id, self.owner, until,
                                         to_iso(moment) or "", self._progress)
        except (sqlite3.Error, StoreError) as exc:
            self.failures += 1
            log.debug("lease of job %s not renewed (%s); trying again in %.0f s", self.job_id,
                      exc, RETRY_AFTER, extra={"job_id": self.job_id})
            return False
        waited = time.perf_counter() - started
        self.max_wait = max(self.max_wait, waited)
        self.renewals += 1
        if waited > self.lease / 2:
            log.warning("renewing the lease of job %s took %.1f s (lease %.0f s)", self.job_id,
                        waited, self.lease, extra={"job_id": self.job_id})
        if not ours and not self.lost:
            self.lost = True
            log.warning("job %s is no longer owned by this process (%s); its lease is not "
                        "renewed any more", self.job_id, self.owner,
                        extra={"job_id": self.job_id})
            if self.on_lost is not None:
                self.on_lost()
        return True

    def _loop(self) -> None:
        wait = self.interval
        while not self._stopped.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopped.is_set():
                break
            wait = self.interval if self.renew() else min(RETRY_AFTER, self.interval)
            if self.lost:
                break
