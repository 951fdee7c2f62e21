"""Health model and checks: ranges, statuses, exit codes from crafted store snapshots."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestctl.config import HealthConfig
from ingestctl.config_file import load_config
from ingestctl.errors import ConfigError
from ingestctl.monitoring.health import (
    CheckResult,
    HealthSnapshot,
    ImportFreshness,
    QualityRun,
    QuotaUse,
    SourceJobs,
    Status,
    Threshold,
    overall,
    run_checks,
    worst,
)
from ingestctl.monitoring.health.evaluate import CHECKS
from ingestctl.monitoring.health.model import fmt_number

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def healthy() -> HealthSnapshot:
    """A store where everything is fine."""
    return HealthSnapshot(
        imports=[ImportFreshness("shop-sitemap", 0, NOW - timedelta(hours=3)),
                 ImportFreshness("merchant-main", 3600, NOW - timedelta(minutes=20))],
        jobs=[SourceJobs("sitemap", 19, 1), SourceJobs("merchant", 5, 0)],
        quotas=[QuotaUse("merchant", "account-123", 0.1)],
        scheduler_expected=True, scheduler_heartbeat=NOW - timedelta(seconds=15),
        quality=[QualityRun("shop-sitemap", errors=0, warnings=2, job_id=7)],
        alert_channels=["email"], schedules_configured=True, database="postgres",
        schema_version=9, schema_latest=9,
        pool={"pool_size": 2, "pool_available": 1, "pool_max": 10, "requests_waiting": 0})


def by_key(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    out: dict[str, list[CheckResult]] = {}
    for r in results:
        out.setdefault(r.key, []).append(r)
    return out


def one(results: list[CheckResult], key: str) -> CheckResult:
    found = by_key(results)[key]
    assert len(found) == 1, found
    return found[0]


# --- ranges, statuses ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value", "alert"), [
    ("10", 10, False), ("10", 10.5, True), ("10", 0, False), ("10", -0.1, True),
    ("10:", 9.9, True), ("10:", 10, False), ("10:", 1e12, False),
    ("~:10", -1e12, False), ("~:10", 10, False), ("~:10", 10.01, True),
    ("10:20", 9, True), ("10:20", 15, False), ("10:20", 20, False), ("10:20", 21, True),
    ("@10:20", 10, True), ("@10:20", 20, True), ("@10:20", 9.99, False), ("@10:20", 21, False),
    ("@1:", 0, False), ("@1:", 1, True), ("@0.8:", 0.8, True), ("@0.8:", 0.7999, False),
    (":5", -1, True), (":5", 5, False),
])
def test_threshold_ranges(text: str, value: float, alert: bool) -> None:
    assert Threshold.parse(text).violated(value) is alert
    assert str(Threshold.parse(text)) == text


def test_threshold_parts() -> None:
    t = Threshold.parse("~:10")
    assert (t.start, t.end, t.inside) == (-math.inf, 10.0, False)
    t = Threshold.parse("@10:20")
    assert (t.start, t.end, t.inside) == (10.0, 20.0, True)
    assert Threshold.parse("10") == Threshold(0.0, 10.0, False, "10")
    assert str(Threshold.below(90)) == "90:"
    assert str(Threshold.at_least(0.95)) == "@0.95:"
    assert str(Threshold.above(172800.0)) == "172800"


@pytest.mark.parametrize("bad", ["", "abc", "20:10", "@", "1:2:3", "~", "10:~", "1,5", "@@1"])
def test_threshold_invalid(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid threshold range"):
        Threshold.parse(bad)


def test_fmt_number() -> None:
    assert [fmt_number(v) for v in (0.1, 90.0, 1 / 3, True, 1234567.0, 1e-9, 3, -2.5)] == \
        ["0.1", "90", "0.333333", "1", "1234567", "0", "3", "-2.5"]
    assert fmt_number(math.nan) == "U"


def test_status_codes_and_order() -> None:
    assert [s.exit_code for s in Status] == [0, 1, 2, 3]
    assert [s.health_json for s in Status] == ["pass", "warn", "fail", "fail"]
    assert worst([Status.OK, Status.WARNING, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL, Status.WARNING]) is Status.CRITICAL
    assert worst([]) is Status.OK
    assert overall([]) is Status.UNKNOWN


def test_quality_status_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[health]\nquality_errors_status = "critical"\n')
    assert load_config(path, environ={}).health.quality_errors_status == "critical"
    path.write_text('[health]\nquality_errors_status = "fatal"\n')
    with pytest.raises(ConfigError, match="warning, critical"):
        load_config(path, environ={})


# --- exit code paths ------------------------------------------------------------------------

def test_all_well_is_ok() -> None:
    results = run_checks(healthy(), HealthConfig(), NOW)
    assert [r.status for r in results] == [Status.OK] * len(results)
    assert overall(results).exit_code == 0
    assert list(by_key(results)) == [f"{c}:{m}" for c, m, _ in CHECKS]
    rates = by_key(results)["jobs:success_rate"]
    assert [(r.component_id, r.observed_value) for r in rates] == [("merchant", 100.0),
                                                                   ("sitemap", 95.0)]


def test_open_breaker_is_warning() -> None:
    snap = replace(healthy(), open_breakers=["sitemap:b.example", "sitemap:a.example"])
    results = run_checks(snap, HealthConfig(), NOW)
    breaker = one(results, "breakers:open")
    assert (breaker.status, breaker.observed_value, breaker.output) == (
        Status.WARNING, 2, "2 circuit breakers open: sitemap:a.example, sitemap:b.example")
    assert overall(results) is Status.WARNING and overall(results).exit_code == 1


@pytest.mark.parametrize(("completed", "failed", "status", "rate"), [
    (17, 3, Status.WARNING, 85.0),      # under 90 %
    (9, 1, Status.OK, 90.0),            # exactly 90 % is not "below"
    (2, 3, Status.CRITICAL, 40.0),      # under critical_success_rate 50 %
    (1, 1, Status.WARNING, 50.0),
])
def test_success_rate(completed: int, failed: int, status: Status, rate: float) -> None:
    snap = replace(healthy(), jobs=[SourceJobs("sitemap", completed, failed)])
    results = run_checks(snap, HealthConfig(), NOW)
    check = one(results, "jobs:success_rate")
    assert (check.status, check.observed_value, check.warn, check.crit) == (
        status, rate, "90:", "50:")
    assert overall(results) is status


def test_success_rate_text_and_no_jobs() -> None:
    snap = replace(healthy(), jobs=[SourceJobs("sitemap", 17, 3), SourceJobs("merchant")])
    results = by_key(run_checks(snap, HealthConfig(), NOW))["jobs:success_rate"]
    assert [(r.component_id, r.status, r.output) for r in results] == [
        ("merchant", Status.OK, "no merchant jobs finished in the last 24h"),
        ("sitemap", Status.WARNING, "sitemap success rate 85% (17/20) over 24h, below 90%")]
    empty = one(run_checks(replace(healthy(), jobs=[]), HealthConfig(), NOW),
                "jobs:success_rate")
    assert (empty.status, empty.observed_value, empty.output) == (
        Status.OK, None, "no jobs finished in the last 24h")


def test_success_rate_thresholds_from_config() -> None:
    cfg = HealthConfig(min_success_rate=0.99, critical_success_rate=0.9)
    snap = replace(healthy(), jobs=[SourceJobs("sitemap", 95, 5)])
    check = one(run_checks(snap, cfg, NOW), "jobs:success_rate")
    assert (check.status, check.warn, check.crit) == (Status.WARNING, "99:", "90:")


@pytest.mark.parametrize(("count", "status"), [
    (0, Status.OK), (1, Status.WARNING), (9, Status.WARNING), (10, Status.CRITICAL),
    (250, Status.CRITICAL)])
def test_dead_letters(count: int, status: Status) -> None:
    results = run_checks(replace(healthy(), dead_letters=count), HealthConfig(), NOW)
    check = one(results, "dead_letters:count")
    assert (check.status, check.observed_value, check.warn, check.crit) == (
        status, count, "@1:", "@10:")
    assert overall(results).exit_code == status.exit_code


def test_dead_letter_level_zero_disables() -> None:
    cfg = HealthConfig(dead_letters_warning=0, dead_letters_critical=0)
    check = one(run_checks(replace(healthy(), dead_letters=99), cfg, NOW), "dead_letters:count")
    assert (check.status, check.warn, check.crit, check.output) == (
        Status.OK, None, None, "99 dead letters in the last 24h")


def test_database_unreachable_is_critical_alone() -> None:
    snap = HealthSnapshot.unreachable("unable to open database file\n/home/x/ingestctl.db")
    results = run_checks(snap, HealthConfig(), NOW)
    assert len(results) == 1
    assert (results[0].key, results[0].status, results[0].observed_value) == (
        "database:writable", Status.CRITICAL, False)
    assert results[0].output == ("database unreachable or not writable: unable to open "
                                 "database file /home/x/ingestctl.db")
    assert overall(results).exit_code == 2


def test_check_raising_is_unknown_and_others_still_run() -> None:
    # A corrupt reading (ratio None) makes the real quota check raise inside.
    snap = replace(healthy(), quotas=[QuotaUse("merchant", "account-1", None)])  # type: ignore[arg-type]
    results = run_checks(snap, HealthConfig(), NOW)
    quota = one(results, "quota:used_ratio")
    assert quota.status is Status.UNKNOWN
    assert quota.output.startswith("quota:used_ratio check failed: TypeError: ")
    assert "\n" not in quota.output
    assert list(by_key(results)) == [f"{c}:{m}" for c, m, _ in CHECKS]
    assert overall(results) is Status.UNKNOWN and overall(results).exit_code == 3


def test_unknown_below_critical() -> None:
    def boom(snap: HealthSnapshot, cfg: HealthConfig, now: datetime) -> list[CheckResult]:
        raise RuntimeError("store said\nno")

    checks = (*CHECKS, ("custom", "boom", boom))
    snap = replace(healthy(), dead_letters=50)
    results = run_checks(snap, HealthConfig(), NOW, checks=checks)
    assert results[-1].output == "custom:boom check failed: RuntimeError: store said no"
    assert overall(results) is Status.CRITICAL


def test_freshness() -> None:
    snap = replace(healthy(), imports=[
        ImportFreshness("fresh", 0, NOW - timedelta(days=1)),
        ImportFreshness("stale", 3600, NOW - timedelta(hours=2)),
        ImportFreshness("new"),
        ImportFreshness("broken", 0, None, NOW - timedelta(minutes=5)),
    ])
    results = by_key(run_checks(snap, HealthConfig(), NOW))["imports:freshness"]
    assert [(r.component_id, r.status, r.observed_value, r.crit) for r in results] == [
        ("fresh", Status.OK, 86400.0, "172800"),
        ("stale", Status.CRITICAL, 7200.0, "3600"),
        ("new", Status.WARNING, None, "172800"),
        ("broken", Status.CRITICAL, None, "172800"),
    ]
    assert [r.output for r in results] == [
        "import fresh last succeeded 1d ago, within its freshness window of 2d",
        "import stale last succeeded 2h ago, is older than its freshness window of 1h",
        "import new never ran",
        "import broken never succeeded; last failure 5m ago",
    ]


@pytest.mark.parametrize(("ratio", "status"), [
    (0.79, Status.OK), (0.8, Status.WARNING), (0.949, Status.WARNING), (0.95, Status.CRITICAL),
    (1.2, Status.CRITICAL)])
def test_quota(ratio: float, status: Status) -> None:
    snap = replace(healthy(), quotas=[QuotaUse("search-console", "sc-domain:example.com", ratio)])
    check = one(run_checks(snap, HealthConfig(), NOW), "quota:used_ratio")
    assert (check.status, check.component_id, check.warn, check.crit) == (
        status, "search-console/sc-domain:example.com", "@0.8:", "@0.95:")


def test_scheduler() -> None:
    cfg = HealthConfig()
    stale = replace(healthy(), scheduler_heartbeat=NOW - timedelta(minutes=5))
    check = one(run_checks(stale, cfg, NOW), "scheduler:heartbeat")
    assert (check.status, check.observed_value, check.crit, check.output) == (
        Status.CRITICAL, 300.0, "120",
        "scheduler heartbeat 5m ago, stale (expected within 2m)")
    missing = replace(healthy(), scheduler_heartbeat=None)
    assert one(run_checks(missing, cfg, NOW), "scheduler:heartbeat").status is Status.CRITICAL
    # Not expected: a stale or missing heartbeat is only information.
    quiet = replace(stale, scheduler_expected=False)
    check = one(run_checks(quiet, cfg, NOW), "scheduler:heartbeat")
    assert (check.status, check.crit) == (Status.OK, None)
    # The snapshot leaves it to the config.
    fallback = replace(missing, scheduler_expected=None)
    assert one(run_checks(fallback, cfg, NOW), "scheduler:heartbeat").output == \
        "no scheduler expected"
    assert one(run_checks(fallback, HealthConfig(scheduler_expected=True), NOW),
               "scheduler:heartbeat").status is Status.CRITICAL


def test_leases_alerts_quality() -> None:
    snap = replace(healthy(), expired_leases=2, undelivered_alerts=3,
                   oldest_undelivered_alert=NOW - timedelta(minutes=90),
                   quality=[QualityRun("shop-sitemap", errors=4, warnings=1, job_id=42)])
    results = run_checks(snap, HealthConfig(), NOW)
    assert [(r.key, r.status, r.output) for r in results
            if r.status is not Status.OK] == [
        ("leases:expired", Status.WARNING, "2 jobs processing with an expired lease"),
        ("alerts:undelivered", Status.WARNING, "3 alerts undelivered, oldest 1h 30m ago"),
        ("quality:errors", Status.WARNING,
         "import shop-sitemap last run (job 42): 4 quality errors, 1 warning"),
    ]
    strict = run_checks(snap, HealthConfig(quality_errors_status="critical"), NOW)
    quality = one(strict, "quality:errors")
    assert (quality.status, quality.warn, quality.crit) == (Status.CRITICAL, None, "@1:")


def test_missed_schedules_warn_and_are_silent_without_schedules() -> None:
    missed = replace(healthy(), missed_slots=[("shop-sitemap", NOW - timedelta(hours=2)),
                                              ("shop-sitemap", NOW - timedelta(hours=1))])
    check = one(run_checks(missed, HealthConfig(), NOW), "schedules:missed")
    assert (check.status, check.observed_value, check.output) == (
        Status.WARNING, 2, "2 scheduled runs missed in the last 1d; latest: shop-sitemap at "
        "2026-03-01T11:00:00Z")
    unscheduled = replace(healthy(), schedules_configured=False)
    assert "schedules:missed" not in by_key(run_checks(unscheduled, HealthConfig(), NOW))


def test_database_schema_and_pool_checks() -> None:
    snap = healthy()
    results = run_checks(snap, HealthConfig(), NOW)
    assert one(results, "database:schema").output == "postgres schema at version 9 of 9"
    assert one(results, "database:pool").output == (
        "1 of 10 pooled connection(s) in use, 2 open")
    snap.schema_version, snap.pool["requests_waiting"] = 7, 3
    results = run_checks(snap, HealthConfig(), NOW)
    schema, pool = one(results, "database:schema"), one(results, "database:pool")
    assert (schema.status, schema.output) == (Status.WARNING, (
        "postgres schema at version 7 of 9; 2 migration(s) pending: run `ingestctl db migrate`"))
    assert (pool.status, pool.output) == (Status.WARNING, (
        "1 of 10 pooled connection(s) in use, 2 open; 3 request(s) waiting: raise "
        "[store] pool_size"))
    sqlite = HealthSnapshot(schema_version=9, schema_latest=9)
    assert "database:pool" not in by_key(run_checks(sqlite, HealthConfig(), NOW))


def test_no_alert_channel_is_a_warning() -> None:
    quiet = one(run_checks(replace(healthy(), alert_channels=[]), HealthConfig(), NOW),
                "alerts:channels")
    assert (quiet.status, quiet.observed_value, quiet.output) == (
        Status.WARNING, 0, "no alert channel is on: alerts only reach the log; set "
        "[alerts.email] to or the webhook URL variable")
    both = one(run_checks(replace(healthy(), alert_channels=["email", "webhook"]),
                          HealthConfig(), NOW), "alerts:channels")
    assert (both.status, both.output) == (Status.OK, "alerts go to email and webhook")
