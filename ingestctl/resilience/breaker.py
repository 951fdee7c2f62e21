"""Circuit breakers shared by separate processes through one JSON file (``breakers.json``),
or, with a PostgreSQL store, through its ``breakers`` table so every host shares them.

Every read-modify-write holds an exclusive ``flock`` on a side lock file and replaces the
file atomically (temporary file in the same directory, fsync, ``os.replace``, mode 0600), so
cron-started processes never lose each other's updates and readers never see half a file. On
PostgreSQL the key's row is locked (``FOR UPDATE``) for the read-modify-write instead
(:class:`StoreBook`), so of processes on several hosts exactly one becomes the probe.

    closed --N countable failures--> open --reset_timeout--> half_open (one probe, leased)
    half_open --success_threshold successes--> closed;  half_open --probe failure--> open

Only classes with ``ErrorClass.trips_breaker`` (transient, rate_limited) count; auth,
not_found and data failures neither count nor reset the run of failures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from ingestctl.clock import SYSTEM, Clock
from ingestctl.config import BreakerConfig
from ingestctl.errors import CircuitOpenError, ErrorClass
from ingestctl.host import hostname
from ingestctl.resilience.breaker_files import BreakerBook, FileBook, OpenBook
from ingestctl.resilience.breaker_state import (
    Admission,
    BreakerState,
    BreakerStatus,
    BreakerTransition,
)

log = logging.getLogger("ingestctl.breaker")


OnTransition = Callable[[BreakerTransition], None]


def default_owner() -> str:
    """``host:pid``, naming the process that holds a probe lease."""
    return f"{hostname()}:{os.getpid()}"


def breaker_key(source: str, target: str) -> str:
    """``sitemap:HOST[:PORT]`` for a sitemap URL; ``SOURCE:TARGET`` (account, site) otherwise."""
    parts = urlsplit(target)
    if source == "sitemap" and parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname.lower()
        return f"{source}:{host}:{parts.port}" if parts.port else f"{source}:{host}"
    return f"{source}:{target}"


class BreakerBoard:
    """All circuit breakers of one home directory, safe across threads and processes."""

    def __init__(
        self,
        path: Path,
        cfg: BreakerConfig,
        clock: Clock = SYSTEM,
        owner: str | None = None,
        on_transition: OnTransition | None = None,
        book: BreakerBook | None = None,
    ) -> None:
        self.path = Path(path)
        self.book: BreakerBook = book or FileBook(self.path)
        self.cfg = cfg
        self.clock = clock
        self.owner = owner or default_owner()
        self.on_transition = on_transition

    def admit(self, key: str) -> Admission:
        """Let a call for ``key`` through, or raise :class:`CircuitOpenError` with a retry time."""
        refused: datetime | None = None
        is_probe = False
        with self.book.transaction(key) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if st is None or st.state is BreakerStatus.CLOSED:
                pass
            elif st.state is BreakerStatus.OPEN and now < _must(st.open_until):
                refused = _must(st.open_until)
            elif (st.state is BreakerStatus.HALF_OPEN and st.probe_owner
                  and st.probe_owner != self.owner and st.probe_until and st.probe_until > now):
                # Someone else is probing; look again when its lease ends, or sooner.
                refused = min(st.probe_until, now + timedelta(seconds=self.cfg.reset_timeout))
            else:
                if st.state is BreakerStatus.OPEN:
                    self._move(book, st, BreakerStatus.HALF_OPEN, now, "reset timeout passed")
                    st.successes = 0
                st.probe_owner = self.owner
                st.probe_until = now + timedelta(seconds=self.cfg.probe_lease)
                st.updated_at = now
                book.dirty = True
                is_probe = True
        self._notify(book)
        if refused is not None:
            raise CircuitOpenError(key, refused)
        return Admission(key, is_probe, book.transitions[0] if book.transitions else None)

    def record_success(self, key: str) -> BreakerTransition | None:
        """A call for ``key`` succeeded: resets the failure run, or counts towards closing."""
        with self.book.transaction(key) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if st is None:
                pass
            elif st.state is BreakerStatus.CLOSED and st.failures:
                st.failures = 0
                st.updated_at = now
                book.dirty = True
            elif st.state is BreakerStatus.HALF_OPEN:
                st.successes += 1
                if st.probe_owner == self.owner:
                    st.probe_owner, st.probe_until = None, None
                if st.successes >= self.cfg.success_threshold:
                    self._move(book, st, BreakerStatus.CLOSED, now,
                               f"{st.successes} successful probe(s)")
                    _clear(st)
                st.updated_at = now
                book.dirty = True
            # A success while open came from a call admitted before it opened: no news.
        return self._notify(book)

    def record_failure(self, key: str, error_class: ErrorClass | str) -> BreakerTransition | None:
        """A call for ``key`` failed with ``error_class``; countable ones may open the breaker."""
        klass = ErrorClass(error_class)
        with self.book.transaction(key, create=klass.trips_breaker) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if not klass.trips_breaker:
                # Not about availability, but free the probe so the next caller need not wait.
                if st is not None and st.probe_owner == self.owner:
                    st.probe_owner, st.probe_until = None, None
                    st.updated_at = now
                    book.dirty = True
            else:
                if st is None:
                    st = book.states[key] = BreakerState(key)
                st.failures += 1
                st.last_error_class = klass.value
                st.updated_at = now
                book.dirty = True
                if (st.state is BreakerStatus.CLOSED
                        and st.failures >= self.cfg.failure_threshold):
                    self._open(book, st, now, f"{st.failures} consecutive failures, "
                                              f"the last one {klass.value}")
                elif st.state is BreakerStatus.HALF_OPEN:
                    self._open(book, st, now, f"the probe failed ({klass.value})")
        return self._notify(book)

    def states(self) -> list[BreakerState]:
        """Every known breaker, sorted by key; reads without the lock (the file is atomic)."""
        return self.book.load()

    def reset(self, key: str) -> BreakerTransition | None:
        """Close ``key`` by hand (``ingestctl breaker reset KEY``) and forget its history."""
        with self.book.transaction(key) as book:
            st = book.states.pop(key, None)
            if st is not None:
                book.dirty = True
                if st.state is not BreakerStatus.CLOSED:
                    self._move(book, st, BreakerStatus.CLOSED, self.clock.now(), "reset by hand")
        return self._notify(book)

    def reset_all(self) -> list[BreakerTransition]:
        """Close every breaker by hand; returns the transitions of those that were not closed."""
        with self.book.transaction(None) as book:
            now = self.clock.now()
            for st in book.states.values():
                if st.state is not BreakerStatus.CLOSED:
                    self._move(book, st, BreakerStatus.CLOSED, now, "reset by hand")
            book.dirty = book.dirty or bool(book.states)
            book.states.clear()
        self._notify(book)
        return book.transitions

    def _open(self, book: OpenBook, st: BreakerState, now: datetime, reason: str) -> None:
        self._move(book, st, BreakerStatus.OPEN, now, reason)
        st.opened_at = now
        st.open_until = now + timedelta(seconds=self.cfg.reset_timeout)
        st.successes = 0
        st.probe_owner, st.probe_until = None, None

    def _move(self, book: OpenBook, st: BreakerState, new: BreakerStatus, now: datetime,
              reason: str) -> None:
        book.transitions.append(BreakerTransition(st.key, st.state, new, now, reason))
        st.state = new

    def _notify(self, book: OpenBook) -> BreakerTransition | None:
        # Called after the lock is released: a slow callback must not block other processes.
        if self.on_transition is not None:
            for transition in book.transitions:
                self.on_transition(transition)
        return book.transitions[-1] if book.transitions else None


def _must(moment: datetime | None) -> datetime:
    if moment is None:  # pragma: no cover - from_json rejects an open entry without it
        raise ValueError("open breaker without open_until")
    return moment


def _clear(st: BreakerState) -> None:
    st.failures = st.successes = 0
    st.opened_at = st.open_until = None
    st.probe_owner = st.probe_until = None
