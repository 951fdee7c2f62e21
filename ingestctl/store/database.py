"""The backend seam: :class:`Store` and its SQLite implementation (WAL, busy timeout, private
file mode, in-place migrations). PostgreSQL is :class:`ingestctl.store.postgres.PostgresStore`.

Store modules write SQL that both dialects accept, with ``?`` placeholders; they see one
connection interface (:class:`Connection`: ``execute``, ``executemany``, cursors with
``fetchone``, ``fetchall``, ``rowcount``) and rows addressable by index and by column name
(:class:`Row`), and branch on :attr:`Store.dialect` only where the dialects differ. See
docs/design.md ("The store").
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ingestctl.config import StoreConfig, is_postgres_url
from ingestctl.errors import StoreError, StoreFullError
from ingestctl.interrupt import deferred
from ingestctl.paths import Home, free_space
from ingestctl.store.schema import MIGRATIONS

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 30_000
SQLITE = "sqlite"
POSTGRES = "postgres"


class Row(Protocol):
    """A result row: by position (``row[0]``, unpacking) and by column name (``row["id"]``)."""

    def __getitem__(self, key: int | str, /) -> Any:
        """The value at a position or of a column."""
        ...

    def keys(self) -> list[str]:
        """The column names."""
        ...


class Cursor(Protocol):
    """What store modules use of a cursor."""

    @property
    def rowcount(self) -> int:
        """Rows changed by the statement."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows, one at a time."""
        ...


class Connection(Protocol):
    """What store modules use of a connection: ``?`` placeholders on both backends."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        """Run one statement."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        """Run one statement for each parameter set."""
        ...


def location(home: Home, cfg: StoreConfig) -> Path | str:
    """Where the store of ``home`` lives: ``[store] url`` when set, else the home's SQLite file."""
    return cfg.url or home.database


def open_store(home: Home, cfg: StoreConfig, *, readonly: bool = False) -> Store:
    """The store of ``home`` as ``[store]`` configures it (see :func:`location`)."""
    if cfg.url:
        return Store(cfg.url, readonly=readonly, pool_size=cfg.pool_size,
                     connect_timeout=cfg.connect_timeout)
    return Store(home.database, readonly=readonly)


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

#: Page size of a new database (SQLite's default is 4096).
PAGE_SIZE = 16384


class Store:
    """One open database; every query of ingestctl goes through ``store/`` modules.

    ``Store(location)`` opens the backend the location names, as ``pathlib.Path`` picks its
    flavour: a ``postgresql://`` URL gives a :class:`~ingestctl.store.postgres.PostgresStore`,
    a path a :class:`SqliteStore`.
    """

    dialect: ClassVar[str]
    #: How the store is named in messages (a path, or a URL without its password).
    where: str
    conn: Connection

    def __new__(cls, location: Path | str, **options: Any) -> Store:
        """The implementation for ``location`` (see the class docstring)."""
        if cls is Store:
            if isinstance(location, str) and is_postgres_url(location):
                # Start-up weight: psycopg only for PostgreSQL (tests/test_startup.py).
                from ingestctl.store.postgres import PostgresStore

                cls = PostgresStore
            else:
                cls = SqliteStore
        return super().__new__(cls)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (or give back the pool's)."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction whose reads see its writes; read-then-write is atomic on SQLite
        (one writer at a time); on PostgreSQL lock the rows read (``FOR UPDATE``)."""
        raise NotImplementedError

    def query(self, sql: str, params: Any = ()) -> list[Row]:
        """Rows of a read query, addressable by column name."""
        raise NotImplementedError

    def scalar(self, sql: str, params: Any = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @property
    def schema_version(self) -> int:
        """How many migrations this database has applied."""
        raise NotImplementedError

    def migrate(self) -> int:
        """Apply the migrations this database has not seen yet; returns how many."""
        raise NotImplementedError

    def pool_stats(self) -> Mapping[str, int]:
        """Connection pool figures (PostgreSQL); empty for SQLite's single connection."""
        return {}

    @property
    def server_version(self) -> str:
        """The database engine and its version, e.g. ``SQLite 3.40.1``."""
        raise NotImplementedError

    def tables(self) -> set[str]:
        """The names of the tables in the store."""
        raise NotImplementedError

    @property
    def location(self) -> Path | str:
        """What :class:`Store` opens this store from again: a path or a URL."""
        raise NotImplementedError


class SqliteStore(Store):
    """One open SQLite database file."""

    dialect = SQLITE
    conn: sqlite3.Connection

    def __init__(self, path: Path, *, readonly: bool = False,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.where = str(path)
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
                    # Only an empty file takes these (before WAL writes the header): `prune`
                    # can then hand freed pages back to the file system, and 16 KB pages make
                    # the sitemap importer's bulk merges about a third cheaper
                    # (docs/benchmarks.md). The page size first: setting auto_vacuum fixes
                    # the page size of an empty database at the default 4 KB.
                    self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
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
                # SQLite may have rolled back already (a full disk does): then there is
                # nothing to undo, and the original error is the one to report.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[Row]:
        """Rows of a read query, addressable by column name."""
        cursor = self.conn.execute(sql, params)
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    @property
    def location(self) -> Path:
        """The database file."""
        return self.path

    @property
    def server_version(self) -> str:
        """``SQLite`` and the library's version."""
        return f"SQLite {sqlite3.sqlite_version}"

    def tables(self) -> set[str]:
        """The names of the tables in the store (one read of sqlite_master)."""
        return {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    @property
    def schema_version(self) -> int:
        """How many migrations this database has applied."""
        return int(self.scalar("PRAGMA user_version") or 0)

    def migrate(self) -> int:
        """Apply the migrations this database has not seen yet, each in its own transaction.

        A database being created or upgraded is switched to WAL first (the mode is kept in
        the file, so later opens need not ask again).
        """
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(str(self.path), f"schema version {version} is newer than this "
                             f"ingestctl knows ({len(MIGRATIONS)}); upgrade ingestctl")
        if version == len(MIGRATIONS):
            return 0
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
        return len(MIGRATIONS) - version


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def where_clause(conditions: list[tuple[str, Any]], base: str = "1 = 1"
                 ) -> tuple[str, list[Any]]:
    """``base AND cond1 AND ...`` for the conditions whose value is given, with their params."""
    given = [(sql, value) for sql, value in conditions if value is not None and value != ""]
    return " AND ".join([base, *(sql for sql, _ in given)]), [value for _, value in given]
