"""Queries on sitemap files fetched and the URLs they list, with their extension rows.

The importer writes through one :class:`UrlWriter` per attempt. Rows arrive in staging files
(small SQLite databases written by the parsers, see ``sources/sitemap/staging.py``). On SQLite
each is attached and merged with one set-based ``INSERT ... SELECT ... ON CONFLICT`` per
table, so no row passes through Python here; on PostgreSQL its rows are loaded with ``COPY``
into temporary staging tables of the transaction and merged with the same statements. The
constants of a merge (import, file, job, time) are literals. Extension rows (images, videos,
news, hreflang alternates) are keyed by the same (import_id, url); a trigger deletes a URL's
extension rows whenever its row is upserted again, so they always reflect its latest listing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ingestctl.store.database import POSTGRES, Connection, Row, Store

#: Statuses of a file that count as read by a job (its URLs are current).
DONE_STATUSES = ("ok", "not_modified")

#: Extension tables and their columns after (import_id, url); the staging tables match.
_EXTENSIONS = {
    "images": "position, loc, title, caption",
    "videos": "position, title, content_loc, player_loc, thumbnail_loc, description",
    "news": "publication_name, language, publication_date, title",
    "alternates": "position, hreflang, href",
}

_FILE_COLUMNS = ("id, url, parent_url, depth, kind, status, http_status, etag, last_modified, "
                 "bytes, urls, error_class, error_message, job_id, fetched_at, problems, "
                 "checked_at, digest, raw_digest, summary, redirects")


@dataclass
class SitemapFile:
    """One sitemap file as last listed, fetched or refused for an import."""

    url: str
    parent_url: str | None = None
    depth: int = 0
    kind: str | None = None
    status: str = "pending"
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    bytes: int = 0
    urls: int = 0
    error_class: str | None = None
    error_message: str | None = None
    job_id: int | None = None
    fetched_at: str | None = None
    problems: dict[str, Any] | None = None
    checked_at: str | None = None
    digest: str | None = None       # SHA-256 of the content after gunzip, when read in full
    raw_digest: str | None = None   # SHA-256 of a gzip file's bytes as fetched
    summary: dict[str, Any] | None = None   # its quality figures when last read
    redirects: list[str] | None = None  # the hops of the last fetch: "301 https://..."
    id: int = 0


#: What an upsert of a URL row (``INSERT INTO sitemap_urls AS u``) does when the import
#: already holds the URL; SQL both dialects accept.
URL_CONFLICT = (
    "ON CONFLICT(import_id, url) DO UPDATE SET "
    "added_job_id = CASE WHEN u.removed_at IS NOT NULL THEN excluded.added_job_id "
    "ELSE u.added_job_id END, "
    "changed_job_id = CASE WHEN u.removed_at IS NULL AND u.last_job_id IS DISTINCT FROM "
    "excluded.last_job_id AND (u.lastmod IS DISTINCT FROM excluded.lastmod OR "
    "u.changefreq IS DISTINCT FROM excluded.changefreq OR u.priority IS DISTINCT FROM "
    "excluded.priority) THEN excluded.last_job_id ELSE u.changed_job_id END, "
    "lastmod = excluded.lastmod, changefreq = excluded.changefreq, "
    "priority = excluded.priority, file_id = excluded.file_id, "
    "last_seen = excluded.last_seen, last_job_id = excluded.last_job_id, "
    "removed_at = NULL, removed_job_id = NULL")


class UrlWriter:
    """Merges staging files of one import and job; use it from the store's own thread."""

    def __init__(self, store: Store, import_id: int, job_id: int, now: str) -> None:
        if "'" in now:
            raise ValueError("bad timestamp")
        self.store = store
        self.import_id = int(import_id)
        self.job_id = int(job_id)
        self.now = now

    def _statements(self, file_id: int, extensions: tuple[str, ...]) -> list[str]:
        """The set-based merge of one staging file's tables (see :meth:`_source`).

        URL rows go first, so the trigger clears a re-listed URL's old extension rows before
        the new ones arrive; a URL listed twice keeps its last listing. Constants are
        literals; "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        """
        imp, job, now = self.import_id, self.job_id, self.now
        statements = [
            "INSERT INTO sitemap_urls AS u (import_id, url, lastmod, changefreq, priority, "
            f"file_id, first_seen, last_seen, last_job_id, added_job_id) SELECT {imp}, url, "
            f"lastmod, changefreq, priority, {int(file_id)}, '{now}', '{now}', {job}, {job} "
            f"{self._source('urls', 'url, lastmod, changefreq, priority', ('url',))} "
            f"{URL_CONFLICT}",
            _replace_from("images", "position, loc",
                          f"SELECT {imp}, url, 0, image "
                          f"{self._source('urls', 'url, image', ('url',), 'image IS NOT NULL')}")]
        for name in extensions:
            columns = _EXTENSIONS[name]
            key = ("url", "position") if "position" in columns.split(", ") else ("url",)
            statements.append(_replace_from(
                name, columns,
                f"SELECT {imp}, url, {columns} {self._source(name, f'url, {columns}', key)}"))
        return statements

    def _source(self, table: str, columns: str, key: tuple[str, ...], where: str = "true"
                ) -> str:
        """FROM and WHERE of a merge reading the staging ``table``.

        SQLite reads the attached file and upserts its rows in order, so a key listed twice
        keeps its last row. PostgreSQL refuses to update one row twice in a statement: it
        reads the last row of each key from the copied table (rows numbered as listed).
        """
        if self.store.dialect != POSTGRES:
            return f"FROM stage.{table} WHERE {where}"
        # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
        from ingestctl.store.bulk_pg import latest

        return f"FROM {latest(f'stage_{table}', columns.split(', '), key, where)} WHERE true"

    def merge(self, file_id: int, path: str, extensions: tuple[str, ...] = ()) -> None:
        """Upsert the rows of the staging file ``path`` in one transaction."""
        if self.store.dialect == POSTGRES:
            self._merge_copied(file_id, path, extensions)
            return
        conn = self.store.conn
        conn.execute("ATTACH DATABASE ? AS stage", (path,))
        try:
            with self.store.write():
                for statement in self._statements(file_id, extensions):
                    conn.execute(statement)
        finally:
            conn.execute("DETACH DATABASE stage")

    def _merge_copied(self, file_id: int, path: str, extensions: tuple[str, ...]) -> None:
        # PostgreSQL cannot attach a SQLite file: COPY its tables (numbered by rowid, the
        # order rows were listed) into temporary tables of this transaction (dropped at
        # COMMIT), then merge them set-based as on SQLite.
        # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
        from ingestctl.store.bulk_pg import SEQ, copy_rows, sort_in_memory
        from ingestctl.store.postgres import PostgresStore

        assert isinstance(self.store, PostgresStore)
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            with self.store.write() as conn:
                sort_in_memory(self.store)
                for name in ("urls", *extensions):
                    columns = STAGING_COLUMNS[name]
                    conn.execute(f"CREATE TEMP TABLE stage_{name} ({SEQ} BIGINT, {columns}) "
                                 "ON COMMIT DROP")
                    names = ", ".join(c.split()[0] for c in columns.split(", "))
                    copy_rows(self.store, f"stage_{name}", f"{SEQ}, {names}",
                              source.execute(f"SELECT rowid, {names} FROM {name}"))
                for statement in self._statements(file_id, extensions):
                    conn.execute(statement)
        finally:
            source.close()


#: The staging tables' columns with their PostgreSQL types (sources/sitemap/staging.py).
STAGING_COLUMNS = {
    "urls": "url TEXT, lastmod TEXT, changefreq TEXT, priority DOUBLE PRECISION, image TEXT",
    "images": "url TEXT, position BIGINT, loc TEXT, title TEXT, caption TEXT",
    "videos": "url TEXT, position BIGINT, title TEXT, content_loc TEXT, player_loc TEXT, "
              "thumbnail_loc TEXT, description TEXT",
    "news": "url TEXT, publication_name TEXT, language TEXT, publication_date TEXT, title TEXT",
    "alternates": "url TEXT, position BIGINT, hreflang TEXT, href TEXT",
}


def _replace_from(name: str, columns: str, select: str) -> str:
    """INSERT of extension rows from ``select`` that replaces rows with the same key."""
    cols = [c.strip() for c in columns.split(",")]
    key = ["import_id", "url", "position"] if "position" in cols else ["import_id", "url"]
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
    return (f"INSERT INTO sitemap_{name} (import_id, url, {columns}) {select} "
            f"ON CONFLICT({', '.join(key)}) DO UPDATE SET {updates}")


def list_file(conn: Connection, import_id: int, job_id: int, url: str,
              parent_url: str | None, depth: int, *, status: str = "pending",
              reason: str | None = None) -> int:
    """Record that this job lists ``url`` (pending, or refused with ``reason``); its id.

    ETag and Last-Modified of an earlier fetch are kept for the conditional request.
    """
    row = conn.execute(
        "INSERT INTO sitemap_files (import_id, url, parent_url, depth, status, error_message, "
        "job_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(import_id, url) DO UPDATE SET "
        "parent_url = excluded.parent_url, depth = excluded.depth, status = excluded.status, "
        "error_class = NULL, error_message = excluded.error_message, job_id = excluded.job_id "
        "RETURNING id", (import_id, url, parent_url, depth, status, reason, job_id)).fetchone()
    return int(row[0])


def finish_file(conn: Connection, f: SitemapFile) -> None:
    """Store the outcome of fetching the file ``f.id``."""
    conn.execute(
        "UPDATE sitemap_files SET kind = coalesce(?, kind), status = ?, http_status = ?, "
        "etag = ?, last_modified = ?, bytes = ?, urls = ?, error_class = ?, error_message = ?, "
        "fetched_at = coalesce(?, fetched_at), problems = ?, checked_at = ?, digest = ?, "
        "raw_digest = ?, summary = ?, redirects = ? WHERE id = ?",
        (f.kind, f.status, f.http_status, f.etag, f.last_modified, f.bytes, f.urls,
         f.error_class, f.error_message, f.fetched_at, _json(f.problems), f.checked_at,
         f.digest, f.raw_digest, _json(f.summary), _json(f.redirects), f.id))


def save_file(store: Store, f: SitemapFile) -> None:
    """:func:`finish_file` in its own transaction."""
    with store.write() as conn:
        finish_file(conn, f)


def _json(value: Any) -> str | None:
    return json.dumps(value, sort_keys=True) if value else None


def _file(row: Row) -> SitemapFile:
    data = dict(row)
    for name in ("problems", "summary", "redirects"):
        data[name] = json.loads(data[name]) if data[name] else None
    return SitemapFile(**data)


def files_of(store: Store, import_id: int) -> list[SitemapFile]:
    """Every sitemap file recorded for an import, in the order first listed."""
    rows = store.query(f"SELECT {_FILE_COLUMNS} FROM sitemap_files WHERE import_id = ? "
                       "ORDER BY id", (import_id,))
    return [_file(r) for r in rows]


def children_of(store: Store, import_id: int, parent_url: str, job_id: int) -> list[SitemapFile]:
    """The files ``parent_url`` listed when job ``job_id`` last read or confirmed it."""
    rows = store.query(f"SELECT {_FILE_COLUMNS} FROM sitemap_files WHERE import_id = ? "
                       "AND parent_url = ? AND job_id = ? ORDER BY id",
                       (import_id, parent_url, job_id))
    return [_file(r) for r in rows]


#: Statuses of a file whose URL rows (all, or those read before it failed) this job holds.
_HELD = "('ok', 'not_modified', 'failed')"


def job_items(store: Store, import_id: int, job_id: int) -> int:
    """URL entries this job stored or confirmed, those of files that failed midway included."""
    return int(store.scalar(
        "SELECT coalesce(sum(urls), 0) FROM sitemap_files WHERE import_id = ? AND job_id = ? "
        f"AND status IN {_HELD}", (import_id, job_id)) or 0)


def reread_files(store: Store, import_id: int, job_id: int) -> int:
    """Files this job read (not those found unchanged) that hold URLs."""
    return int(store.scalar(
        "SELECT count(*) FROM sitemap_files WHERE import_id = ? AND job_id = ? AND "
        "status IN ('ok', 'failed') AND urls > 0", (import_id, job_id)) or 0)


@dataclass(frozen=True)
class JobTally:
    """What a job changed, counted in one pass over the import's URLs."""

    added: int
    changed: int
    distinct: int  # different URLs the job stored or confirmed


def job_tally(store: Store, import_id: int, job_id: int, *, first: bool = False
              ) -> JobTally | None:
    """Added, changed and distinct URLs of this job; None when it read no file (every file
    answered 304 or was unchanged: nothing can have changed, and no pass is needed).

    ``first``: no earlier job listed a file of this import, so every URL row is this job's
    and counting them is enough.
    """
    if not reread_files(store, import_id, job_id):
        return None
    if first:
        count = int(store.scalar("SELECT count(*) FROM sitemap_urls WHERE import_id = ?",
                                 (import_id,)) or 0)
        return JobTally(count, 0, count)
    unchanged = "SELECT id FROM sitemap_files WHERE import_id = :imp AND job_id = :job AND " \
                "status = 'not_modified'"
    args = {"job": job_id, "imp": import_id}
    confirmed = f" OR file_id IN ({unchanged})" if store.scalar(
        f"SELECT EXISTS ({unchanged})", args) else ""
    row = store.query(
        "SELECT count(*) FILTER (WHERE added_job_id = :job) AS added, "
        "count(*) FILTER (WHERE changed_job_id = :job AND added_job_id IS DISTINCT FROM :job) "
        f"AS changed, count(*) FILTER (WHERE last_job_id = :job{confirmed}) AS distinct_urls "
        "FROM sitemap_urls WHERE import_id = :imp", args)[0]
    return JobTally(int(row["added"]), int(row["changed"]), int(row["distinct_urls"]))


def previous_duplicates(store: Store, import_id: int, job_id: int) -> int:
    """``duplicate_keys`` of the import's latest completed job before ``job_id`` (0 if none)."""
    result = store.scalar(
        "SELECT result FROM jobs WHERE import_id = ? AND id < ? AND status = 'completed' "
        "ORDER BY id DESC LIMIT 1", (import_id, job_id))
    data = json.loads(result) if result else {}
    return int(data.get("duplicate_keys") or 0) if isinstance(data, dict) else 0


def mark_removed(store: Store, import_id: int, job_id: int, now: str) -> int:
    """Mark removed (never delete) the URLs a complete crawl by this job no longer lists.

    URLs of files that answered 304 to this job are still listed, so they stay.
    """
    with store.write() as conn:
        return int(conn.execute(
            "UPDATE sitemap_urls SET removed_at = :now, removed_job_id = :job "
            "WHERE import_id = :imp AND removed_at IS NULL AND last_job_id IS DISTINCT FROM :job "
            "AND (file_id IS NULL OR file_id NOT IN (SELECT id FROM sitemap_files WHERE "
            "import_id = :imp AND job_id = :job AND status = 'not_modified'))",
            {"now": now, "job": job_id, "imp": import_id}).rowcount)
