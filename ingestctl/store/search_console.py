"""Search Console rows and the state of each (day, dimension set) loaded.

A day of a dimension set is loaded in one segment: its rows are deleted when the segment
starts (so rows Google no longer reports do not linger, and provisional rows are replaced by
final ones), upserted page by page with the job's cursor, and recorded in
``search_console_days`` with its state (``final`` or ``all``, i.e. provisional) when done.
A page is upserted row by row on SQLite; on PostgreSQL it is loaded with ``COPY`` into a
staging table and merged with one statement (``store/bulk_pg.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ingestctl.store.database import POSTGRES, Store
from ingestctl.store.google import save_cursor

#: (date, query, page, country, device, search_appearance, clicks, impressions, ctr,
#: position, data_state)
AnalyticsTuple = tuple[str, str, str, str, str, str, float, float, float, float | None, str]
#: The columns of an :data:`AnalyticsTuple`, in order.
ROW_COLUMNS = ("date", "query", "page", "country", "device", "search_appearance", "clicks",
               "impressions", "ctr", "position", "data_state")
_INSERT = ("INSERT INTO search_analytics (import_id, search_type, dimensions, "
           f"{', '.join(ROW_COLUMNS)}, last_job_id)")
_CONFLICT = (
    "ON CONFLICT(import_id, search_type, dimensions, date, query, page, country, device, "
    "search_appearance) DO UPDATE SET clicks = excluded.clicks, "
    "impressions = excluded.impressions, ctr = excluded.ctr, position = excluded.position, "
    "data_state = excluded.data_state, last_job_id = excluded.last_job_id")
_UPSERT = f"{_INSERT} VALUES ({', '.join('?' * (len(ROW_COLUMNS) + 4))}) {_CONFLICT}"


def start_day(store: Store, import_id: int, search_type: str, dimensions: str, day: str,
              job_id: int, now: str, cursor: Mapping[str, Any]) -> int:
    """Delete the rows of one day of a dimension set before it is loaded again; save cursor."""
    with store.write() as conn:
        deleted = conn.execute(
            "DELETE FROM search_analytics WHERE import_id = ? AND search_type = ? AND "
            "dimensions = ? AND date = ?", (import_id, search_type, dimensions, day)).rowcount
        save_cursor(conn, job_id, cursor, now)
    return int(deleted)


def upsert_rows(store: Store, import_id: int, job_id: int, search_type: str, dimensions: str,
                rows: Iterable[AnalyticsTuple], now: str, cursor: Mapping[str, Any]) -> int:
    """Upsert one page of rows and the cursor past it in one transaction."""
    batch = list(rows)
    with store.write() as conn:
        if store.dialect == POSTGRES:
            _merge_rows(store, import_id, job_id, search_type, dimensions, batch)
        else:
            conn.executemany(_UPSERT, [(import_id, search_type, dimensions, *row, job_id)
                                       for row in batch])
        save_cursor(conn, job_id, cursor, now)
    return len(batch)


def _merge_rows(store: Store, import_id: int, job_id: int, search_type: str,
                dimensions: str, rows: list[AnalyticsTuple]) -> None:
    """PostgreSQL: ``COPY`` the page into a staging table and merge it in one statement."""
    # Start-up weight: psycopg only on PostgreSQL (tests/test_startup.py).
    from ingestctl.store.bulk_pg import latest, stage
    from ingestctl.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    stage(store, "stage_analytics", "search_analytics", ROW_COLUMNS, rows)
    store.conn.execute(
        f"{_INSERT} SELECT ?::bigint, ?, ?, {', '.join(ROW_COLUMNS)}, ?::bigint "
        f"FROM {latest('stage_analytics', ROW_COLUMNS, ROW_COLUMNS[:6])} {_CONFLICT}",
        (import_id, search_type, dimensions, job_id))


def finish_days(store: Store, import_id: int, job_id: int, search_type: str, dimensions: str,
                days: Iterable[tuple[str, str, int]], now: str,
                cursor: Mapping[str, Any]) -> None:
    """Record (day, data_state, rows) of a dimension set as loaded; save the cursor."""
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO search_console_days (import_id, search_type, dimensions, date, "
            "data_state, rows, job_id, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(import_id, search_type, dimensions, date) DO UPDATE SET "
            "data_state = excluded.data_state, rows = excluded.rows, job_id = excluded.job_id, "
            "fetched_at = excluded.fetched_at",
            [(import_id, search_type, dimensions, day, state, n, job_id, now)
             for day, state, n in days])
        save_cursor(conn, job_id, cursor, now)


def day_states(store: Store, import_id: int, search_type: str) -> dict[str, dict[str, str]]:
    """dimension set -> {day: data_state} of every day loaded for the import and type."""
    out: dict[str, dict[str, str]] = {}
    for row in store.query("SELECT dimensions, date, data_state FROM search_console_days "
                           "WHERE import_id = ? AND search_type = ?", (import_id, search_type)):
        out.setdefault(row["dimensions"], {})[row["date"]] = row["data_state"]
    return out


def count_day(store: Store, import_id: int, search_type: str, dimensions: str, day: str) -> int:
    """Rows held for one day of a dimension set."""
    return int(store.scalar("SELECT count(*) FROM search_analytics WHERE import_id = ? AND "
                            "search_type = ? AND dimensions = ? AND date = ?",
                            (import_id, search_type, dimensions, day)) or 0)


def count_rows(store: Store, import_id: int, job_id: int | None = None,
               data_state: str | None = None) -> int:
    """Rows of an import, or those a job upserted; optionally of one data state."""
    sql = "SELECT count(*) FROM search_analytics WHERE import_id = ?"
    params: list[Any] = [import_id]
    if job_id is not None:
        sql += " AND last_job_id = ?"
        params.append(job_id)
    if data_state is not None:
        sql += " AND data_state = ?"
        params.append(data_state)
    return int(store.scalar(sql, params) or 0)
