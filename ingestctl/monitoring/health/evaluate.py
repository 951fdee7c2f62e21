"""The health checks (docs/reference/health.md), evaluated on a plain snapshot of the store.

``monitoring/snapshots.py`` fills a :class:`~.snapshot.HealthSnapshot` with a few indexed
queries; :func:`run_checks`
is pure (no I/O, time passed in), so every status path is testable with crafted snapshots.
Each check is isolated: an unexpected exception inside one becomes an UNKNOWN result with a
one-line output, never a traceback, and the other checks still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ingestctl.monitoring.health.model import CheckResult, Status, Threshold, classify, fmt_number
from ingestctl.monitoring.health.snapshot import HealthSnapshot
from ingestctl.redact import redact_text
from ingestctl.units import format_duration, format_size

if TYPE_CHECKING:
    from ingestctl.config import HealthConfig


Check = Callable[[HealthSnapshot, "HealthConfig", datetime], list[CheckResult]]


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def _span(seconds: float) -> str:
    """A window as operators say it: ``24h`` rather than ``1d``."""
    if seconds % 3600 == 0 and seconds <= 7 * 86400:
        return f"{int(seconds // 3600)}h"
    return format_duration(seconds)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def check_database(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """database:writable: CRITICAL when no row can be committed to the store, or when its
    filesystem has less than ``min_free_space`` left (the next import would fill it)."""
    free = snap.database_free_bytes
    left = f"; {format_size(free)} free" if free is not None else ""
    if not snap.database_ok:
        error = " ".join((snap.database_error or "unknown error").split())
        return [CheckResult("database", "writable", Status.CRITICAL, False, None,
                            f"database unreachable or not writable: {error}{left}", crit="1:",
                            min=0, max=1, time=now)]
    if free is not None and free < cfg.min_free_space:
        return [CheckResult("database", "writable", Status.CRITICAL, False, None,
                            f"disk {'full' if free == 0 else 'almost full'}: "
                            f"{format_size(free)} free on "
                            f"{snap.database_dir or 'the store filesystem'}, below "
                            f"min_free_space {format_size(cfg.min_free_space)}", crit="1:",
                            min=0, max=1, time=now)]
    return [CheckResult("database", "writable", Status.OK, True, None,
                        f"database reachable and writable{left}", crit="1:", min=0, max=1,
                        time=now)]


def check_schema(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """database:schema: the migration level; WARNING while migrations are pending."""
    if snap.schema_version is None or snap.schema_latest is None:
        return []
    pending = snap.schema_latest - snap.schema_version
    status = Status.WARNING if pending > 0 else Status.OK
    text = (f"{snap.database} schema at version {snap.schema_version} of "
            f"{snap.schema_latest}" + (f"; {pending} migration(s) pending: run "
                                       "`ingestctl db migrate`" if pending > 0 else ""))
    return [CheckResult("database", "schema", status, snap.schema_version, None, text,
                        min=0, max=snap.schema_latest, time=now)]


def check_pool(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """database:pool (PostgreSQL): connections in use; WARNING while requests wait for one."""
    if not snap.pool:
        return []
    size, idle = snap.pool.get("pool_size", 0), snap.pool.get("pool_available", 0)
    top, waiting = snap.pool.get("pool_max", 0), snap.pool.get("requests_waiting", 0)
    used = max(0, size - idle)
    status = Status.WARNING if waiting > 0 else Status.OK
    text = (f"{used} of {top} pooled connection(s) in use, {size} open"
            + (f"; {waiting} request(s) waiting: raise [store] pool_size" if waiting else ""))
    return [CheckResult("database", "pool", status, used, None, text, min=0, max=top,
                        time=now)]


def check_freshness(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """imports:freshness per import: CRITICAL when no success within its window.

    Never succeeded: CRITICAL when it has failed (it is broken), WARNING when it never ran
    (newly configured, waiting for its first run).
    """
    results = []
    for imp in snap.imports:
        window = imp.freshness if imp.freshness > 0 else cfg.default_freshness
        crit = Threshold.above(window)
        if imp.last_success is None:
            if imp.last_failure is not None:
                status, text = Status.CRITICAL, (
                    f"import {imp.name} never succeeded; last failure "
                    f"{format_duration(_age(now, imp.last_failure))} ago")
            else:
                status, text = Status.WARNING, f"import {imp.name} never ran"
            results.append(CheckResult("imports", "freshness", status, None, "s", text,
                                       crit=str(crit), min=0, time=now, component_id=imp.name))
            continue
        age = _age(now, imp.last_success)
        status = classify(age, None, crit)
        verb = "is older than" if status is Status.CRITICAL else "within"
        text = (f"import {imp.name} last succeeded {format_duration(age)} ago, {verb} its "
                f"freshness window of {format_duration(window)}")
        results.append(CheckResult("imports", "freshness", status, round(age, 3), "s", text,
                                   crit=str(crit), min=0, time=now, component_id=imp.name))
    if not results:
        results.append(CheckResult("imports", "freshness", Status.OK, None, "s",
                                   "no imports configured", time=now))
    return results


def check_success_rate(snap: HealthSnapshot, cfg: HealthConfig,
                       now: datetime) -> list[CheckResult]:
    """jobs:success_rate per source, in %: WARNING below min, CRITICAL below critical rate."""
    warn = Threshold.below(round(cfg.min_success_rate * 100, 6))
    crit = Threshold.below(round(cfg.critical_success_rate * 100, 6))
    window = _span(cfg.window)
    results = []
    for src in sorted(snap.jobs, key=lambda s: s.source):
        total = src.completed + src.failed
        if total == 0:
            results.append(CheckResult(
                "jobs", "success_rate", Status.OK, None, "%",
                f"no {src.source} jobs finished in the last {window}", warn=str(warn),
                crit=str(crit), min=0, max=100, time=now, component_id=src.source))
            continue
        rate = round(src.completed * 100 / total, 2)
        status = classify(rate, warn, crit)
        text = (f"{src.source} success rate {fmt_number(rate)}% ({src.completed}/{total}) "
                f"over {window}")
        if status is not Status.OK:
            limit = crit.start if status is Status.CRITICAL else warn.start
            text += f", below {fmt_number(limit)}%"
        results.append(CheckResult("jobs", "success_rate", status, rate, "%", text,
                                   warn=str(warn), crit=str(crit), min=0, max=100, time=now,
                                   component_id=src.source))
    if not results:
        results.append(CheckResult("jobs", "success_rate", Status.OK, None, "%",
                                   f"no jobs finished in the last {window}", time=now))
    return results


def _count_levels(warning: int, critical: int) -> tuple[Threshold | None, Threshold | None]:
    """``@N:`` ranges (N or more alerts); a level of 0 is disabled."""
    return (Threshold.at_least(warning) if warning > 0 else None,
            Threshold.at_least(critical) if critical > 0 else None)


def check_dead_letters(snap: HealthSnapshot, cfg: HealthConfig,
                       now: datetime) -> list[CheckResult]:
    """dead_letters:count: WARNING/CRITICAL at the configured counts (0 disables a level)."""
    warn, crit = _count_levels(cfg.dead_letters_warning, cfg.dead_letters_critical)
    count = snap.dead_letters
    status = classify(count, warn, crit)
    text = f"{_plural(count, 'dead letter')} in the last {_span(cfg.window)}"
    return [CheckResult("dead_letters", "count", status, count, None, text,
                        warn=str(warn) if warn else None, crit=str(crit) if crit else None,
                        min=0, time=now)]


def check_breakers(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """breakers:open: WARNING while any circuit breaker is open."""
    keys = sorted(snap.open_breakers)
    warn = Threshold.at_least(1)
    status = classify(len(keys), warn, None)
    text = (f"{_plural(len(keys), 'circuit breaker')} open: {', '.join(keys)}" if keys
            else "no circuit breaker open")
    return [CheckResult("breakers", "open", status, len(keys), None, text, warn=str(warn),
                        min=0, time=now)]


def check_leases(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """leases:expired: WARNING when processing jobs hold expired leases (a worker died)."""
    warn = Threshold.at_least(1)
    count = snap.expired_leases
    status = classify(count, warn, None)
    text = (f"{_plural(count, 'job')} processing with an expired lease" if count
            else "no expired job leases")
    return [CheckResult("leases", "expired", status, count, None, text, warn=str(warn), min=0,
                        time=now)]


def check_quota(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """quota:used_ratio per api/scope: WARNING and CRITICAL at the configured ratios."""
    warn, crit = Threshold.at_least(cfg.quota_warning), Threshold.at_least(cfg.quota_critical)
    results = []
    for quota in sorted(snap.quotas, key=lambda q: (q.api, q.scope)):
        ratio = round(quota.ratio, 4)
        status = classify(ratio, warn, crit)
        text = f"{quota.api} quota for {quota.scope} {fmt_number(round(ratio * 100, 2))}% used"
        if quota.counted_by != "ingestctl":  # other clients share the quota: whose figure
            text += f" (as counted by the {quota.counted_by})"
        results.append(CheckResult("quota", "used_ratio", status, ratio, None, text,
                                   warn=str(warn), crit=str(crit), min=0, max=1, time=now,
                                   component_id=f"{quota.api}/{quota.scope}"))
    if not results:
        results.append(CheckResult("quota", "used_ratio", Status.OK, None, None,
                                   "no API quota recorded", time=now))
    return results


def check_scheduler(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """scheduler:heartbeat: CRITICAL when a scheduler is expected and its heartbeat is stale."""
    expected = cfg.scheduler_expected if snap.scheduler_expected is None \
        else snap.scheduler_expected
    crit = Threshold.above(cfg.scheduler_stale) if expected else None
    beat = snap.scheduler_heartbeat
    if beat is None:
        status = Status.CRITICAL if expected else Status.OK
        text = ("scheduler expected but it never reported a heartbeat" if expected
                else "no scheduler expected")
        return [CheckResult("scheduler", "heartbeat", status, None, "s", text,
                            crit=str(crit) if crit else None, min=0, time=now)]
    age = _age(now, beat)
    status = classify(age, None, crit)
    text = f"scheduler heartbeat {format_duration(age)} ago"
    if status is Status.CRITICAL:
        text += f", stale (expected within {format_duration(cfg.scheduler_stale)})"
    elif not expected:
        text += " (no scheduler expected)"
    return [CheckResult("scheduler", "heartbeat", status, round(age, 3), "s", text,
                        crit=str(crit) if crit else None, min=0, time=now)]


def check_alerts(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """alerts:undelivered: WARNING while alerts wait in the outbox (email or webhook down)."""
    warn = Threshold.at_least(1)
    count = snap.undelivered_alerts
    status = classify(count, warn, None)
    text = f"{_plural(count, 'alert')} undelivered" if count else "all alerts delivered"
    if count and snap.oldest_undelivered_alert is not None:
        text += f", oldest {format_duration(_age(now, snap.oldest_undelivered_alert))} ago"
    return [CheckResult("alerts", "undelivered", status, count, None, text, warn=str(warn),
                        min=0, time=now)]


def check_alert_channels(snap: HealthSnapshot, cfg: HealthConfig,
                         now: datetime) -> list[CheckResult]:
    """alerts:channels: WARNING when no channel is on, so alerts only reach the log file."""
    if snap.alert_channels is None:
        return []
    count = len(snap.alert_channels)
    if count:
        text = f"alerts go to {' and '.join(snap.alert_channels)}"
    else:
        text = ("no alert channel is on: alerts only reach the log; set [alerts.email] to or "
                "the webhook URL variable")
    return [CheckResult("alerts", "channels", Status.OK if count else Status.WARNING, count,
                        None, text, warn="0", min=0, time=now)]


def check_quality(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """quality:errors per import: errors on its last run are WARNING (or CRITICAL by config).

    WARNING by default: the data arrived and was stored, but a human should look at it;
    CRITICAL is kept for data that is not arriving at all.
    """
    level = Threshold.at_least(1)
    on_error = Status.CRITICAL if cfg.quality_errors_status == "critical" else Status.WARNING
    warn, crit = (None, level) if on_error is Status.CRITICAL else (level, None)
    results = []
    for run in sorted(snap.quality, key=lambda r: r.import_name):
        status = on_error if run.errors > 0 else Status.OK
        job = f" (job {run.job_id})" if run.job_id is not None else ""
        text = (f"import {run.import_name} last run{job}: {_plural(run.errors, 'quality error')}"
                f", {_plural(run.warnings, 'warning')}")
        results.append(CheckResult("quality", "errors", status, run.errors, None, text,
                                   warn=str(warn) if warn else None,
                                   crit=str(crit) if crit else None, min=0, time=now,
                                   component_id=run.import_name))
    if not results:
        results.append(CheckResult("quality", "errors", Status.OK, None, None,
                                   "no data-quality results recorded", time=now))
    return results


def check_schedules(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
    """schedules:missed: WARNING when a scheduled slot passed its grace time without a run.

    Only reported when some import has a schedule (or misses were recorded).
    """
    if not (snap.schedules_configured or snap.missed_slots):
        return []
    warn = Threshold.at_least(1)
    count = len(snap.missed_slots)
    status = classify(count, warn, None)
    if count:
        name, slot = max(snap.missed_slots, key=lambda item: item[1])
        text = (f"{_plural(count, 'scheduled run')} missed in the last "
                f"{format_duration(cfg.window)}; latest: {name} at "
                f"{slot.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    else:
        text = "no scheduled run missed"
    return [CheckResult("schedules", "missed", status, count, None, text, warn=str(warn), min=0,
                        time=now)]


CHECKS: tuple[tuple[str, str, Check], ...] = (
    ("database", "writable", check_database),
    ("database", "schema", check_schema),
    ("database", "pool", check_pool),
    ("imports", "freshness", check_freshness),
    ("jobs", "success_rate", check_success_rate),
    ("dead_letters", "count", check_dead_letters),
    ("breakers", "open", check_breakers),
    ("leases", "expired", check_leases),
    ("quota", "used_ratio", check_quota),
    ("scheduler", "heartbeat", check_scheduler),
    ("alerts", "undelivered", check_alerts),
    ("alerts", "channels", check_alert_channels),
    ("quality", "errors", check_quality),
    ("schedules", "missed", check_schedules),
)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"[:200]


def run_checks(snapshot: HealthSnapshot, cfg: HealthConfig, now: datetime,
               checks: tuple[tuple[str, str, Check], ...] = CHECKS) -> list[CheckResult]:
    """Run every check on ``snapshot``; only the database check when the store is unreachable."""
    # Without a store every other reading would be invented, so only the database speaks.
    chosen = checks if snapshot.database_ok else tuple(c for c in checks if c[0] == "database")
    results: list[CheckResult] = []
    for component, measurement, check in chosen:
        try:
            results.extend(check(snapshot, cfg, now))
        except Exception as exc:  # a broken check must never crash `health`
            results.append(CheckResult(component, measurement, Status.UNKNOWN, None, None,
                                       f"{component}:{measurement} check failed: "
                                       f"{_one_line(exc)}", time=now))
    # Import names and errors may quote URLs (older stores kept their secrets in names).
    return [replace(r, output=redact_text(r.output), component_id=redact_text(r.component_id)
                    if r.component_id else r.component_id) for r in results]
