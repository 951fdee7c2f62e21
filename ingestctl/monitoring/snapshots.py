"""The snapshots ``health``, ``metrics`` and ``status`` show, assembled from store queries.

Each command reads a few indexed queries (:mod:`ingestctl.store.monitoring`), the breaker file
and the quota tables, and fills its own model: :class:`HealthSnapshot`, :class:`MetricsSnapshot`
or :class:`StatusSnapshot`. Nothing here writes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl.alerts.effective import active_channels
from ingestctl.clock import from_iso, to_iso
from ingestctl.config import Config
from ingestctl.host import hostname
from ingestctl.paths import free_space
from ingestctl.redact import redact_target
from ingestctl.redact import redact_text as shown
from ingestctl.resilience.breaker_files import book_for
from ingestctl.resilience.quota import quota_lines
from ingestctl.store import SQLITE, Store
from ingestctl.store import monitoring as q
from ingestctl.store.schema import MIGRATIONS

if TYPE_CHECKING:
    from ingestctl.monitoring.health.snapshot import HealthSnapshot, ImportFreshness, QualityRun
    from ingestctl.monitoring.metrics.collector import MetricsSnapshot
    from ingestctl.monitoring.status import ScheduleRow, SourceSummary, StatusSnapshot

# (api, scope, used, limit, period, counted_by) of one quota;
# (key, state, failures, open_until, class) of one breaker.
Quota = tuple[str, str, int, int, str, str]
Breaker = tuple[str, str, int, datetime | None, str | None]

# The label names of each counter, in the order MetricsSnapshot keys them.
_COUNTER_LABELS = {"retries_total": ("source", "error_class"),
                   "api_requests_total": ("api", "code"), "alerts_total": ("channel", "outcome"),
                   "quality_violations_total": ("rule", "severity")}


def breakers(path: Path, store: Store | None = None) -> list[Breaker]:
    """The circuit breakers of ``breakers.json`` (none when the file does not exist), or of
    the store's table when it is PostgreSQL."""
    return [(s.key, s.state.value, s.failures, s.open_until, s.last_error_class)
            for s in book_for(path, store).load()]


def quotas(store: Store, names: set[str], now: datetime) -> list[Quota]:
    """Quota use per api/scope in its current day (or as the API's own headers report it)."""
    if not {"quota_state", "quota_usage"} <= names:
        return []
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


def _missed_slots(store: Store, names: set[str], since: str) -> list[tuple[str, datetime]]:
    return q.missed_slots(store, since) if "schedule_slots" in names else []


def quality_runs(store: Store) -> list[QualityRun]:
    """Quality errors and warnings of the last finished run of each import that has them."""
    from ingestctl.monitoring.health.snapshot import QualityRun  # Start-up weight: as below

    out = []
    for name, job_id, found in q.last_run_violations(store):
        errors = sum(1 for v in found if v.get("severity") == "error")
        warnings = sum(1 for v in found if v.get("severity") == "warning")
        out.append(QualityRun(name, errors, warnings, job_id))
    return out


def _freshness(store: Store, config: Config) -> list[ImportFreshness]:
    from ingestctl.monitoring.health.snapshot import ImportFreshness  # Start-up weight: below

    configured = [imp for imp in config.imports if imp.name]
    found = q.import_outcomes(store, [imp.name for imp in configured])
    return [ImportFreshness(imp.name, imp.freshness, *found.get(imp.name, (None, None)))
            for imp in configured]


def health_snapshot(store: Store, config: Config, now: datetime,
                    breakers_path: Path) -> HealthSnapshot:
    """What the health checks need, from a few indexed queries and the breaker file."""
    # Start-up weight: each command loads only its own model (the health checks here, the
    # status model in status_snapshot), ~4 ms each (tests/test_monitoring_cli.py).
    from ingestctl.monitoring.health.snapshot import HealthSnapshot, QuotaUse, SourceJobs

    names = q.tables(store)
    error = q.probe_writable(store, to_iso(now) or "")
    free = free_space(Path(store.where)) if store.dialect == SQLITE else None
    if error is not None:
        return HealthSnapshot.unreachable(error, free)
    since = q.window_start(now, config.health.window)
    jobs = [SourceJobs(source, counts.get("completed", 0), counts.get("failed", 0))
            for source, counts in sorted(q.finished_by_source(store, since).items())]
    undelivered, oldest = q.undelivered_alerts(store, names)
    return HealthSnapshot(
        imports=_freshness(store, config),
        jobs=jobs,
        dead_letters=q.dead_letters_since(store, since),
        open_breakers=[b[0] for b in breakers(breakers_path, store) if b[1] != "closed"],
        expired_leases=q.expired_leases(store, now),
        quotas=[QuotaUse(api, scope, used / limit, by) for api, scope, used, limit, _, by in
                quotas(store, names, now)],
        scheduler_heartbeat=q.scheduler_heartbeat(store),
        undelivered_alerts=undelivered,
        oldest_undelivered_alert=oldest,
        quality=quality_runs(store),
        alert_channels=active_channels(config.alerts, os.environ),
        missed_slots=_missed_slots(store, names, since),
        schedules_configured=any(imp.schedule for imp in config.imports),
        database=store.dialect,
        schema_version=store.schema_version,
        schema_latest=len(MIGRATIONS),
        pool=dict(store.pool_stats()),
        database_free_bytes=free,
        database_dir=str(Path(store.where).parent) if store.dialect == "sqlite" else "",
    )


def metrics_snapshot(store: Store, now: datetime, breakers_path: Path,
                     window: float = 86400.0) -> MetricsSnapshot:
    """The aggregates of every metric family, from job_stats, counters and a few indexes."""
    # Start-up weight: the metric families for `metrics` only (tests/test_monitoring_cli.py).
    from ingestctl.monitoring.metrics.collector import DurationHistogram, MetricsSnapshot

    snap = MetricsSnapshot(success_ratio_window=window)
    for source, status, bucket, jobs, seconds, items in q.job_stats(store):
        key = (source, status)
        snap.jobs_total[key] = snap.jobs_total.get(key, 0) + jobs
        snap.job_durations.setdefault(source, DurationHistogram()).add_bucket(
            bucket, jobs, seconds)
        snap.items_imported_total[source] = snap.items_imported_total.get(source, 0) + items
    snap.jobs_unfinished = q.unfinished_by_source(store)
    counts: dict[str, dict[tuple[str, str], int]] = {name: {} for name in q.COUNTERS}
    for name, labels, value in q.counter_values(store):
        first, second = _COUNTER_LABELS[name]
        key = (str(labels.get(first, "")), str(labels.get(second, "")))
        counts[name][key] = counts[name].get(key, 0) + value
    snap.retries_total = counts["retries_total"]
    snap.api_requests_total = counts["api_requests_total"]
    snap.alerts_total = counts["alerts_total"]
    snap.quality_violations_total = counts["quality_violations_total"]
    snap.dead_letters = q.active_dead_letters(store)
    # Import names are label values: redacted (a store written by an older version may hold
    # URL secrets in them), the latest time winning when two become one.
    snap.last_success_timestamp = _by_label(q.last_successes(store))
    snap.last_failure_timestamp = _by_label(q.last_failures(store))
    names = q.tables(store)
    since = q.window_start(now, window)
    snap.schedule_missed_slots = dict(Counter(name for name, _ in
                                              _missed_slots(store, names, since)))
    snap.circuit_breaker_open = {b[0]: b[1] != "closed" for b in breakers(breakers_path, store)}
    snap.schema_version = store.schema_version
    snap.host, snap.backend = hostname(), store.dialect
    snap.jobs_running = q.running_by_host(store)
    pool = store.pool_stats()
    if pool:
        snap.database_pool = {"open": pool.get("pool_size", 0),
                              "idle": pool.get("pool_available", 0),
                              "max": pool.get("pool_max", 0),
                              "waiting": pool.get("requests_waiting", 0)}
    snap.api_quota_used_ratio = {(api, scope): round(used / limit, 6)
                                 for api, scope, used, limit, _, _ in quotas(store, names, now)}
    for source, counts_ in q.finished_by_source(store, since).items():
        finished = counts_.get("completed", 0) + counts_.get("failed", 0)
        if finished:
            snap.success_ratio[source] = counts_.get("completed", 0) / finished
    beat = q.scheduler_heartbeat(store)
    snap.scheduler_heartbeat_timestamp = beat.timestamp() if beat else None
    return snap


def _by_label(moments: dict[str, datetime]) -> dict[str, float]:
    """Unix times by redacted import name, the latest winning when two names become one."""
    out: dict[str, float] = {}
    for name, moment in moments.items():
        label = shown(name)
        out[label] = max(moment.timestamp(), out.get(label, 0.0))
    return out


def _shown(text: str | None) -> str | None:
    """Free text from the store as shown: URL secrets redacted (older rows may hold them)."""
    return shown(text) if text else text


def _progress(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def status_snapshot(store: Store, config: Config, now: datetime, breakers_path: Path,
                    limit: int = 50) -> StatusSnapshot:
    """Everything ``status`` shows; each list holds at most ``limit`` rows."""
    from ingestctl.monitoring import status as m  # Start-up weight: see health_snapshot

    names = q.tables(store)
    since = q.window_start(now, config.health.window)
    snap = m.StatusSnapshot(generated_at=now, window=config.health.window,
                            database=store.where)
    sources = {source: m.SourceSummary(source, counts.get("completed", 0),
                                       counts.get("failed", 0))
               for source, counts in q.finished_by_source(store, since).items()}
    for (source, status), count in q.unfinished_by_source(store).items():
        setattr(sources.setdefault(source, m.SourceSummary(source)), status, count)
    _hourly(store, now, sources)
    snap.sources = [sources[s] for s in sorted(sources)]
    for r in q.running_jobs(store):
        progress = _progress(r["progress"])
        lease = from_iso(r["lease_expires_at"])
        current = progress.get("current")
        snap.running.append(m.RunningJob(
            r["id"], shown(r["name"]), r["source"], redact_target(r["target"]), r["attempts"],
            r["max_attempts"],
            from_iso(r["started_at"]), from_iso(r["heartbeat_at"]), lease, r["lease_owner"],
            items=_int_or_none(progress.get("items")) or 0,
            current=shown(str(current)) if current is not None else None,
            files_done=_int_or_none(progress.get("files_done")),
            files_total=_int_or_none(progress.get("files_total")),
            lease_expired=lease is not None and lease < now))
    queued, snap.queue_total = q.queued_jobs(store, limit)
    snap.queue = [m.QueuedJob(r["id"], shown(r["name"]), r["source"], r["status"],
                              r["attempts"], r["max_attempts"], from_iso(r["next_attempt_at"]),
                              r["error_class"], _shown(r["error_message"]))
                  for r in queued]
    snap.dead_letters_total = q.active_dead_letters(store)
    snap.dead_letters = [m.DeadLetterRow(r["id"], r["job_id"], shown(r["name"]), r["source"],
                                         r["error_class"], _shown(r["error_message"]),
                                         r["attempts"], from_iso(r["updated_at"]))
                         for r in q.active_dead_letter_rows(store, limit)]
    snap.breakers = [m.BreakerRow(*b) for b in breakers(breakers_path, store)]
    snap.quotas = [m.QuotaRow(*row) for row in quotas(store, names, now)]
    snap.failures = [m.FailureRow(r["job_id"], shown(r["name"]), r["source"], r["number"],
                                  r["outcome"], from_iso(r["finished_at"]), r["error_class"],
                                  r["error_type"], _shown(r["error_message"]))
                     for r in q.failed_attempts(store, since, limit)]
    if {"alerts", "alert_deliveries"} <= names:
        snap.alerts = [m.AlertRow(r["id"], r["kind"], r["severity"], shown(r["subject"]),
                                  from_iso(r["created_at"]), _delivery(r["n"], r["sent"]))
                       for r in q.recent_alerts(store, limit)]
        snap.undelivered_alerts = q.undelivered_alerts(store, names)[0]
    snap.schedules = _schedules(store, config, names, since)
    snap.scheduler_heartbeat = q.scheduler_heartbeat(store)
    snap.quality = [m.QualityRow(shown(name), job_id, found)
                    for name, job_id, found in q.last_run_violations(store) if found][:limit]
    return snap


def _hourly(store: Store, now: datetime, sources: dict[str, SourceSummary]) -> None:
    """Jobs completed and failed per source in each of the last 24 hours (oldest first)."""
    from ingestctl.monitoring.status import HOURS, SourceSummary  # Start-up weight: as above

    top = now.replace(minute=0, second=0, microsecond=0)
    first = top - timedelta(hours=HOURS - 1)
    for source, hour, status, count in q.hourly_outcomes(store, to_iso(first) or ""):
        moment = from_iso(f"{hour}:00:00Z")
        if moment is None:
            continue
        index = int((moment - first).total_seconds() // 3600)
        if 0 <= index < HOURS:
            row = sources.setdefault(source, SourceSummary(source))
            (row.hourly_completed if status == "completed" else row.hourly_failed)[index] += count


def _delivery(total: int, sent: int) -> str:
    return "none" if not total else "sent" if sent == total else f"waiting ({sent}/{total} sent)"


def _schedules(store: Store, config: Config, names: set[str], since: str
               ) -> list[ScheduleRow]:
    from ingestctl.monitoring.status import ScheduleRow  # Start-up weight: as above

    scheduled = [imp for imp in config.imports if imp.schedule]
    if not scheduled:
        return []
    known = q.published_next_runs(store)
    outcomes = q.import_outcomes(store, [imp.name for imp in scheduled])
    missed = Counter(name for name, _ in _missed_slots(store, names, since))
    return [ScheduleRow(imp.name, imp.source, imp.schedule, imp.timezone, known.get(imp.name),
                        *outcomes.get(imp.name, (None, None)), missed=missed.get(imp.name, 0))
            for imp in scheduled]


def empty_status(config: Config, now: datetime, database: Path,
                 breakers_path: Path) -> StatusSnapshot:
    """The status of a home without a database yet: breakers and schedules only."""
    from ingestctl.monitoring.status import (  # Start-up weight: as above
        BreakerRow,
        ScheduleRow,
        StatusSnapshot,
    )

    snap = StatusSnapshot(generated_at=now, window=config.health.window, database=str(database),
                          database_exists=False)
    snap.breakers = [BreakerRow(*b) for b in breakers(breakers_path)]
    snap.schedules = [ScheduleRow(imp.name, imp.source, imp.schedule, imp.timezone)
                      for imp in config.imports if imp.schedule]
    return snap
