"""Read-only queries behind ``status``: what runs, waits, failed and is scheduled; indexed.

Shares its building blocks with :mod:`ingestctl.store.monitoring`; like it, never writes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl.clock import from_iso
from ingestctl.config import Config
from ingestctl.store.database import Store
from ingestctl.store.monitoring import (
    active_dead_letters,
    breakers,
    finished_by_source,
    last_run_violations,
    quotas,
    scheduler_heartbeat,
    tables,
    undelivered_alerts,
    unfinished_by_source,
    window_start,
)

if TYPE_CHECKING:
    from ingestctl.monitoring.status import (
        AlertRow,
        BreakerRow,
        DeadLetterRow,
        FailureRow,
        QueuedJob,
        QuotaRow,
        RunningJob,
        ScheduleRow,
        StatusSnapshot,
    )


def breaker_rows(path: Path) -> list[BreakerRow]:
    """The circuit breakers as status rows."""
    from ingestctl.monitoring.status import BreakerRow

    return [BreakerRow(*b) for b in breakers(path)]


def quota_rows(store: Store, names: set[str], now: datetime) -> list[QuotaRow]:
    """Quota use as status rows."""
    from ingestctl.monitoring.status import QuotaRow

    return [QuotaRow(*q) for q in quotas(store, names, now)]


def _progress(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _running(store: Store, now: datetime) -> list[RunningJob]:
    from ingestctl.monitoring.status import RunningJob

    out = []
    for r in store.query("SELECT id, name, source, target, attempts, max_attempts, started_at, "
                         "heartbeat_at, lease_expires_at, lease_owner, progress FROM jobs "
                         "WHERE status = 'processing' ORDER BY id"):
        progress = _progress(r["progress"])
        lease = from_iso(r["lease_expires_at"])
        current = progress.get("current")
        out.append(RunningJob(
            r["id"], r["name"], r["source"], r["target"], r["attempts"], r["max_attempts"],
            from_iso(r["started_at"]), from_iso(r["heartbeat_at"]), lease, r["lease_owner"],
            items=_int_or_none(progress.get("items")) or 0,
            current=str(current) if current is not None else None,
            files_done=_int_or_none(progress.get("files_done")),
            files_total=_int_or_none(progress.get("files_total")),
            lease_expired=lease is not None and lease < now))
    return out


def _queue(store: Store, limit: int) -> tuple[list[QueuedJob], int]:
    from ingestctl.monitoring.status import QueuedJob

    total = int(store.scalar("SELECT count(*) FROM jobs WHERE status IN ('retrying', 'pending')")
                or 0)
    rows = store.query("SELECT id, name, source, status, attempts, max_attempts, "
                       "next_attempt_at, error_class, error_message FROM jobs "
                       "WHERE status IN ('retrying', 'pending') "
                       "ORDER BY coalesce(next_attempt_at, created_at), id LIMIT ?", (limit,))
    return [QueuedJob(r["id"], r["name"], r["source"], r["status"], r["attempts"],
                      r["max_attempts"], from_iso(r["next_attempt_at"]), r["error_class"],
                      r["error_message"]) for r in rows], total


def _dead_letters(store: Store, limit: int) -> tuple[list[DeadLetterRow], int]:
    from ingestctl.monitoring.status import DeadLetterRow

    total = active_dead_letters(store)
    rows = store.query("SELECT id, job_id, name, source, error_class, error_message, attempts, "
                       "updated_at FROM dead_letters WHERE active = 1 "
                       "ORDER BY updated_at DESC LIMIT ?", (limit,))
    return [DeadLetterRow(r["id"], r["job_id"], r["name"], r["source"], r["error_class"],
                          r["error_message"], r["attempts"], from_iso(r["updated_at"]))
            for r in rows], total


def _failures(store: Store, since: str, limit: int) -> list[FailureRow]:
    from ingestctl.monitoring.status import FailureRow

    rows = store.query("SELECT a.job_id, j.name, j.source, a.number, a.outcome, a.finished_at, "
                       "a.error_class, a.error_type, a.error_message FROM attempts a "
                       "JOIN jobs j ON j.id = a.job_id WHERE a.finished_at >= ? "
                       "AND a.outcome IN ('failed', 'crashed') "
                       "ORDER BY a.finished_at DESC LIMIT ?", (since, limit))
    return [FailureRow(r["job_id"], r["name"], r["source"], r["number"], r["outcome"],
                       from_iso(r["finished_at"]), r["error_class"], r["error_type"],
                       r["error_message"]) for r in rows]


def _alerts(store: Store, limit: int) -> list[AlertRow]:
    from ingestctl.monitoring.status import AlertRow

    rows = store.query("SELECT a.id, a.kind, a.severity, a.subject, a.created_at, "
                       "(SELECT count(*) FROM alert_deliveries d WHERE d.alert_id = a.id) AS n, "
                       "(SELECT count(*) FROM alert_deliveries d WHERE d.alert_id = a.id "
                       "AND d.sent_at IS NOT NULL) AS sent FROM alerts a "
                       "ORDER BY a.id DESC LIMIT ?", (limit,))
    out = []
    for r in rows:
        delivery = ("none" if not r["n"] else "sent" if r["sent"] == r["n"]
                    else f"waiting ({r['sent']}/{r['n']} sent)")
        out.append(AlertRow(r["id"], r["kind"], r["severity"], r["subject"],
                            from_iso(r["created_at"]), delivery))
    return out


def _schedules(store: Store, config: Config, names: set[str], since: str
               ) -> list[ScheduleRow]:
    from ingestctl.monitoring.status import ScheduleRow

    scheduled = [imp for imp in config.imports if imp.schedule]
    if not scheduled:
        return []
    known = {key: from_iso(value) for key, value in store.conn.execute(
        "SELECT substr(key, 10), value FROM scheduler_state WHERE key LIKE 'next_run:%'")}
    marks = ",".join("?" * len(scheduled))
    success = {key: from_iso(value) for key, value in store.conn.execute(
        f"SELECT key, last_success_at FROM imports WHERE key IN ({marks})",
        [imp.name for imp in scheduled])}
    missed: dict[str, int] = {}
    if "schedule_slots" in names:
        missed = dict(store.conn.execute(
            "SELECT import_name, count(*) FROM schedule_slots WHERE outcome = 'missed' "
            "AND slot_at >= ? GROUP BY import_name", (since,)).fetchall())
    return [ScheduleRow(imp.name, imp.source, imp.schedule, imp.timezone, known.get(imp.name),
                        success.get(imp.name), missed=missed.get(imp.name, 0))
            for imp in scheduled]


def status_snapshot(store: Store, config: Config, now: datetime, breakers_path: Path,
                    limit: int = 50) -> StatusSnapshot:
    """Everything ``status`` shows; each list holds at most ``limit`` rows."""
    from ingestctl.monitoring.status import QualityRow, SourceSummary, StatusSnapshot

    names = tables(store)
    window = config.health.window
    since = window_start(now, window)
    snap = StatusSnapshot(generated_at=now, window=window, database=str(store.path))
    sources = {source: SourceSummary(source, counts.get("completed", 0), counts.get("failed", 0))
               for source, counts in finished_by_source(store, since).items()}
    for (source, status), count in unfinished_by_source(store).items():
        setattr(sources.setdefault(source, SourceSummary(source)), status, count)
    snap.sources = [sources[s] for s in sorted(sources)]
    snap.running = _running(store, now)
    snap.queue, snap.queue_total = _queue(store, limit)
    snap.dead_letters, snap.dead_letters_total = _dead_letters(store, limit)
    snap.breakers = breaker_rows(breakers_path)
    snap.quotas = quota_rows(store, names, now)
    snap.failures = _failures(store, since, limit)
    if {"alerts", "alert_deliveries"} <= names:
        snap.alerts = _alerts(store, limit)
        snap.undelivered_alerts = undelivered_alerts(store, names)[0]
    snap.schedules = _schedules(store, config, names, since)
    snap.scheduler_heartbeat = scheduler_heartbeat(store)
    snap.quality = [QualityRow(name, job_id, found)
                    for name, job_id, found in last_run_violations(store) if found][:limit]
    return snap


def empty_status(config: Config, now: datetime, database: Path,
                 breakers_path: Path) -> StatusSnapshot:
    """The status of a home without a database yet: breakers and schedules only."""
    from ingestctl.monitoring.status import ScheduleRow, StatusSnapshot

    snap = StatusSnapshot(generated_at=now, window=config.health.window, database=str(database),
                          database_exists=False)
    snap.breakers = breaker_rows(breakers_path)
    snap.schedules = [ScheduleRow(imp.name, imp.source, imp.schedule, imp.timezone)
                      for imp in config.imports if imp.schedule]
    return snap
