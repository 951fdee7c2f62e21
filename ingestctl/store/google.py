"""Google imports in the store: Merchant products, tokens, quota and resume cursors.

Search Console rows live in :mod:`ingestctl.store.search_console`. A page of products is
upserted row by row on SQLite; on PostgreSQL it is loaded with ``COPY`` into a staging table
and merged with one statement (``store/bulk_pg.py``).

Quota use is kept as counts per (api, scope, period, bucket), where a bucket is the start of
a calendar minute or of the API's quota day; ``quota_state`` holds per (api, scope) the limits
in effect at the last request, the current quota day and the last rate-limit headers seen, so
``quota``, metrics and health read use against limits with two small lookups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingestctl.store.database import POSTGRES, Connection, Store

PRODUCT_COLUMNS = ("name", "offer_id", "content_language", "feed_label", "title", "link",
                   "image_link", "price_micros", "currency", "availability", "condition",
                   "brand", "gtins", "issues", "data_source", "description", "sale_price_micros",
                   "sale_currency", "product_types", "item_group_id", "mpn",
                   "custom_attributes", "destination_statuses", "creation_date",
                   "last_update_date", "google_expiration_date", "raw")
#: Columns stored as JSON text.
JSON_COLUMNS = frozenset({"gtins", "issues", "product_types", "custom_attributes",
                          "destination_statuses", "raw"})
# A product listed again after it was marked removed is back: removal is cleared.
_PRODUCT_CONFLICT = (
    "ON CONFLICT(import_id, name) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in PRODUCT_COLUMNS[1:])
    + ", last_seen = excluded.last_seen, last_job_id = excluded.last_job_id, "
    "removed_at = NULL, removed_job_id = NULL")
_INSERT_PRODUCT = (f"INSERT INTO merchant_products (import_id, {', '.join(PRODUCT_COLUMNS)}, "
                   "first_seen, last_seen, last_job_id)")
_UPSERT_PRODUCT = (f"{_INSERT_PRODUCT} VALUES ({', '.join('?' * (len(PRODUCT_COLUMNS) + 4))}) "
                   f"{_PRODUCT_CONFLICT}")


# -- resume cursors ----------------------------------------------------------------------------

def load_cursor(store: Store, job_id: int) -> dict[str, Any] | None:
    """Where a job's import stopped (page token, segment and row), or None at its start."""
    text = store.scalar("SELECT cursor FROM job_cursors WHERE job_id = ?", (job_id,))
    value = json.loads(text) if text else None
    return value if isinstance(value, dict) else None


def save_cursor(conn: Connection, job_id: int, cursor: Mapping[str, Any],
                now: str) -> None:
    """Remember where the job is, inside the caller's transaction."""
    conn.execute("INSERT INTO job_cursors (job_id, cursor, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT(job_id) DO UPDATE SET cursor = excluded.cursor, "
                 "updated_at = excluded.updated_at",
                 (job_id, json.dumps(cursor, sort_keys=True), now))


def put_cursor(store: Store, job_id: int, cursor: Mapping[str, Any], now: str) -> None:
    """Remember where the job is, in its own transaction."""
    with store.write() as conn:
        save_cursor(conn, job_id, cursor, now)


# -- Merchant products -------------------------------------------------------------------------

def upsert_products(store: Store, import_id: int, job_id: int,
                    products: Iterable[Mapping[str, Any]], now: str,
                    cursor: Mapping[str, Any]) -> int:
    """Upsert one page of products and the cursor past it in one transaction."""
    rows = [tuple(json.dumps(product[c], sort_keys=True) if c in JSON_COLUMNS else product[c]
                  for c in PRODUCT_COLUMNS) for product in products]
    with store.write() as conn:
        if store.dialect == POSTGRES:
            _merge_products(store, import_id, job_id, now, rows)
        else:
            conn.executemany(_UPSERT_PRODUCT, [(import_id, *row, now, now, job_id)
                                               for row in rows])
        save_cursor(conn, job_id, cursor, now)
    return len(rows)


def _merge_products(store: Store, import_id: int, job_id: int, now: str,
                    rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: ``COPY`` the page into a staging table and merge it in one statement."""
    # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
    from ingestctl.store.bulk_pg import latest, stage
    from ingestctl.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    stage(store, "stage_products", "merchant_products", PRODUCT_COLUMNS, rows)
    store.conn.execute(
        f"{_INSERT_PRODUCT} SELECT ?::bigint, {', '.join(PRODUCT_COLUMNS)}, ?, ?, ?::bigint "
        f"FROM {latest('stage_products', PRODUCT_COLUMNS, ('name',))} "
        f"{_PRODUCT_CONFLICT}", (import_id, now, now, job_id))


def count_products(store: Store, import_id: int, job_id: int | None = None) -> int:
    """Products of an import, or those a job upserted."""
    if job_id is None:
        return int(store.scalar("SELECT count(*) FROM merchant_products WHERE import_id = ?",
                                (import_id,)) or 0)
    return int(store.scalar("SELECT count(*) FROM merchant_products WHERE import_id = ? AND "
                            "last_job_id = ?", (import_id, job_id)) or 0)


def mark_removed_products(store: Store, import_id: int, job_id: int, now: str) -> int:
    """Mark removed (never delete) the products a complete listing by this job did not list."""
    with store.write() as conn:
        return int(conn.execute(
            "UPDATE merchant_products SET removed_at = :now, removed_job_id = :job "
            "WHERE import_id = :imp AND removed_at IS NULL AND last_job_id IS DISTINCT FROM :job",
            {"now": now, "job": job_id, "imp": import_id}).rowcount)


def count_listed_products(store: Store, import_id: int) -> int:
    """Products of an import still listed (not marked removed)."""
    return int(store.scalar("SELECT count(*) FROM merchant_products WHERE import_id = ? AND "
                            "removed_at IS NULL", (import_id,)) or 0)


# -- access tokens (secrets: only ever in this 0600 database) -----------------------------------

def get_token(store: Store, key: str) -> tuple[str, str] | None:
    """The cached token and its expiry (ISO text) for ``key``."""
    rows = store.query("SELECT token, expires_at FROM google_tokens WHERE key = ?", (key,))
    return (rows[0]["token"], rows[0]["expires_at"]) if rows else None


def put_token(store: Store, key: str, token: str, expires_at: str, now: str) -> None:
    """Cache a token until ``expires_at``."""
    with store.write() as conn:
        conn.execute("INSERT INTO google_tokens (key, token, expires_at, updated_at) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET token = "
                     "excluded.token, expires_at = excluded.expires_at, "
                     "updated_at = excluded.updated_at", (key, token, expires_at, now))


# -- quota ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    """Where one request is counted: its minute and its quota day, and the limits then."""

    minute: str
    day: str
    day_reset: str
    minute_limit: int = 0
    day_limit: int = 0


def quota_counts(store: Store, api: str, scope: str, minute: str, day: str) -> tuple[int, int]:
    """Requests counted in the minute bucket ``minute`` and the day bucket ``day``."""
    rows = store.query("SELECT period, count FROM quota_usage WHERE api = ? AND scope = ? AND "
                       "((period = 'minute' AND bucket = ?) OR (period = 'day' AND bucket = ?))",
                       (api, scope, minute, day))
    found = {r["period"]: int(r["count"]) for r in rows}
    return found.get("minute", 0), found.get("day", 0)


def add_requests(store: Store, api: str, scopes: Sequence[tuple[str, Bucket]], at: str,
                 n: int = 1, prune_before: str | None = None) -> None:
    """Count ``n`` requests in each scope's minute and day buckets, in one transaction."""
    with store.write() as conn:
        for scope, b in scopes:
            for period, bucket in (("minute", b.minute), ("day", b.day)):
                conn.execute("INSERT INTO quota_usage (api, scope, period, bucket, count) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT(api, scope, period, bucket) "
                             "DO UPDATE SET count = quota_usage.count + excluded.count",
                             (api, scope, period, bucket, n))
            conn.execute(
                "INSERT INTO quota_state (api, scope, minute_limit, day_limit, day_start, "
                "day_reset, last_request_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(api, scope) DO UPDATE SET minute_limit = excluded.minute_limit, "
                "day_limit = excluded.day_limit, day_start = excluded.day_start, "
                "day_reset = excluded.day_reset, last_request_at = excluded.last_request_at",
                (api, scope, b.minute_limit, b.day_limit, b.day, b.day_reset, at))
            if prune_before is not None:
                # Old minute buckets are never read again; days are kept for history.
                conn.execute("DELETE FROM quota_usage WHERE api = ? AND scope = ? AND "
                             "period = 'minute' AND bucket < ?", (api, scope, prune_before))


def record_response(store: Store, api: str, scopes: Iterable[str], at: str, status: int,
                    headers: Mapping[str, Any] | None) -> None:
    """Note a response's status and, when it had any, its rate-limit headers."""
    with store.write() as conn:
        for scope in scopes:
            conn.execute("INSERT INTO quota_state (api, scope, last_status) VALUES (?, ?, ?) "
                         "ON CONFLICT(api, scope) DO UPDATE SET last_status = "
                         "excluded.last_status", (api, scope, status))
            if headers:
                conn.execute(
                    "UPDATE quota_state SET headers_at = ?, retry_after = ?, ratelimit = ?, "
                    "ratelimit_policy = ?, x_limit = ?, x_remaining = ?, x_reset = ? "
                    "WHERE api = ? AND scope = ?",
                    (at, headers.get("retry_after"), headers.get("ratelimit"),
                     headers.get("ratelimit_policy"), headers.get("limit"),
                     headers.get("remaining"), headers.get("reset"), api, scope))


def save_merchant_groups(store: Store, account: str, groups: Iterable[Mapping[str, Any]],
                         now: str) -> None:
    """Replace the quota groups the Merchant quota service reported for ``account``."""
    with store.write() as conn:
        conn.execute("DELETE FROM merchant_quota_groups WHERE account = ?", (account,))
        conn.executemany(
            "INSERT INTO merchant_quota_groups (account, name, usage, daily_limit, "
            "minute_limit, methods, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(account, g["name"], g["usage"], g["daily_limit"], g["minute_limit"],
              json.dumps(list(g["methods"])), now) for g in groups])


def quota_states(store: Store, minute: str) -> list[dict[str, Any]]:
    """Every (api, scope) with its limits, headers, and use in ``minute`` and its quota day."""
    rows = store.query(
        "SELECT s.*, coalesce((SELECT count FROM quota_usage u WHERE u.api = s.api AND "
        "u.scope = s.scope AND u.period = 'minute' AND u.bucket = ?), 0) AS minute_used, "
        "coalesce((SELECT count FROM quota_usage u WHERE u.api = s.api AND u.scope = s.scope "
        "AND u.period = 'day' AND u.bucket = s.day_start), 0) AS day_used "
        "FROM quota_state s ORDER BY s.api, s.scope", (minute,))
    return [dict(r) for r in rows]


def merchant_groups(store: Store) -> list[dict[str, Any]]:
    """Every stored Merchant quota group."""
    rows = store.query("SELECT * FROM merchant_quota_groups ORDER BY account, name")
    out = []
    for r in rows:
        item = dict(r)
        item["methods"] = json.loads(item["methods"])
        out.append(item)
    return out
