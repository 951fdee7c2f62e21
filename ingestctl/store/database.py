"""The SQLite connection: WAL, busy timeout, private file mode and in-place migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl.errors import StoreError, StoreFullError
from ingestctl.interrupt import deferred
from ingestctl.paths import free_space
from ingestctl.store.schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 30_000
# SQLite's primary result codes (the low byte of ``sqlite_errorcode``).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_FULL = 5, 6, 8, 13


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The one-line error for a failed SQLite call on the store at ``path``, by its cause."""
    from ingestctl.units import format_size

    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == SQLITE_FULL:
        free = free_space(path)
        return StoreFullError(str(path), format_size(free) if free is not None else None)
    if code == SQLITE_READONLY:
        return StoreError(str(path), f"the database is read-only ({exc})",
                          hint="make the file, its -wal and -shm files and its directory "
                               "writable by this user")
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreError(str(path), str(exc), hint="is another process holding the database?")
    return StoreError(str(path), str(exc))


class Store:
    """One open SQLite database; every query of ingestctl goes through ``store/`` modules."""

    def __init__(self, path: Path, *, readonly: bool = False,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.readonly = readonly
        try:
            if not readonly:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not path.exists():
                    # Create it private before SQLite does, so data never sits world-readable;
                    # SQLite gives the -wal and -shm files the same mode.
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                uri = f"file:{path}"
            else:
                if not path.exists():
                    raise StoreError(str(path), "no database yet (run an import first)")
                uri = f"file:{path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                        check_same_thread=False, timeout=busy_timeout_ms / 1000)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not readonly:
                if path.stat().st_size == 0:
                    # Only an empty file takes this (before WAL writes the header): `prune`
                    # can then hand freed pages back to the file system.
                    self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                self.migrate()
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, imported on first use."""
        # Start-up weight: sqlite-utils costs ~100 ms; only migrations need it
        # (tests/test_monitoring_cli.py, tests/test_startup.py).
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so read-then-write is atomic.

        An interruption (SIGINT, SIGTERM) arriving inside waits for the COMMIT or ROLLBACK.
        """
        with deferred():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """Rows of a read query, addressable by column name."""
        cursor = self.conn.execute(sql, params)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    def scalar(self, sql: str, params: Any = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @property
    def schema_version(self) -> int:
        """How many migrations this database has applied."""
        return int(self.scalar("PRAGMA user_version") or 0)

    def migrate(self) -> None:
        """Apply the migrations this database has not seen yet, each in its own transaction.

        A database being created or upgraded is switched to WAL first (the mode is kept in
        the file, so later opens need not ask again).
        """
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(str(self.path), f"schema version {version} is newer than this "
                             f"ingestctl knows ({len(MIGRATIONS)}); upgrade ingestctl")
        if version == len(MIGRATIONS):
            return
        self.db.enable_wal()
        for number, (_name, step) in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.write():
                if self.schema_version >= number:  # another process got there first
                    continue
                if isinstance(step, str):
                    for statement in _statements(step):
                        self.conn.execute(statement)
                else:
                    step(self.db)
                self.conn.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def where_clause(conditions: list[tuple[str, Any]], base: str = "1 = 1"
                 ) -> tuple[str, list[Any]]:
    """``base AND cond1 AND ...`` for the conditions whose value is given, with their params."""
    given = [(sql, value) for sql, value in conditions if value is not None and value != ""]
    return " AND ".join([base, *(sql for sql, _ in given)]), [value for _, value in given]
