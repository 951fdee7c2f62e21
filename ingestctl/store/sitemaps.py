"""Queries on sitemap files fetched and the URLs they list."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from ingestctl.store.database import Store

_UPSERT_URL = (
    "INSERT INTO sitemap_urls (import_id, url, lastmod, changefreq, priority, sitemap_url, "
    "first_seen, last_seen, last_job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(import_id, url) DO UPDATE SET lastmod = excluded.lastmod, "
    "changefreq = excluded.changefreq, priority = excluded.priority, "
    "sitemap_url = excluded.sitemap_url, last_seen = excluded.last_seen, "
    "last_job_id = excluded.last_job_id, removed_at = NULL")

UrlRow = tuple[str, str | None, str | None, float | None]


@dataclass
class SitemapFile:
    """One sitemap file as last fetched for an import."""

    url: str
    parent_url: str | None
    depth: int
    kind: str | None
    status: str
    http_status: int | None
    etag: str | None
    last_modified: str | None
    bytes: int
    urls: int
    error_class: str | None
    error_message: str | None
    job_id: int | None
    fetched_at: str | None


def upsert_urls(store: Store, import_id: int, job_id: int, sitemap_url: str,
                rows: Iterable[UrlRow], now: str) -> int:
    """Upsert a batch of (url, lastmod, changefreq, priority) in one transaction."""
    params = [(import_id, url, lastmod, changefreq, priority, sitemap_url, now, now, job_id)
              for url, lastmod, changefreq, priority in rows]
    with store.write() as conn:
        conn.executemany(_UPSERT_URL, params)
    return len(params)


def record_file(conn: sqlite3.Connection, import_id: int, job_id: int, f: SitemapFile) -> None:
    """Insert or update the row of a fetched sitemap file."""
    conn.execute(
        "INSERT INTO sitemap_files (import_id, url, parent_url, depth, kind, status, "
        "http_status, etag, last_modified, bytes, urls, error_class, error_message, job_id, "
        "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(import_id, url) DO UPDATE SET parent_url = excluded.parent_url, "
        "depth = excluded.depth, kind = excluded.kind, status = excluded.status, "
        "http_status = excluded.http_status, etag = excluded.etag, "
        "last_modified = excluded.last_modified, bytes = excluded.bytes, urls = excluded.urls, "
        "error_class = excluded.error_class, error_message = excluded.error_message, "
        "job_id = excluded.job_id, fetched_at = excluded.fetched_at",
        (import_id, f.url, f.parent_url, f.depth, f.kind, f.status, f.http_status, f.etag,
         f.last_modified, f.bytes, f.urls, f.error_class, f.error_message, job_id,
         f.fetched_at))


def save_file(store: Store, import_id: int, job_id: int, f: SitemapFile) -> None:
    """Record a fetched sitemap file in its own transaction."""
    with store.write() as conn:
        record_file(conn, import_id, job_id, f)


def files_of(store: Store, import_id: int) -> list[SitemapFile]:
    """Every sitemap file recorded for an import."""
    rows = store.query("SELECT url, parent_url, depth, kind, status, http_status, etag, "
                       "last_modified, bytes, urls, error_class, error_message, job_id, "
                       "fetched_at FROM sitemap_files WHERE import_id = ? ORDER BY id",
                       (import_id,))
    return [SitemapFile(**dict(r)) for r in rows]


def count_urls(store: Store, import_id: int, job_id: int | None = None) -> int:
    """URLs of an import that are listed now, or those seen by one job."""
    if job_id is None:
        return int(store.scalar("SELECT count(*) FROM sitemap_urls WHERE import_id = ? "
                                "AND removed_at IS NULL", (import_id,)) or 0)
    return int(store.scalar("SELECT count(*) FROM sitemap_urls WHERE import_id = ? "
                            "AND last_job_id = ?", (import_id, job_id)) or 0)
