"""The SQLite connection: WAL, busy timeout, private file mode and in-place migrations."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl.errors import StoreError
from ingestctl.store.schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 30_000
#: Page size of a new database (SQLite's default is 4096).
PAGE_SIZE = 16384


class Store:
    """One open SQLite database; every query of ingestctl goes through ``store/`` modules."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            if not readonly:
                path.parent.mkdir(parents=True, exist_ok=True)
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
                                        check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                if path.stat().st_size == 0:
                    # Only a new (empty) file takes this: 16 KB pages make the sitemap
                    # importer's bulk merges about a third cheaper (docs/benchmarks.md).
                    self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                self.migrate()
        except sqlite3.Error as exc:
            raise StoreError(str(path), str(exc)) from None

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, imported on first use (it is slow to import)."""
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
        """A write transaction that takes the lock up front, so read-then-write is atomic."""
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
        """Apply the migrations this database has not seen yet, each in its own transaction."""
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(str(self.path), f"schema version {version} is newer than this "
                             f"ingestctl knows ({len(MIGRATIONS)}); upgrade ingestctl")
        for number, (_name, script) in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.write():
                if self.schema_version >= number:  # another process got there first
                    continue
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def where_clause(conditions: list[tuple[str, Any]], base: str = "1 = 1"
                 ) -> tuple[str, list[Any]]:
    """``base AND cond1 AND ...`` for the conditions whose value is given, with their params."""
    given = [(sql, value) for sql, value in conditions if value is not None and value != ""]
    return " AND ".join([base, *(sql for sql, _ in given)]), [value for _, value in given]
