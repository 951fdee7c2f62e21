"""Staging files: the rows of a parsed sitemap file in small SQLite files, merged in C.

Binding a row through Python costs several microseconds; one thread doing it for every URL
and image capped an import at one core. So whoever parses a file (a parse helper process, or
a worker thread for small root files) also binds its rows, into a private staging file of up
to :data:`BATCH` URLs, and hands over only the file's path. The store's single writer then
merges each file with a few set-based ``INSERT ... SELECT ... ON CONFLICT`` statements
(:meth:`ingestctl.store.sitemaps.UrlWriter.merge`), which run entirely inside SQLite, and
deletes it. Staging files have no indexes, no journal and no fsync: they are scratch space
inside a directory private to one crawl, removed when the crawl ends (or, after a crash, by
the next crawl). See docs/benchmarks.md for the per-row costs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from ingestctl.errors import StoreError
from ingestctl.quality.sitemap_stats import CountedUrls

#: URLs per staging file: big enough that attaching and committing cost nothing per row,
#: small enough that progress moves and a file never holds much disk.
BATCH = 20_000

#: The staging tables and their columns; ``urls.image`` holds a URL's only image.
TABLES = {
    "urls": "url, lastmod, changefreq, priority, image",
    "images": "url, position, loc, title, caption",
    "videos": "url, position, title, content_loc, player_loc, thumbnail_loc, description",
    "news": "url, publication_name, language, publication_date, title",
    "alternates": "url, position, hreflang, href",
}
EXTENSIONS = ("images", "videos", "news", "alternates")
#: Rows per INSERT statement: binding many rows per statement halves the cost per row.
ROWS_PER_INSERT = 50
_WIDTH = {name: cols.count(",") + 1 for name, cols in TABLES.items()}
_ONE = {name: f"INSERT INTO {name} VALUES ({', '.join('?' * width)})"
        for name, width in _WIDTH.items()}
_MANY = {name: f"INSERT INTO {name} VALUES " + ", ".join(
    [f"({', '.join('?' * width)})"] * ROWS_PER_INSERT) for name, width in _WIDTH.items()}


def _insert(conn: sqlite3.Connection, table: str, rows: list[Any]) -> None:
    """Insert ``rows`` (tuples of the table's width), many per statement."""
    whole = len(rows) // ROWS_PER_INSERT * ROWS_PER_INSERT
    if whole:
        flat = list(chain.from_iterable(rows[:whole] if whole < len(rows) else rows))
        step = _WIDTH[table] * ROWS_PER_INSERT
        conn.executemany(_MANY[table], [flat[i:i + step] for i in range(0, len(flat), step)])
    if whole < len(rows):
        conn.executemany(_ONE[table], rows[whole:])
_PREFIX = "stage-"


@dataclass(frozen=True, slots=True)
class Staged:
    """One staging file ready to merge: its path, its URL rows, which extensions it holds."""

    path: str
    urls: int
    extensions: tuple[str, ...] = ()
    figures: CountedUrls = field(default_factory=CountedUrls)


@dataclass
class _Open:
    conn: sqlite3.Connection
    path: str
    urls: int = 0
    extensions: set[str] = field(default_factory=set)


class StageWriter:
    """Writes the rows of one sitemap file into staging files of at most ``limit`` URLs.

    ``scope`` is the (``scheme://host/``, ``scheme://host/dir/``) prefixes of the sitemap's
    origin and directory (None skips the scope figures) and ``future`` the normalised lastmod
    after which a date counts as in the future.
    """

    def __init__(self, directory: str, scope: tuple[str, str] | None, future: str,
                 limit: int = BATCH) -> None:
        self.directory = directory
        self.scope = scope
        self.future = future
        self.limit = limit
        self._open: _Open | None = None

    def add(self, urls: list[Any], extensions: dict[str, list[Any]] | None = None
            ) -> list[Staged]:
        """Stage URL rows and their extension rows; the staging file they filled, if any.

        The rows of one call stay in one file (a file may go past ``limit`` by one call):
        a URL's extension rows must never be merged before its URL row.
        """
        current = self._current()
        if urls:
            _insert(current.conn, "urls", urls)
            current.urls += len(urls)
        if extensions:
            for name, rows in extensions.items():
                if rows:
                    _insert(current.conn, name, rows)
                    current.extensions.add(name)
        return [self._close()] if current.urls >= self.limit else []

    def flush(self) -> list[Staged]:
        """Close the staging file being filled, when it holds anything."""
        if self._open is None:
            return []
        if not self._open.urls and not self._open.extensions:
            self.discard()
            return []
        return [self._close()]

    def discard(self) -> None:
        """Drop the staging file being filled (the file is read again from the start)."""
        current, self._open = self._open, None
        if current is not None:
            _drop(current)

    def _current(self) -> _Open:
        if self._open is None:
            fd, path = tempfile.mkstemp(prefix=_PREFIX, suffix=".db", dir=self.directory)
            os.close(fd)
            opened = _Open(sqlite3.connect(path, isolation_level=None,
                                           check_same_thread=False), path)
            try:
                conn = opened.conn
                # Scratch space: no journal, no fsync, big pages (fewer page splits per row).
                conn.execute("PRAGMA page_size = 65536")
                conn.execute("PRAGMA journal_mode = OFF")
                conn.execute("PRAGMA synchronous = OFF")
                conn.execute("BEGIN")
                for name, columns in TABLES.items():
                    conn.execute(f"CREATE TABLE {name} ({columns})")
            except BaseException:
                _drop(opened)  # as in _close: a full disk must get its space back at once
                raise
            self._open = opened
        return self._open

    def _close(self) -> Staged:
        current, self._open = self._open, None
        assert current is not None
        conn = current.conn
        try:
            figures = self._figures(conn, current.urls)
            conn.execute("COMMIT")
        except BaseException:
            # A full disk, usually: an open connection would keep the unlinked file's space,
            # which the failed attempt needs to be recorded.
            _drop(current)
            raise
        conn.close()
        return Staged(current.path, current.urls, tuple(sorted(current.extensions)), figures)

    def _figures(self, conn: sqlite3.Connection, urls: int) -> CountedUrls:
        if not urls:
            return CountedUrls()
        origin, folder = self.scope or ("", "")
        args = {"future": self.future, "origin": origin, "no": len(origin), "folder": folder,
                "nf": len(folder)}
        # One pass for every figure; the few URLs they single out are read afterwards.
        dated, future, earliest, latest, outside, other = conn.execute(
            "SELECT count(lastmod), coalesce(sum(lastmod > :future), 0), min(lastmod), "
            "max(lastmod), coalesce(sum(substr(url, 1, :no) = :origin AND substr(url, 1, :nf) "
            "<> :folder), 0), coalesce(sum(substr(url, 1, :no) <> :origin), 0) FROM urls",
            args).fetchone()
        if self.scope is None:
            outside = other = 0

        def some(what: str, limit: int = 5) -> tuple[str, ...]:
            return tuple(row[0] for row in conn.execute(
                f"SELECT {what} LIMIT {limit}", args))

        return CountedUrls(
            urls, dated, future, earliest, latest,
            some("lastmod FROM urls WHERE lastmod > :future") if future else (),
            outside,
            some("url FROM urls WHERE substr(url, 1, :no) = :origin AND substr(url, 1, :nf) "
                 "<> :folder") if outside else (),
            some("url FROM urls WHERE substr(url, 1, :no) <> :origin", urls) if other else ())


def _drop(current: _Open) -> None:
    """Close a staging file's connection and remove the file."""
    current.conn.close()
    with contextlib.suppress(OSError):
        os.unlink(current.path)


class StagingArea:
    """The private directory of one crawl's staging files; stale ones of dead crawls go."""

    def __init__(self, parent: Path) -> None:
        try:
            parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _remove_stale(parent)
            self.path = tempfile.mkdtemp(prefix=f"crawl-{os.getpid()}-", dir=parent)
        except OSError as exc:
            raise StoreError(str(parent), f"cannot create the staging directory: "
                             f"{exc.strerror or exc}") from None

    def owns(self, path: str) -> bool:
        """True for a staging file inside this area (what the writer may attach)."""
        return os.path.dirname(os.path.abspath(path)) == self.path and \
            os.path.basename(path).startswith(_PREFIX)

    def close(self) -> None:
        """Remove the directory and whatever is left in it."""
        shutil.rmtree(self.path, ignore_errors=True)


def _remove_stale(parent: Path) -> None:
    """Remove the areas of crawls whose process is gone (killed before it cleaned up)."""
    for area in parent.glob("crawl-*-*"):
        try:
            pid = int(area.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(area, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_dir(location: Path | str) -> Path:
    """Where an import stages its rows: beside a SQLite store (same disk, private home), or
    for a PostgreSQL store in a private directory of this user under the system's temp."""
    if isinstance(location, Path):
        return location.parent / "staging"
    return Path(tempfile.gettempdir()) / f"ingestctl-{os.getuid()}" / "staging"
