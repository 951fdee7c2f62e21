"""The monitoring queries on a crafted store: exact snapshots, summaries kept by trigger, plans."""

from __future__ import annotations

import math
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from ingestctl.clock import to_iso
from ingestctl.config import Config, ImportConfig
from ingestctl.errors import TransientError
from ingestctl.host import hostname
from ingestctl.monitoring import snapshots as snaps
from ingestctl.monitoring import snapshots as sq
from ingestctl.monitoring.metrics import DURATION_BUCKETS, DurationHistogram
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import monitoring as mon
from ingestctl.store.schema import MIGRATIONS
from tests.monitoring_helpers import ADHOC, FEED, SHOP, crafted, standard


def config() -> Config:
    cfg = Config()
    cfg.imports = [ImportConfig(name="shop", source="sitemap", url=SHOP.target,
                                schedule="0 2 * * *", freshness=6 * 3600),
                   ImportConfig(name="feed", source="merchant", account="123"),
                   ImportConfig(name="never", source="sitemap", url="https://n.example/s.xml")]
    return cfg


def test_metrics_snapshot_exact(tmp_path: Path, store_location: Path | str) -> None:
    c = standard(tmp_path / "home", store_location)
    c.breaker("sitemap:shop.example", "open", c.clock.now() + timedelta(seconds=60))
    c.breaker("merchant:123", "closed")
    snap = snaps.metrics_snapshot(c.store, c.clock.now(), c.breakers)
    assert snap.jobs_total == {("sitemap", "completed"): 3, ("sitemap", "failed"): 1,
                               ("merchant", "completed"): 1}
    assert snap.jobs_unfinished == {("sitemap", "retrying"): 1, ("sitemap", "processing"): 1}
    sitemap, merchant = DurationHistogram(), DurationHistogram()
    for seconds in (0.5, 3, 2, 70):
        sitemap.observe(seconds)
    merchant.observe(4000)
    assert snap.job_durations == {"sitemap": sitemap, "merchant": merchant}
    assert snap.items_imported_total == {"sitemap": 60, "merchant": 5}
    assert snap.retries_total == {("sitemap", "transient"): 4}
    assert snap.api_requests_total == {("merchant", "200"): 40, ("merchant", "429"): 2}
    assert snap.alerts_total == {("email", "sent"): 2}
    assert snap.quality_violations_total == {("missing_lastmod", "warning"): 7}
    assert snap.dead_letters == 1
    assert snap.last_success_timestamp == {
        "shop": c.jobs["shop_ok"].finished_at and mon.from_iso(
            c.jobs["shop_ok"].finished_at).timestamp(),  # type: ignore[union-attr]
        "feed": mon.from_iso(c.jobs["feed"].finished_at).timestamp(),  # type: ignore[union-attr]
    }
    failed = mon.from_iso(c.jobs["shop_failed"].finished_at)
    assert failed is not None  # the ad-hoc import is retrying, not failed
    assert snap.last_failure_timestamp == {"shop": failed.timestamp()}
    assert snap.schedule_missed_slots == {}
    assert snap.circuit_breaker_open == {"sitemap:shop.example": True, "merchant:123": False}
    assert snap.success_ratio == {"sitemap": 0.75, "merchant": 1.0}
    assert snap.api_quota_used_ratio == {}
    assert snap.scheduler_heartbeat_timestamp is None
    # Per host: the serving process's, and the running job's lease owner ("test:1").
    assert (snap.host, snap.backend) == (hostname(), c.store.dialect)
    assert snap.jobs_running == {"test": 1}
    assert set(snap.database_pool) == (
        {"open", "idle", "max", "waiting"} if c.store.dialect == "postgres" else set())


def test_health_snapshot(tmp_path: Path, store_location: Path | str) -> None:
    c = standard(tmp_path / "home", store_location)
    c.breaker("sitemap:shop.example", "half_open")
    now = c.clock.now()
    snap = snaps.health_snapshot(c.store, config(), now, c.breakers)
    assert snap.database_ok
    fresh = {f.name: f for f in snap.imports}
    assert list(fresh) == ["shop", "feed", "never"]
    assert fresh["shop"].freshness == 6 * 3600
    assert to_iso(fresh["shop"].last_success) == c.jobs["shop_ok"].finished_at
    assert to_iso(fresh["shop"].last_failure) == c.jobs["shop_failed"].finished_at
    assert (fresh["never"].last_success, fresh["never"].last_failure) == (None, None)
    assert {(j.source, j.completed, j.failed) for j in snap.jobs} == {
        ("sitemap", 3, 1), ("merchant", 1, 0)}
    assert snap.dead_letters == 1
    assert snap.open_breakers == ["sitemap:shop.example"]
    assert snap.expired_leases == 0
    assert [(q.import_name, q.errors, q.warnings, q.job_id) for q in snap.quality] == [
        ("shop", 1, 1, c.jobs["shop_ok"].id)]
    # An hour later the news job's lease (60 s) has long expired.
    later = snaps.health_snapshot(c.store, config(), now + timedelta(hours=1), c.breakers)
    assert later.expired_leases == 1
    # Outside the window nothing finished.
    day = snaps.health_snapshot(c.store, config(), now + timedelta(days=2), c.breakers)
    assert (day.jobs, day.dead_letters) == ([], 0)


def test_status_snapshot(tmp_path: Path, store_location: Path | str) -> None:
    c = standard(tmp_path / "home", store_location)
    now = c.clock.now()
    snap = sq.status_snapshot(c.store, config(), now, c.breakers)
    shown = [s.to_json() for s in snap.sources]
    hourly = [s.pop("hourly") for s in shown]
    assert shown == [
        {"source": "merchant", "completed": 1, "failed": 0, "pending": 0, "processing": 0,
         "retrying": 0, "success_rate": 1.0},
        {"source": "sitemap", "completed": 3, "failed": 1, "pending": 0, "processing": 1,
         "retrying": 1, "success_rate": 0.75}]
    # Per hour, the current hour last: every job finished within the last 24 hours.
    assert [sum(h["completed"]) for h in hourly] == [1, 3]
    assert [sum(h["failed"]) for h in hourly] == [0, 1]
    assert all(len(h["completed"]) == len(h["failed"]) == 24 for h in hourly)
    (running,) = snap.running
    assert (running.name, running.items, running.current, running.attempt) == (
        "news", 42, "https://news.example/s-2.xml", 1)
    assert running.elapsed(now) == 5.0 and not running.lease_expired
    assert snap.queue_total == 1
    assert [(q.name, q.status, q.error_class) for q in snap.queue] == [
        (ADHOC.import_key, "retrying", "transient")]
    assert snap.dead_letters_total == 1
    assert [(d.job_id, d.error_class) for d in snap.dead_letters] == [
        (c.jobs["shop_failed"].id, "data")]
    assert [(f.job_id, f.error_class, f.error_type) for f in snap.failures] == [
        (c.jobs["adhoc"].id, "transient", "TransientError"),
        (c.jobs["shop_failed"].id, "data", "DataError")]
    assert snap.alerts == []  # the alerts tables exist; nothing was raised
    assert [(s.name, s.schedule, s.next_run) for s in snap.schedules] == [
        ("shop", "0 2 * * *", None)]
    data = snap.to_json()
    assert set(data) == {"generated_at", "window_seconds", "database", "database_exists",
                         "sources", "running", "queue", "dead_letters", "breakers", "quotas",
                         "failures", "alerts", "schedules", "scheduler_heartbeat",
                         "quality"}


def test_scheduler_state_next_runs_and_heartbeat(
        tmp_path: Path, store_location: Path | str) -> None:
    c = standard(tmp_path / "home", store_location)
    stamp = to_iso(c.clock.now())
    with c.store.write() as conn:
        conn.execute("INSERT INTO scheduler_state (key, value, updated_at) VALUES "
                     "('heartbeat', ?, ?), ('next_run:shop', '2030-01-01T02:00:00.000000Z', ?)",
                     (stamp, stamp, stamp))
    snap = sq.status_snapshot(c.store, config(), c.clock.now(), c.breakers)
    assert to_iso(snap.scheduler_heartbeat) == stamp
    assert snap.schedules[0].to_json()["next_run"] == "2030-01-01T02:00:00Z"
    metrics = snaps.metrics_snapshot(c.store, c.clock.now(), c.breakers)
    assert metrics.scheduler_heartbeat_timestamp == c.clock.now().timestamp()


def test_job_stats_trigger_counts_each_terminal_transition(
        tmp_path: Path, store_location: Path | str) -> None:
    c = crafted(tmp_path / "home", location=store_location)
    failed = c.run(SHOP, 10, error=TransientError("down"))
    assert failed.status.value == "retrying"
    assert snaps.metrics_snapshot(c.store, c.clock.now(), c.breakers).jobs_total == {}
    c.clock.advance(5)
    claimed = c.queue.claim(failed.id)
    assert claimed is not None
    c.clock.advance(5)
    from ingestctl.jobs.contract import AttemptReport

    c.queue.complete(claimed, AttemptReport(items=3, job_items=3))
    snap = snaps.metrics_snapshot(c.store, c.clock.now(), c.breakers)
    assert snap.jobs_total == {("sitemap", "completed"): 1}
    # From the first start to the finish: 10 s, the retry wait (5 s) and 5 s.
    assert snap.job_durations["sitemap"].sum == 20.0
    assert snap.items_imported_total == {"sitemap": 3}


def test_migration_backfills_summaries_of_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for _name, script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO imports (id, key, name, source, target, created_at) "
                 "VALUES (1, 'a', 'a', 'sitemap', 't', '2026-01-01T00:00:00.000000Z')")
    conn.executemany(
        "INSERT INTO jobs (import_id, import_key, name, source, target, status, max_attempts, "
        "items, created_at, started_at, finished_at) VALUES (1, 'a', 'a', 'sitemap', 't', ?, 3, "
        "?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', ?)",
        [("completed", 4, "2026-01-01T00:00:30.250000Z"), ("failed", 0,
                                                           "2026-01-01T02:00:00.000000Z"),
         ("retrying", 0, None)])
    conn.execute("INSERT INTO dead_letters (job_id, name, source, target, options, error_class, "
                 "attempts, created_at, updated_at) VALUES (2, 'a', 'sitemap', 't', '{}', "
                 "'data', 1, 'x', 'x')")
    conn.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    rows = store.query("SELECT source, status, bucket, jobs, seconds, items FROM job_stats "
                       "ORDER BY status")
    assert [tuple(r) for r in rows] == [("sitemap", "completed", 3, 1, 30.25, 4),
                                        ("sitemap", "failed", 8, 1, 7200.0, 0)]
    assert dl_store.count_active(store) == 1


def _counted(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM dead_letters WHERE active = 1") or 0)


def test_dead_letter_count_follows_bury_requeue_and_purge(
        tmp_path: Path, store_location: Path | str) -> None:
    from ingestctl.errors import DataError
    from ingestctl.store import dead_letters as dl

    c = crafted(tmp_path / "home", location=store_location)
    job = c.run(SHOP, 1, error=DataError("bad"))
    assert dl_store.count_active(c.store) == 1
    c.queue.requeue(job.id)
    assert dl_store.count_active(c.store) == 0
    claimed = c.queue.claim(job.id)
    assert claimed is not None
    c.queue.fail(claimed, DataError("bad again"), None, __import__(
        "ingestctl.jobs.contract", fromlist=["AttemptReport"]).AttemptReport())
    assert dl.count_active(c.store) == 1 == _counted(c.store)
    dl.purge(c.store, to_iso(c.clock.now() + timedelta(days=1)) or "")
    assert dl.count_active(c.store) == 0 == _counted(c.store)


def test_duration_buckets_in_sql_match_the_collector(
        tmp_path: Path, store_location: Path | str) -> None:
    c = crafted(tmp_path / "home", location=store_location)
    bounds = [b for b in DURATION_BUCKETS if not math.isinf(b)]
    probes = sorted({x for b in bounds for x in (b - 0.25, b, b + 0.25)})
    for seconds in probes:
        c.run(FEED, seconds)
    snap = snaps.metrics_snapshot(c.store, c.clock.now(), c.breakers)
    expected = DurationHistogram()
    for seconds in probes:
        expected.observe(seconds)
    assert snap.job_durations["merchant"] == expected


def test_quota_and_alert_tables_are_read_when_present(
        tmp_path: Path, store_location: Path | str) -> None:
    c = standard(tmp_path / "home", store_location)
    now = c.clock.now()
    reset = to_iso(now + timedelta(hours=3))
    with c.store.write() as conn:
        # Quota rows as the Google sources count them; outbox rows as the alert store writes them.
        conn.execute("INSERT INTO quota_state (api, scope, day_limit, day_start, day_reset) "
                     "VALUES ('merchant', 'account-123', 1000, '2026-01-01', ?), "
                     "('search-console', 'project', 200, '2025-12-31', ?)",
                     (reset, to_iso(now - timedelta(hours=1))))
        conn.execute("INSERT INTO quota_usage VALUES ('merchant', 'account-123', 'day', "
                     "'2026-01-01', 830), ('search-console', 'project', 'day', '2025-12-31', 199)")
        conn.execute("INSERT INTO alerts VALUES (1, 'k1', 'job_failed', 'critical', "
                     "'job 4 failed', '{}', ?), (2, 'k2', 'test', 'info', 'test', '{}', ?)",
                     (to_iso(now - timedelta(minutes=5)), to_iso(now)))
        conn.execute("INSERT INTO alert_deliveries (alert_id, channel, sent_at) VALUES "
                     "(1, 'email', NULL), (1, 'webhook', ?), (2, 'email', ?)",
                     (to_iso(now), to_iso(now)))
    status = sq.status_snapshot(c.store, config(), now, c.breakers)
    assert [q.to_json() for q in status.quotas] == [
        {"api": "merchant", "scope": "account-123", "period": "day", "used": 830,
         "limit": 1000, "ratio": 0.83, "counted_by": "ingestctl"},
        {"api": "search-console", "scope": "project", "period": "day", "used": 0,
         "limit": 200, "ratio": 0.0, "counted_by": "ingestctl"}]
    assert status.undelivered_alerts == 1
    assert [(a.id, a.delivery) for a in status.alerts or []] == [
        (2, "sent"), (1, "waiting (1/2 sent)")]
    health = snaps.health_snapshot(c.store, config(), now, c.breakers)
    assert [(q.api, q.ratio) for q in health.quotas] == [("merchant", 0.83),
                                                         ("search-console", 0.0)]
    assert health.undelivered_alerts == 1
    assert to_iso(health.oldest_undelivered_alert) == to_iso(now - timedelta(minutes=5))
    metrics = snaps.metrics_snapshot(c.store, now, c.breakers)
    assert metrics.api_quota_used_ratio == {("merchant", "account-123"): 0.83,
                                            ("search-console", "project"): 0.0}


PLANS = {
    "finished in window": ("SELECT source, status, count(*) FROM jobs WHERE finished_at >= ? "
                           "GROUP BY source, status", "COVERING INDEX jobs_finished"),
    "expired leases": ("SELECT count(*) FROM jobs WHERE status = 'processing' "
                       "AND lease_expires_at < ?", "INDEX jobs_processing"),
    "last failure": ("SELECT max(finished_at) FROM jobs WHERE import_id = ? "
                     "AND status = 'failed'", "INDEX jobs_import_status_finished"),
    "dead letters in window": ("SELECT count(*) FROM dead_letters WHERE active = 1 "
                               "AND updated_at >= ?", "INDEX dead_letters_active_updated"),
    "recent failures": ("SELECT a.job_id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                        "WHERE a.finished_at >= ? AND a.outcome IN ('failed', 'crashed') "
                        "ORDER BY a.finished_at DESC LIMIT ?", "INDEX attempts_finished"),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_queries_use_indexes(tmp_path: Path, name: str) -> None:
    c = standard(tmp_path / "home")
    sql, index = PLANS[name]
    plan = " | ".join(mon.explain(c.store, sql, [1] * sql.count("?")))
    assert index in plan, plan
    assert "SCAN jobs" not in plan and "SCAN dead_letters" not in plan, plan


def test_missed_slots_in_the_window_are_a_gauge_per_import(tmp_path: Path) -> None:
    from ingestctl.store import scheduling as sched_store

    c = standard(tmp_path / "home")
    now = c.clock.now()
    old, recent = now - timedelta(days=3), now - timedelta(hours=2)
    sched_store.record_outcomes(c.store, "shop", [(old, "missed", None),
                                                  (recent, "missed", None),
                                                  (recent - timedelta(hours=1), "coalesced",
                                                   None)], now)
    sched_store.record_outcomes(c.store, "feed", [(recent, "missed", None)], now)
    snap = snaps.metrics_snapshot(c.store, now, c.breakers)
    assert snap.schedule_missed_slots == {"shop": 1, "feed": 1}
    assert snaps.metrics_snapshot(c.store, now, c.breakers, window=7 * 86400
                                ).schedule_missed_slots == {"shop": 2, "feed": 1}
