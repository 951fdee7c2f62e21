"""Read-only queries behind ``health`` and ``metrics`` (and shared by ``status``), all indexed.

Counters come from ``job_stats`` (kept by trigger when a job finishes) and the ``counters``
table; windows use ``jobs_finished``, ``dead_letters_active_updated`` and
``attempts_finished``; per-import lookups use ``jobs_import_status_finished``. Tables added by
other capabilities (``quota_state``/``quota_usage``, ``alerts``/``alert_deliveries``) are read
only when ``sqlite_master`` lists them. Nothing here writes, so these commands never take
the write lock (except :func:`probe_writable`, which only begins and rolls back).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl.clock import from_iso, to_iso
from ingestctl.config import Config
from ingestctl.store.database import BUSY_TIMEOUT_MS, Store

if TYPE_CHECKING:
    # Each command imports only the models it fills (at call time): prometheus_client alone
    # costs `metrics` ~40 ms, and every dataclass module adds to the startup of a probe.
    from ingestctl.health.evaluate import HealthSnapshot, ImportFreshness, QualityRun
    from ingestctl.metrics.collector import MetricsSnapshot

# (api, scope, used, limit, period, counted_by) of one quota;
# (key, state, failures, open_until, class).
Quota = tuple[str, str, int, int, str, str]
Breaker = tuple[str, str, int, datetime | None, str | None]

COUNTERS = ("retries_total", "api_requests_total", "alerts_total", "quality_violations_total")
# The label names of each counter, in the order MetricsSnapshot keys them.
_COUNTER_LABELS = {"retries_total": ("source", "error_class"),
                   "api_requests_total": ("api", "code"), "alerts_total": ("channel", "outcome"),
                   "quality_violations_total": ("rule", "severity")}
PROBE_TIMEOUT_MS = 2000


def _iso(moment: datetime) -> str:
    return to_iso(moment) or ""


def window_start(now: datetime, window: float) -> str:
    """The stored form of ``now - window``."""
    return _iso(now - timedelta(seconds=window))


def tables(store: Store) -> set[str]:
    """The names of the tables in the store (one read of sqlite_master)."""
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def probe_writable(store: Store) -> str | None:
    """None when a write transaction can begin (nothing is written), else why not.

    A lock held by a busy writer past the short timeout still proves the database writable,
    so only other errors (read-only file, full disk, corruption) are reported.
    """
    conn = store.conn
    conn.execute(f"PRAGMA busy_timeout = {PROBE_TIMEOUT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None
        return str(exc)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return None


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


def unfinished_by_source(store: Store) -> dict[tuple[str, str], int]:
    """Jobs pending, processing or retrying now: (source, status) -> count."""
    return {(source, status): int(count) for source, status, count in store.conn.execute(
        "SELECT source, status, count(*) FROM jobs "
        "WHERE status IN ('pending', 'processing', 'retrying') GROUP BY source, status")}


def breakers(path: Path) -> list[Breaker]:
    """The circuit breakers of ``breakers.json`` (none when the file does not exist)."""
    # breaker.py imports only the standard library and ingestctl's config/errors/clock.
    from ingestctl.resilience.breaker import load_states

    return [(s.key, s.state.value, s.failures, s.open_until, s.last_error_class)
            for s in load_states(path)]




def quotas(store: Store, names: set[str], now: datetime) -> list[Quota]:
    """Quota use per api/scope in its current day (or as the API's own headers report it)."""
    if not {"quota_state", "quota_usage"} <= names:
        return []
    # ingestctl.quota owns the reading of the Google quota tables (also `ingestctl quota`).
    from ingestctl.quota import quota_lines

    out: list[Quota] = []
    for line in quota_lines(store, now):
        if line.day_limit > 0:
            out.append((line.api, line.scope, line.day_used, line.day_limit, "day",
                        line.counted_by))
        elif line.ratio is not None and line.headers:
            limit = int(line.headers["x_ratelimit_limit"])
            remaining = int(line.headers["x_ratelimit_remaining"])
            out.append((line.api, line.scope, limit - remaining, limit, "remote",
                        "API's rate-limit headers"))
    return out


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


def quality_runs(store: Store) -> list[QualityRun]:
    """Quality errors and warnings of the last finished run of each import that has them."""
    from ingestctl.health.evaluate import QualityRun

    out = []
    for name, job_id, found in last_run_violations(store):
        errors = sum(1 for v in found if v.get("severity") == "error")
        warnings = sum(1 for v in found if v.get("severity") == "warning")
        out.append(QualityRun(name, errors, warnings, job_id))
    return out


def _freshness(store: Store, config: Config) -> list[ImportFreshness]:
    from ingestctl.health.evaluate import ImportFreshness

    configured = [imp for imp in config.imports if imp.name]
    if not configured:
        return []
    marks = ",".join("?" * len(configured))
    found = {key: (from_iso(success), from_iso(failure)) for key, success, failure in
             store.conn.execute(
                 "SELECT i.key, i.last_success_at, (SELECT max(finished_at) FROM jobs "
                 "WHERE import_id = i.id AND status = 'failed') FROM imports i "
                 f"WHERE i.key IN ({marks})", [imp.name for imp in configured])}
    return [ImportFreshness(imp.name, imp.freshness, *found.get(imp.name, (None, None)))
            for imp in configured]


def health_snapshot(store: Store, config: Config, now: datetime,
                    breakers_path: Path) -> HealthSnapshot:
    """What the health checks need, from a few indexed queries and the breaker file."""
    from ingestctl.health.evaluate import HealthSnapshot, QuotaUse, SourceJobs

    names = tables(store)
    error = probe_writable(store)
    if error is not None:
        return HealthSnapshot.unreachable(error)
    since = window_start(now, config.health.window)
    jobs = [SourceJobs(source, counts.get("completed", 0), counts.get("failed", 0))
            for source, counts in sorted(finished_by_source(store, since).items())]
    undelivered, oldest = undelivered_alerts(store, names)
    return HealthSnapshot(
        imports=_freshness(store, config),
        jobs=jobs,
        dead_letters=int(store.scalar("SELECT count(*) FROM dead_letters WHERE active = 1 "
                                      "AND updated_at >= ?", (since,)) or 0),
        open_breakers=[b[0] for b in breakers(breakers_path) if b[1] != "closed"],
        expired_leases=int(store.scalar("SELECT count(*) FROM jobs WHERE status = 'processing' "
                                        "AND lease_expires_at < ?", (_iso(now),)) or 0),
        quotas=[QuotaUse(api, scope, used / limit, by) for api, scope, used, limit, _, by in
                quotas(store, names, now)],
        scheduler_heartbeat=scheduler_heartbeat(store),
        undelivered_alerts=undelivered,
        oldest_undelivered_alert=oldest,
        quality=quality_runs(store),
        missed_slots=missed_slots(store, names, since),
        schedules_configured=any(imp.schedule for imp in config.imports),
    )


def missed_slots(store: Store, names: set[str], since: str) -> list[tuple[str, datetime]]:
    """(import, slot) of scheduled runs recorded missed since ``since``, from the ledger."""
    if "schedule_slots" not in names:
        return []
    rows = store.conn.execute("SELECT import_name, slot_at FROM schedule_slots "
                              "WHERE outcome = 'missed' AND slot_at >= ?", (since,)).fetchall()
    return [(name, moment) for name, slot in rows if (moment := from_iso(slot)) is not None]


def active_dead_letters(store: Store) -> int:
    """Active dead letters, from the count the store keeps by trigger."""
    return int(store.scalar("SELECT value FROM monitor_counts "
                            "WHERE name = 'dead_letters_active'") or 0)


def _counters(store: Store) -> dict[str, dict[tuple[str, str], int]]:
    out: dict[str, dict[tuple[str, str], int]] = {name: {} for name in COUNTERS}
    marks = ",".join("?" * len(COUNTERS))
    for name, labels, value in store.conn.execute(
            f"SELECT name, labels, value FROM counters WHERE name IN ({marks})", COUNTERS):
        parsed = json.loads(labels)
        first, second = _COUNTER_LABELS[name]
        key = (str(parsed.get(first, "")), str(parsed.get(second, "")))
        out[name][key] = out[name].get(key, 0) + int(value)
    return out


def metrics_snapshot(store: Store, now: datetime, breakers_path: Path,
                     window: float = 86400.0) -> MetricsSnapshot:
    """The aggregates of every metric family, from job_stats, counters and a few indexes."""
    from ingestctl.metrics.collector import DurationHistogram, MetricsSnapshot

    snap = MetricsSnapshot(success_ratio_window=window)
    for source, status, bucket, jobs, seconds, items in store.conn.execute(
            "SELECT source, status, bucket, jobs, seconds, items FROM job_stats"):
        key = (source, status)
        snap.jobs_total[key] = snap.jobs_total.get(key, 0) + int(jobs)
        snap.job_durations.setdefault(source, DurationHistogram()).add_bucket(
            int(bucket), int(jobs), float(seconds))
        snap.items_imported_total[source] = snap.items_imported_total.get(source, 0) + int(items)
    snap.jobs_unfinished = unfinished_by_source(store)
    counts = _counters(store)
    snap.retries_total = counts["retries_total"]
    snap.api_requests_total = counts["api_requests_total"]
    snap.alerts_total = counts["alerts_total"]
    snap.quality_violations_total = counts["quality_violations_total"]
    snap.dead_letters = active_dead_letters(store)
    for name, success in store.conn.execute(
            "SELECT name, last_success_at FROM imports WHERE last_success_at IS NOT NULL"):
        moment = from_iso(success)
        if moment is not None:
            snap.last_success_timestamp[name] = moment.timestamp()
    snap.circuit_breaker_open = {b[0]: b[1] != "closed" for b in breakers(breakers_path)}
    snap.api_quota_used_ratio = {(api, scope): round(used / limit, 6)
                                 for api, scope, used, limit, _, _ in
                                 quotas(store, tables(store), now)}
    for source, counts_ in finished_by_source(store, window_start(now, window)).items():
        finished = counts_.get("completed", 0) + counts_.get("failed", 0)
        if finished:
            snap.success_ratio[source] = counts_.get("completed", 0) / finished
    beat = scheduler_heartbeat(store)
    snap.scheduler_heartbeat_timestamp = beat.timestamp() if beat else None
    return snap


def explain(store: Store, sql: str, params: Iterable[Any] = ()) -> list[str]:
    """EXPLAIN QUERY PLAN details of ``sql`` (used by tests to prove the indexes are used)."""
    return [str(r[3]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params))]
