"""Queries on sitemap files fetched and the URLs they list, with their extension rows.

The importer writes through one :class:`UrlWriter` per attempt: a batch of URL rows is one
``executemany`` upsert of plain tuples, with the constants of the batch (import, file, job,
time) as literals so each row binds only its own values; extension rows (images, videos,
news, hreflang alternates) are keyed by the same (import_id, url) and inserted the same way.
A trigger deletes a URL's extension rows whenever its row is upserted again, so they always
reflect its latest listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ingestctl.store.database import Connection, Row, Store

UrlRow = tuple[str, str | None, str | None, float | None]
#: (url, position, loc, title, caption)
ImageRow = tuple[str, int, str, str | None, str | None]
#: (url, position, title, content_loc, player_loc, thumbnail_loc, description)
VideoRow = tuple[str, int, str | None, str | None, str | None, str | None, str | None]
#: (url, publication_name, language, publication_date, title)
NewsRow = tuple[str, str | None, str | None, str | None, str | None]
#: (url, position, hreflang, href)
AlternateRow = tuple[str, int, str | None, str]

#: Statuses of a file that count as read by a job (its URLs are current).
DONE_STATUSES = ("ok", "not_modified")

_EXTENSIONS = {
    "images": "sitemap_images (import_id, url, position, loc, title, caption)",
    "videos": "sitemap_videos (import_id, url, position, title, content_loc, player_loc, "
              "thumbnail_loc, description)",
    "news": "sitemap_news (import_id, url, publication_name, language, publication_date, "
            "title)",
    "alternates": "sitemap_alternates (import_id, url, position, hreflang, href)",
}

_FILE_COLUMNS = ("id, url, parent_url, depth, kind, status, http_status, etag, last_modified, "
                 "bytes, urls, error_class, error_message, job_id, fetched_at, problems, "
                 "checked_at")


@dataclass
class UrlBatch:
    """URL rows of one file and their extension rows, ready for one transaction."""

    urls: list[UrlRow] = field(default_factory=list)
    images: list[ImageRow] = field(default_factory=list)
    videos: list[VideoRow] = field(default_factory=list)
    news: list[NewsRow] = field(default_factory=list)
    alternates: list[AlternateRow] = field(default_factory=list)


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
    id: int = 0


class UrlWriter:
    """Writes URL batches of one import and job; use it from the store's own thread."""

    def __init__(self, store: Store, import_id: int, job_id: int, now: str) -> None:
        if "'" in now:
            raise ValueError("bad timestamp")
        self.store = store
        self.import_id = int(import_id)
        self.job_id = int(job_id)
        self.now = now

    def _upsert_sql(self, file_id: int) -> str:
        # Constants are literals, so each row binds only its own four values.
        job, now = self.job_id, self.now
        return (
            "INSERT INTO sitemap_urls AS u (import_id, url, lastmod, changefreq, priority, "
            "file_id, first_seen, last_seen, last_job_id, added_job_id) VALUES "
            f"({self.import_id}, ?, ?, ?, ?, {int(file_id)}, '{now}', '{now}', {job}, {job}) "
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

    def write(self, file_id: int, batch: UrlBatch) -> None:
        """Upsert ``batch`` in one transaction."""
        with self.store.write() as conn:
            conn.executemany(self._upsert_sql(file_id), batch.urls)
            for name, table in _EXTENSIONS.items():
                rows: list[Any] = getattr(batch, name)
                if rows:
                    # A URL listed twice in one batch keeps its last listing.
                    conn.executemany(_replace_sql(table, self.import_id), rows)


def _replace_sql(table: str, import_id: int) -> str:
    """INSERT of an extension row that replaces the row with the same key (both dialects)."""
    name, _, rest = table.partition(" (")
    columns = [c.strip() for c in rest.rstrip(")").split(",")]
    key = ["import_id", "url", "position"] if "position" in columns else ["import_id", "url"]
    marks = ", ".join("?" * (len(columns) - 1))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {table} VALUES ({int(import_id)}, {marks}) "
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
        "fetched_at = coalesce(?, fetched_at), problems = ?, checked_at = ? WHERE id = ?",
        (f.kind, f.status, f.http_status, f.etag, f.last_modified, f.bytes, f.urls,
         f.error_class, f.error_message, f.fetched_at,
         json.dumps(f.problems, sort_keys=True) if f.problems else None, f.checked_at, f.id))


def save_file(store: Store, f: SitemapFile) -> None:
    """:func:`finish_file` in its own transaction."""
    with store.write() as conn:
        finish_file(conn, f)


def _file(row: Row) -> SitemapFile:
    data = dict(row)
    data["problems"] = json.loads(data["problems"]) if data["problems"] else None
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


def job_items(store: Store, import_id: int, job_id: int) -> int:
    """URL entries stored from the files this job read or found not modified."""
    return int(store.scalar(
        "SELECT coalesce(sum(urls), 0) FROM sitemap_files WHERE import_id = ? AND job_id = ? "
        "AND status IN ('ok', 'not_modified')", (import_id, job_id)) or 0)


def reread_files(store: Store, import_id: int, job_id: int) -> int:
    """Files holding URLs that this job read (not those that answered 304)."""
    return int(store.scalar(
        "SELECT count(*) FROM sitemap_files WHERE import_id = ? AND job_id = ? AND "
        "status = 'ok' AND urls > 0", (import_id, job_id)) or 0)


def change_counts(store: Store, import_id: int, job_id: int) -> tuple[int, int]:
    """(added, changed) URLs by this job: one pass over the import's URLs."""
    if not reread_files(store, import_id, job_id):
        return 0, 0  # every file answered 304: nothing can have changed
    row = store.query(
        "SELECT count(*) FILTER (WHERE added_job_id = :job) AS added, "
        "count(*) FILTER (WHERE changed_job_id = :job AND added_job_id IS DISTINCT FROM :job) "
        "AS changed "
        "FROM sitemap_urls WHERE import_id = :imp", {"job": job_id, "imp": import_id})[0]
    return int(row["added"]), int(row["changed"])


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
