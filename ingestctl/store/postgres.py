"""The PostgreSQL store: psycopg 3 over a psycopg-pool pool shared by the process's stores.

Store modules keep their SQL with ``?`` placeholders (and ``:name`` ones with a mapping);
:func:`translate` turns them into PostgreSQL's ``$1, $2`` once per statement text, and the
statements run on raw cursors (server-side binding, no ``%`` escaping). Rows are
:class:`PgRow` (by position and by column name, equal to tuples) and ``numeric`` results
(``sum`` of integers) come back as ``int`` or ``float``, as on SQLite.

A thread inside :meth:`PostgresStore.write` runs every statement of the store, reads
included, on the transaction's connection, so reads see the transaction's writes as they do
on SQLite; outside a transaction each statement borrows a pooled connection (autocommit).
Every psycopg error becomes a :class:`~ingestctl.errors.StoreError` naming the URL without
its password. See docs/guide/scale-out.md.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from ingestctl.errors import StoreError
from ingestctl.interrupt import deferred
from ingestctl.redact import redact_url
from ingestctl.store.database import POSTGRES, Connection, Cursor, Row, Store
from ingestctl.store.schema import MIGRATIONS
from ingestctl.store.schema_pg import MIGRATION_LOCK, POSTGRES_STEPS, VERSION_TABLE

log = logging.getLogger("ingestctl.store")



class _ToOurLog(logging.Handler):
    """psycopg-pool's own lines (each failed connection try) go to our log at debug level;
    what the user must know is raised as a StoreError instead of printed to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("psycopg pool: %s", record.getMessage())


logging.getLogger("psycopg.pool").propagate = False
logging.getLogger("psycopg.pool").addHandler(_ToOurLog())

HINT = "check that the server runs and [store] url (or INGESTCTL_DB_URL); `ingestctl db check`"

DEFAULT_POOL_SIZE = 10
DEFAULT_CONNECT_TIMEOUT = 10.0
# `?` or `:name` outside quotes; `::` casts, `$n` and quoted text are left alone.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|\$\$.*?\$\$|\?|:([A-Za-z_]\w*)""",
                     re.S)


@lru_cache(maxsize=512)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``$n`` placeholders, and the names of ``:name`` ones in order."""
    names: list[str] = []
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        token = match.group(0)
        if token == "?":
            counter += 1
            return f"${counter}"
        name = match.group(1)
        if name is None:
            return token
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKENS.sub(replace, sql), tuple(names)


def _bind(sql: str, params: Any) -> tuple[str, Sequence[Any] | None]:
    text, names = translate(sql)
    if isinstance(params, Mapping):
        return text, [params[name] for name in names]
    values = list(params) if params is not None else []
    return text, values if values or text != sql else None


class PgRow(tuple[Any, ...]):
    """A row by position and by column name, like ``sqlite3.Row``, and equal to a tuple."""

    _columns: dict[str, int]

    def __new__(cls, values: Sequence[Any], columns: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._columns = columns
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._columns[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names."""
        return list(self._columns)


def _row_factory(cursor: Any) -> RowMaker[PgRow]:
    columns = {col.name: i for i, col in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, columns)


class _NumericLoader(Loader):
    """``numeric`` as int when whole (``sum`` of integers), else float, as SQLite answers."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if any(c in text for c in ".eEN") else int(text)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _NumericLoader)


class PgCursor:
    """A fetched result (the connection went back to the pool): rows and the row count."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = None

    def fetchone(self) -> Any:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row


class PgConnection:
    """The :class:`~ingestctl.store.database.Connection` interface on a psycopg connection."""

    def __init__(self, store: PostgresStore, raw: psycopg.Connection[Any] | None) -> None:
        self._store = store
        self._raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        """Run one statement (on the thread's transaction, else a pooled connection)."""
        text, values = _bind(sql, parameters)
        with self._store.errors(), self._store.connection(self._raw) as raw:
            cursor = raw.execute(text, values)
            rows = cursor.fetchall() if cursor.description is not None else []
            return PgCursor(rows, cursor.rowcount)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        """Run one statement for each parameter set, in one transaction."""
        text, _ = translate(sql)
        with self._store.errors(), self._store.connection(self._raw) as raw:
            with raw.transaction(), raw.cursor() as cursor:
                cursor.executemany(text, [_bind(sql, p)[1] or () for p in parameters])
            return PgCursor([], cursor.rowcount)


class _Pools:
    """One pool per URL in a process, shared by its stores (threads open their own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, tuple[ConnectionPool[Any], int]] = {}

    def get(self, url: str, size: int, timeout: float) -> ConnectionPool[Any]:
        with self._lock:
            pool, users = self._pools.get(url, (None, 0))
            if pool is None:
                pool = _open_pool(url, size, timeout)
            self._pools[url] = (pool, users + 1)
            return pool

    def release(self, url: str) -> None:
        with self._lock:
            pool, users = self._pools.get(url, (None, 0))
            if pool is None:
                return
            if users <= 1:
                del self._pools[url]
                pool.close()
            else:
                self._pools[url] = (pool, users - 1)


POOLS = _Pools()


def _open_pool(url: str, size: int, timeout: float) -> ConnectionPool[Any]:
    where = redact_url(url)
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=max(1, size), open=False, timeout=timeout,
        name="ingestctl", configure=_configure,
        kwargs={"autocommit": True, "cursor_factory": psycopg.RawCursor,
                "row_factory": _row_factory, "connect_timeout": max(1, int(timeout)),
                "application_name": "ingestctl"})
    # One direct connection first: a refused or failing connection is reported at once in
    # libpq's words (the pool would retry until its timeout and only say it timed out).
    problem = _connect_error(url, timeout)
    if problem is None:
        try:
            pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            problem = f"no pooled connection within {timeout:g}s"
    if problem is not None:
        pool.close()
        raise StoreError(where, f"cannot connect: {problem}", HINT) from None
    return pool


def _connect_error(url: str, timeout: float) -> str | None:
    """Why connecting to ``url`` fails, in libpq's words; None when it works."""
    try:
        psycopg.connect(url, connect_timeout=max(1, int(timeout)),
                        application_name="ingestctl").close()
    except psycopg.Error as exc:
        return _one_line(exc)
    return None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class PostgresStore(Store):
    """A PostgreSQL database shared by every host; see the module docstring."""

    dialect = POSTGRES

    def __init__(self, url: str, *, readonly: bool = False,
                 pool_size: int = DEFAULT_POOL_SIZE,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.url = url
        self.where = redact_url(url)
        self.readonly = readonly
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self._pool: ConnectionPool[Any] | None = POOLS.get(url, pool_size, connect_timeout)
        self.conn = PgConnection(self, None)
        try:
            if not readonly:
                self.migrate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Give the pool back (it closes with the process's last store on this URL)."""
        if self._pool is not None:
            self._pool = None
            POOLS.release(self.url)

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The shared pool; StoreError once the store is closed."""
        if self._pool is None:
            raise StoreError(self.where, "the store is closed", HINT)
        return self._pool

    @contextmanager
    def errors(self) -> Iterator[None]:
        """psycopg errors as one-line StoreErrors naming the database."""
        try:
            yield
        except PoolTimeout as exc:
            raise StoreError(self.where, f"no free connection in the pool: {exc}",
                             "raise [store] pool_size") from None
        except psycopg.Error as exc:
            raise StoreError(self.where, _one_line(exc), HINT) from exc

    @contextmanager
    def connection(self, raw: psycopg.Connection[Any] | None = None
                   ) -> Iterator[psycopg.Connection[Any]]:
        """``raw``, else the thread's transaction connection, else one borrowed from the pool."""
        current = raw or getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.pool.connection() as borrowed:
            yield borrowed

    @property
    def location(self) -> str:
        """The database URL (with its password: pass it on, never print it)."""
        return self.url

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction on one pooled connection; nested calls join the outer one.

        An interruption (SIGINT, SIGTERM) arriving inside waits for the COMMIT or ROLLBACK.
        """
        current = getattr(self._local, "tx", None)
        if current is not None:
            yield PgConnection(self, current)
            return
        with deferred(), self.errors(), self.pool.connection() as raw, raw.transaction():
            self._local.tx = raw
            try:
                yield PgConnection(self, raw)
            finally:
                self._local.tx = None

    def query(self, sql: str, params: Any = ()) -> list[Row]:
        """Rows of a read query, addressable by column name."""
        return self.conn.execute(sql, params).fetchall()

    @property
    def server_version(self) -> str:
        """``PostgreSQL`` and the server's version."""
        return f"PostgreSQL {self.scalar('SHOW server_version')}"

    def tables(self) -> set[str]:
        """The names of the tables in the current schema."""
        return {r[0] for r in self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}

    @property
    def schema_version(self) -> int:
        """The highest migration recorded in ``schema_migrations`` (0 before the first)."""
        if VERSION_TABLE not in self.tables():
            return 0
        return int(self.scalar(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}") or 0)

    def migrate(self) -> int:
        """Apply the missing migrations, one transaction each, under an advisory lock so
        hosts starting together migrate once; returns how many were applied."""
        if self.schema_version == len(MIGRATIONS):
            return 0
        missing = [name for name, _ in MIGRATIONS if name not in POSTGRES_STEPS]
        if missing:
            raise StoreError(self.where, f"migration {missing[0]!r} has no PostgreSQL step; "
                             "this build of ingestctl cannot use PostgreSQL")
        applied = 0
        for number, (name, _) in enumerate(MIGRATIONS, start=1):
            with self.write() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
                conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version BIGINT "
                             "PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                version = int(conn.execute(f"SELECT coalesce(max(version), 0) FROM "
                                           f"{VERSION_TABLE}").fetchone()[0])
                if version > len(MIGRATIONS):
                    raise StoreError(self.where, f"schema version {version} is newer than "
                                     f"this ingestctl knows ({len(MIGRATIONS)}); upgrade "
                                     "ingestctl")
                if version >= number:
                    continue
                conn.execute(POSTGRES_STEPS[name])
                conn.execute(f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) "
                             "VALUES (?, ?, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))", (number, name))
                applied += 1
        return applied

    def pool_stats(self) -> Mapping[str, int]:
        """psycopg-pool's figures: ``pool_size``, ``pool_available``, ``pool_max``,
        ``requests_waiting``, ..."""
        return dict(self.pool.get_stats()) if self._pool is not None else {}

    def dedicated(self) -> psycopg.Connection[Any]:
        """A connection of its own, outside the pool (LISTEN, a session advisory lock)."""
        with self.errors():
            # Keepalives: the server notices a vanished host (a leader's lock is released).
            conn: psycopg.Connection[Any] = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)),
                application_name="ingestctl", cursor_factory=psycopg.RawCursor,
                row_factory=_row_factory, keepalives=1, keepalives_idle=10,
                keepalives_interval=5, keepalives_count=3)
        return conn

