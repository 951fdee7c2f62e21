"""Read-only queries behind ``health``, ``metrics`` and ``status``, all indexed; SQL only.

Counters come from ``job_stats`` (kept by trigger when a job finishes) and the ``counters``
table; windows use ``jobs_finished``, ``dead_letters_active_updated`` and
``attempts_finished``; per-import lookups use ``jobs_import_status_finished``; jobs in an
active state come from the partial indexes ``jobs_processing``, ``jobs_queued`` and
``jobs_active`` (only those rows, so ``ANALYZE`` cannot make a scan look cheaper). Tables added by
other capabilities (``quota_state``/``quota_usage``, ``alerts``/``alert_deliveries``) are read
only when ``sqlite_master`` lists them. Nothing here writes, so these commands never take
the write lock, except :func:`probe_writable`, which commits one row of ``health_probe``. The
snapshots the commands show are assembled from these in :mod:`ingestctl.monitoring.snapshots`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ingestctl.clock import from_iso, to_iso
from ingestctl.errors import StoreError
from ingestctl.store.database import (
    BUSY_TIMEOUT_MS,
    SQLITE,
    SQLITE_BUSY,
    SQLITE_LOCKED,
    Connection,
    Row,
    Store,
)

COUNTERS = ("retries_total", "api_requests_total", "alerts_total", "quality_violations_total")
PROBE_TIMEOUT_MS = 2000


def _iso(moment: datetime) -> str:
    return to_iso(moment) or ""


def window_start(now: datetime, window: float) -> str:
    """The stored form of ``now - window``."""
    return _iso(now - timedelta(seconds=window))


def tables(store: Store) -> set[str]:
    """The names of the tables in the store (one catalogue read)."""
    return store.tables()


def probe_writable(store: Store, now: str) -> str | None:
    """None when a row could be written to the probe table and committed, else why not.

    A lock held by a busy writer past the short timeout still proves the database writable,
    so only other errors (read-only file, full disk, corruption) are reported.
    """
    if store.dialect != SQLITE:
        try:
            with store.write() as conn:
                _write_probe(conn, now)
        except StoreError as exc:
            return exc.reason
        return None
    conn = store.conn
    conn.execute(f"PRAGMA busy_timeout = {PROBE_TIMEOUT_MS}")
    try:
        with store.write() as tx:
            _write_probe(tx, now)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED):
            return None
        return str(exc)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return None


def _write_probe(conn: Connection, now: str) -> None:
    conn.execute("INSERT INTO health_probe (id, written_at, pid) VALUES (1, ?, ?) "
                 "ON CONFLICT(id) DO UPDATE SET written_at = excluded.written_at, "
                 "pid = excluded.pid", (now, os.getpid()))


def finished_by_source(store: Store, since: str) -> dict[str, dict[str, int]]:
    """Jobs that finished since ``since``: source -> {completed, failed} (covering index)."""
    out: dict[str, dict[str, int]] = {}
    # Only completed and failed jobs have finished_at; filtering on status as well would make
    # SQLite pick the status index and visit every finished job instead of the window's.
    for source, status, count in store.conn.execute(
            "SELECT source, status, count(*) FROM jobs WHERE finished_at >= ? "
            "GROUP BY source, status", (since,)):
        if status in ("completed", "failed"):
            out.setdefault(source, {})[status] = int(count)
    return out


def hourly_outcomes(store: Store, since: str) -> list[tuple[str, str, str, int]]:
    """(source, hour ``YYYY-MM-DDTHH``, status, jobs) of jobs finished since ``since``."""
    return [(source, hour, status, int(count)) for source, hour, status, count in
            store.conn.execute(
                "SELECT source, substr(finished_at, 1, 13), status, count(*) FROM jobs "
                "WHERE finished_at >= ? GROUP BY 1, 2, 3", (since,))
            if status in ("completed", "failed")]


def unfinished_by_source(store: Store) -> dict[tuple[str, str], int]:
    """Jobs pending, processing or retrying now: (source, status) -> count."""
    return {(source, status): int(count) for source, status, count in store.conn.execute(
        "SELECT source, status, count(*) FROM jobs "
        "WHERE status IN ('pending', 'processing', 'retrying') GROUP BY source, status")}


def scheduler_heartbeat(store: Store) -> datetime | None:
    """When the scheduler daemon last reported it is alive, if ever."""
    row = store.conn.execute("SELECT updated_at, value FROM scheduler_state "
                             "WHERE key = 'heartbeat'").fetchone()
    return from_iso(row[0] or row[1]) if row else None


def undelivered_alerts(store: Store, names: set[str]) -> tuple[int, datetime | None]:
    """Alert deliveries not sent yet and the oldest such alert's time."""
    if not {"alerts", "alert_deliveries"} <= names:
        return 0, None
    row = store.conn.execute(
        "SELECT count(*), min(a.created_at) FROM alert_deliveries d "
        "JOIN alerts a ON a.id = d.alert_id WHERE d.sent_at IS NULL").fetchone()
    return int(row[0]), from_iso(row[1])


def _violations(result: str | None) -> list[dict[str, Any]] | None:
    """The quality violations stored with a job's result, None when it has no quality part."""
    if not result:
        return None
    try:
        data = json.loads(result)
    except ValueError:
        return None
    quality = data.get("quality") if isinstance(data, dict) else None
    if isinstance(quality, dict):
        quality = quality.get("violations")
    if not isinstance(quality, list):
        return None
    return [v for v in quality if isinstance(v, dict)]


def last_run_violations(store: Store) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """(import, job id, violations) of the last finished run of each import that has them."""
    rows = store.conn.execute(
        "SELECT i.name, j.id, j.result FROM imports i JOIN jobs j ON j.id = ("
        "SELECT id FROM jobs WHERE import_id = i.id AND status IN ('completed', 'failed') "
        "ORDER BY id DESC LIMIT 1) ORDER BY i.name")
    return [(name, job_id, found) for name, job_id, result in rows
            if (found := _violations(result)) is not None]


def import_outcomes(store: Store, keys: list[str]) -> dict[str, tuple[datetime | None,
                                                                     datetime | None]]:
    """Import key -> (last success, last failure) of the imports named ``keys``."""
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    return {key: (from_iso(success), from_iso(failure)) for key, success, failure in
            store.conn.execute(
                "SELECT i.key, i.last_success_at, (SELECT max(finished_at) FROM jobs "
                "WHERE import_id = i.id AND status = 'failed') FROM imports i "
                f"WHERE i.key IN ({marks})", keys)}


def dead_letters_since(store: Store, since: str) -> int:
    """Active dead letters last updated since ``since``."""
    return int(store.scalar("SELECT count(*) FROM dead_letters WHERE active = 1 "
                            "AND updated_at >= ?", (since,)) or 0)


def active_dead_letters(store: Store) -> int:
    """How many dead letters wait for a human, from the count the store keeps by trigger."""
    return int(store.scalar("SELECT value FROM monitor_counts "
                            "WHERE name = 'dead_letters_active'") or 0)


def missed_slots(store: Store, since: str) -> list[tuple[str, datetime]]:
    """(import, slot) of the schedule slots recorded missed at or after ``since``, oldest
    first (``schedule_slots_missed``)."""
    rows = store.conn.execute("SELECT import_name, slot_at FROM schedule_slots "
                              "WHERE outcome = 'missed' AND slot_at >= ? "
                              "ORDER BY slot_at, import_name", (since,)).fetchall()
    return [(name, moment) for name, slot in rows if (moment := from_iso(slot)) is not None]


def expired_leases(store: Store, now: datetime) -> int:
    """Jobs still ``processing`` whose lease ended before ``now``."""
    return int(store.scalar("SELECT count(*) FROM jobs WHERE status = 'processing' "
                            "AND lease_expires_at < ?", (_iso(now),)) or 0)


def counter_values(store: Store) -> list[tuple[str, dict[str, Any], int]]:
    """(name, labels, value) of every row of the metric counters in :data:`COUNTERS`."""
    marks = ",".join("?" * len(COUNTERS))
    return [(name, json.loads(labels), int(value)) for name, labels, value in store.conn.execute(
        f"SELECT name, labels, value FROM counters WHERE name IN ({marks})", COUNTERS)]


def job_stats(store: Store) -> list[tuple[str, str, int, int, float, int]]:
    """(source, status, duration bucket, jobs, seconds, items) rows kept by trigger."""
    return [(s, st, int(b), int(j), float(sec), int(i)) for s, st, b, j, sec, i in
            store.conn.execute("SELECT source, status, bucket, jobs, seconds, items "
                               "FROM job_stats")]


def last_successes(store: Store) -> dict[str, datetime]:
    """Import name -> when it last completed, for imports that ever did."""
    out = {}
    for name, success in store.conn.execute(
            "SELECT name, last_success_at FROM imports WHERE last_success_at IS NOT NULL"):
        moment = from_iso(success)
        if moment is not None:
            out[name] = moment
    return out


def last_failures(store: Store) -> dict[str, datetime]:
    """Import name -> when its last job failed (was dead-lettered), for imports that ever did."""
    out = {}
    for name, failure in store.conn.execute(
            "SELECT i.name, (SELECT max(finished_at) FROM jobs WHERE import_id = i.id "
            "AND status = 'failed') FROM imports i"):
        moment = from_iso(failure)
        if moment is not None:
            out[name] = moment
    return out


def running_jobs(store: Store) -> list[Row]:
    """Jobs in ``processing`` with their lease and last published progress, by id."""
    return store.query("SELECT id, name, source, target, attempts, max_attempts, started_at, "
                       "heartbeat_at, lease_expires_at, lease_owner, progress FROM jobs "
                       "WHERE status = 'processing' ORDER BY id")


def running_by_host(store: Store) -> dict[str, int]:
    """Jobs in ``processing`` per host of their lease owner (``host:pid:start``)."""
    hosts: dict[str, int] = {}
    for (owner,) in store.conn.execute("SELECT lease_owner FROM jobs "
                                       "WHERE status = 'processing'"):
        host = str(owner or "").partition(":")[0] or "unknown"
        hosts[host] = hosts.get(host, 0) + 1
    return hosts


def queued_jobs(store: Store, limit: int) -> tuple[list[Row], int]:
    """The first ``limit`` retrying or pending jobs, soonest due first, and how many there are."""
    # The status list as jobs_queued spells it: SQLite uses a partial index only for a WHERE
    # that repeats its condition (same values, same order).
    total = int(store.scalar("SELECT count(*) FROM jobs WHERE status IN ('pending', 'retrying')")
                or 0)
    rows = store.query("SELECT id, name, source, status, attempts, max_attempts, "
                       "next_attempt_at, error_class, error_message FROM jobs "
                       "WHERE status IN ('pending', 'retrying') "
                       "ORDER BY coalesce(next_attempt_at, created_at), id LIMIT ?", (limit,))
    return rows, total


def active_dead_letter_rows(store: Store, limit: int) -> list[Row]:
    """The ``limit`` most recently updated active dead letters."""
    return store.query("SELECT id, job_id, name, source, error_class, error_message, attempts, "
                       "updated_at FROM dead_letters WHERE active = 1 "
                       "ORDER BY updated_at DESC LIMIT ?", (limit,))


def failed_attempts(store: Store, since: str, limit: int) -> list[Row]:
    """Failed and crashed attempts that finished since ``since``, newest first."""
    return store.query("SELECT a.job_id, j.name, j.source, a.number, a.outcome, a.finished_at, "
                       "a.error_class, a.error_type, a.error_message FROM attempts a "
                       "JOIN jobs j ON j.id = a.job_id WHERE a.finished_at >= ? "
                       "AND a.outcome IN ('failed', 'crashed') "
                       "ORDER BY a.finished_at DESC LIMIT ?", (since, limit))


def recent_alerts(store: Store, limit: int) -> list[Row]:
    """The newest ``limit`` alerts with their delivery counts (``n`` in all, ``sent``)."""
    return store.query("SELECT a.id, a.kind, a.severity, a.subject, a.created_at, "
                       "(SELECT count(*) FROM alert_deliveries d WHERE d.alert_id = a.id) AS n, "
                       "(SELECT count(*) FROM alert_deliveries d WHERE d.alert_id = a.id "
                       "AND d.sent_at IS NOT NULL) AS sent FROM alerts a "
                       "ORDER BY a.id DESC LIMIT ?", (limit,))


def published_next_runs(store: Store) -> dict[str, datetime | None]:
    """Import name -> the next run the scheduler daemon published."""
    return {key: from_iso(value) for key, value in store.conn.execute(
        "SELECT substr(key, 10), value FROM scheduler_state WHERE key LIKE 'next_run:%'")}


def explain(store: Store, sql: str, params: Iterable[Any] = ()) -> list[str]:
    """EXPLAIN QUERY PLAN details of ``sql`` (used by tests to prove the indexes are used)."""
    return [str(r[3]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params))]
