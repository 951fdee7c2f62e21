"""Coordination between hosts on PostgreSQL, each on a dedicated connection outside the pool.

* :class:`JobWaiter`: ``LISTEN`` for the notification the ``jobs_due`` trigger sends when a job
  is inserted or made pending or retrying, so an idle worker wakes at once instead of polling.
* :class:`LeaderLock`: a session advisory lock; the connection that holds it leads, and the
  server releases it when that connection ends, however the process died.

SQLite has neither: there a worker sleeps between queue checks and one scheduler per home
holds a file lock (docs/guide/scale-out.md).
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import psycopg

from ingestctl.errors import StoreError
from ingestctl.store.postgres import HINT, PostgresStore
from ingestctl.store.schema_pg import JOBS_CHANNEL

log = logging.getLogger("ingestctl.store")


def _close(conn: psycopg.Connection[Any], what: str) -> None:
    try:
        conn.close()
    except psycopg.Error:  # the connection is being dropped anyway
        log.debug("closing the %s connection failed", what, exc_info=True)


class JobWaiter:
    """Waits for a due-job notification (or a timeout) on its own connection."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._conn: psycopg.Connection[Any] | None = None
        self.wakeups = 0

    def listen(self) -> None:
        """Start listening (before the first queue check, so no notification is missed)."""
        if self._conn is None:
            self._conn = self.store.dedicated()
            with self.store.errors():
                self._conn.execute(f"LISTEN {JOBS_CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when a job became due (or may have).

        Notifications that piled up while the worker was busy are taken together. A lost
        connection is reported as a wake-up, so the caller checks the queue and listens again.
        """
        try:
            self.listen()
            assert self._conn is not None
            woke = any(True for _ in self._conn.notifies(timeout=max(0.0, timeout),
                                                          stop_after=1))
            if woke:
                self.wakeups += 1
                for _ in self._conn.notifies(timeout=0.0):
                    pass
            return woke
        except (psycopg.Error, StoreError) as exc:
            log.warning("waiting for jobs on %s failed (%s); checking the queue and "
                        "listening again", self.store.where, exc)
            self.close()
            return True

    def close(self) -> None:
        """Stop listening."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            _close(conn, "listening")


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for ``name`` (held with a fixed class id)."""
    key = zlib.crc32(name.encode())
    return key - 2**32 if key >= 2**31 else key


#: pg_try_advisory_lock(class, key) class of ingestctl's locks ("ingc").
LOCK_CLASS = 0x696E6763


class LeaderLock:
    """A session advisory lock named ``name``: whoever holds it leads."""

    def __init__(self, store: PostgresStore, name: str) -> None:
        self.store = store
        self.name = name
        self.key = lock_key(name)
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        """True while this process holds the lock (as far as it last checked)."""
        return self._conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self._conn is not None:
            return self.check()
        conn = self.store.dedicated()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock($1::int, $2::int)",
                               (LOCK_CLASS, self.key)).fetchone()
            got = bool(row and row[0])
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(self.store.where, str(exc).strip().splitlines()[0], HINT) from None
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def check(self) -> bool:
        """Confirm the lock is still ours: the connection answers and holds it."""
        if self._conn is None:
            return False
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2",
                (LOCK_CLASS, self.key % 2**32)).fetchone()
            held = bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("the leader lock %s was lost with its connection (%s)", self.name, exc)
            self.release()
            return False
        if not held:
            self.release()
        return bool(held)

    def release(self) -> None:
        """Let the lock go (closing the session releases it on the server)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            _close(conn, "leader")

    def holder(self) -> int | None:
        """The server pid of the session holding the lock, if any (for messages)."""
        value = self.store.scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = ? AND objid::bigint = ?", (LOCK_CLASS, self.key % 2**32))
        return int(value) if value is not None else None
