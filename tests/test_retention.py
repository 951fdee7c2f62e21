"""`ingestctl prune` on a store with a year of history, and the scheduler's daily prune."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestctl.alerts.render import breaker_closed_alert
from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config, JobsConfig
from ingestctl.config_file import load_config
from ingestctl.errors import DataError
from ingestctl.events import EventBus
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.queue import JobQueue
from ingestctl.jobs.retention import RetentionHook
from ingestctl.models.jobs import JobSpec
from ingestctl.monitoring.snapshots import health_snapshot, metrics_snapshot, status_snapshot
from ingestctl.store import Store
from ingestctl.store import scheduling as sched_store
from ingestctl.store.alerts import DatabaseOutboxStore
from ingestctl.store.database import PAGE_SIZE

from .cli import invoke, rows, run_cli
from .monitoring_helpers import crafted

SHOP = JobSpec("sitemap", "https://shop.example/sitemap.xml", "shop")
FEED = JobSpec("merchant", "123", "feed")
RETIRED = JobSpec("sitemap", "https://old.example/sitemap.xml", "retired")
DAY = 86400.0
CONFIG = """
[[imports]]
name = "shop"
url = "https://shop.example/sitemap.xml"
schedule = "0 2 * * *"
[[imports]]
name = "feed"
source = "merchant"
account = "123"
"""


@dataclass
class Year:
    """A store with 365 days of history, and what the test knows about it."""

    home: Path
    now: datetime
    config: Config
    finished: list[tuple[int, str, datetime]] = field(default_factory=list)  # id, import, at
    active_letters: set[int] = field(default_factory=set)  # job ids
    undelivered_alert: int = 0


def year_of_history(home: Path, tmp_path: Path) -> Year:
    """shop: a run a day, failed every 30th day (requeued and completed again every 60th);
    feed: a run a day; retired: three runs a year ago, then nothing. Alerts weekly (all sent
    but one), a ledger row a day for shop, a job cursor on an old feed job."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=366)
    c = crafted(home, start)
    outbox = DatabaseOutboxStore(c.store)
    year = Year(home, start, load_config(_config(tmp_path)))

    def finish(job_id: int, name: str) -> None:
        year.finished.append((job_id, name, c.clock.now()))

    for spec, error in ((RETIRED, None), (RETIRED, DataError("gone")), (RETIRED, None)):
        job = c.run(spec, 5, error=error, items=3)
        finish(job.id, "retired")
    with c.store.write() as conn:  # its dead letter was purged (`dlq purge`)
        conn.execute("DELETE FROM dead_letters WHERE job_id = ?", (year.finished[1][0],))
    # A year-old failure nobody has looked at: its dead letter is still active.
    job = c.run(JobSpec("sitemap", "https://x.example/s.xml", "x"), 1, error=DataError("bad"))
    finish(job.id, "x")
    year.active_letters.add(job.id)
    for day in range(365):
        c.clock.current = start + timedelta(days=day, hours=2)
        failed = day % 30 == 29
        job = c.run(SHOP, 10, error=DataError("bad XML") if failed else None, items=day)
        finish(job.id, "shop")
        if failed and day % 60 == 59:
            c.queue.requeue(job.id)
            claimed = c.queue.claim(job.id)
            assert claimed is not None
            c.queue.complete(claimed, AttemptReport(items=1, job_items=1))
        elif failed:
            year.active_letters.add(job.id)
        sched_store.record_run(c.store, "shop", c.clock.now(), c.clock.now(), "run", job.id,
                               c.clock.now())
        c.clock.advance(600)
        finish(c.run(FEED, 20, items=5).id, "feed")
        if day % 7 == 0:
            alert_id = outbox.add(breaker_closed_alert(f"k{day % 3}", "host1",
                                                       now=c.clock.now()), ["email"],
                                  c.clock.now())
            if day == 14:
                year.undelivered_alert = alert_id  # a channel down since: never pruned
            else:
                outbox.mark_sent(alert_id, "email", c.clock.now())
    with c.store.write() as conn:
        conn.execute("INSERT INTO job_cursors (job_id, cursor, updated_at) VALUES (?, ?, ?)",
                     (year.finished[10][0], "{}", to_iso(start)))
    year.now = c.clock.now() + timedelta(hours=1)
    c.store.close()
    return year


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(CONFIG)
    return path


def _snapshots(home: Path, config: Config, now: datetime, kept_from: datetime
               ) -> tuple[object, ...]:
    """What health, status and metrics read at ``now``; status's alert list (the newest
    alerts, whatever their age) is cut to the kept window."""
    store = Store(home / "ingestctl.db")
    try:
        breakers = home / "breakers.json"
        status = status_snapshot(store, config, now, breakers)
        status.alerts = [a for a in status.alerts if a.created_at >= kept_from]
        # Free disk space is no history: it changes with every write on the disk.
        health = replace(health_snapshot(store, config, now, breakers), database_free_bytes=None)
        return (health, status,
                metrics_snapshot(store, now, breakers),
                rows(home, "SELECT * FROM job_stats ORDER BY 1, 2, 3"),
                rows(home, "SELECT * FROM monitor_counts"),
                rows(home, "SELECT * FROM counters ORDER BY 1, 2"))
    finally:
        store.close()


def _count(home: Path, table: str) -> int:
    return int(rows(home, f"SELECT count(*) FROM {table}")[0][0])


@pytest.fixture(scope="module")
def year_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Year]:
    """Built once (it takes a few seconds); each test prunes a copy."""
    base = tmp_path_factory.mktemp("year")
    return base, year_of_history(base / "home", base)


def _copy(year: Year, tmp_path: Path) -> Year:
    home = tmp_path / "home"
    home.mkdir()
    source = sqlite3.connect(year.home / "ingestctl.db")
    target = sqlite3.connect(home / "ingestctl.db")
    source.backup(target)
    source.close()
    target.close()
    return Year(home, year.now, year.config, year.finished, year.active_letters,
                year.undelivered_alert)


def test_prune_on_a_year_of_history(year_store: tuple[Path, Year], tmp_path: Path) -> None:
    year = _copy(year_store[1], tmp_path)
    home = year.home
    before = {t: _count(home, t) for t in ("jobs", "attempts", "dead_letters", "alerts",
                                           "alert_deliveries", "schedule_slots",
                                           "job_cursors")}
    triggers = rows(home, "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1")
    cutoff = datetime.now(UTC) - timedelta(days=90)
    snaps = _snapshots(home, year.config, year.now, cutoff)
    # Kept whatever their age: jobs with an active dead letter and, per import, the newest
    # job, the newest success and the newest failure (retired: its 3rd, 3rd and 2nd job).
    retired = [job_id for job_id, name, _ in year.finished if name == "retired"]
    kept = year.active_letters | {retired[1], retired[2]}
    old = [job_id for job_id, _, at in year.finished if at < cutoff and job_id not in kept]
    old_attempts = rows(home, "SELECT count(*) FROM attempts WHERE job_id IN "
                              f"({','.join(map(str, old))})")[0][0]

    dry = run_cli(home, "--config", str(_config(tmp_path)), "prune", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    would = json.loads(dry.stdout)
    assert would["dry_run"] is True and would["space"] is None
    assert would["removed"]["jobs"] == len(old)
    assert _count(home, "jobs") == before["jobs"]  # nothing deleted

    proc = run_cli(home, "--config", str(_config(tmp_path)), "prune", "--older-than", "90d")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("prune: history older than 90d (before ")
    removed = {line.split()[0]: int(line.split()[1]) for line in lines[1:8]}
    assert removed == would["removed"]
    assert removed["jobs"] == len(old) > 500
    assert lines[0].endswith(f"removed {sum(removed.values())} row(s)")
    assert lines[8].startswith("space: ") and "given back to the file system" in lines[8]
    after = {t: _count(home, t) for t in before}
    assert {t: before[t] - after[t] for t in before} == removed
    # Every attempt left belongs to a job left; shop failed 12 times, 6 were requeued.
    assert rows(home, "SELECT count(*) FROM attempts WHERE job_id NOT IN "
                      "(SELECT id FROM jobs)") == [(0,)]
    assert removed["attempts"] == old_attempts > len(old)  # requeued jobs had two
    assert rows(home, "SELECT count(*) FROM dead_letters WHERE active = 1") == \
        [(len(year.active_letters),)]
    assert rows(home, "SELECT value FROM monitor_counts WHERE name = 'dead_letters_active'") \
        == [(len(year.active_letters),)]
    # shop's requeued failures of days 59, 119, 179 and 239 (299 and 359 are younger)
    assert removed["dead_letters"] == 4
    assert [r[0] for r in rows(home, "SELECT id FROM jobs WHERE import_key = 'retired' "
                                     "ORDER BY id")] == retired[1:]
    assert rows(home, f"SELECT count(*) FROM alerts WHERE id = {year.undelivered_alert}") == \
        [(1,)]
    older = rows(home, "SELECT id FROM jobs WHERE import_key IN ('shop', 'feed') AND "
                       f"finished_at < '{to_iso(cutoff)}' ORDER BY id")
    assert [r[0] for r in older] == sorted(
        job_id for job_id, name, at in year.finished
        if name == "shop" and at < cutoff and job_id in year.active_letters)
    assert removed["job_cursors"] == 1 and removed["schedule_slots"] > 250
    # Triggers and counters are untouched, and the read models see the same store.
    assert rows(home, "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY 1") == \
        triggers
    assert _snapshots(home, year.config, year.now, cutoff) == snaps

    # Triggers still count: a failure after the prune reaches job_stats and the dead letters.
    with Store(home / "ingestctl.db") as store:
        queue = JobQueue(store, JobsConfig(max_attempts=1), FakeClock(datetime.now(UTC)),
                         EventBus(), owner="t:1")
        job, _ = queue.submit(FEED)
        claimed = queue.claim(job.id)
        assert claimed is not None
        queue.fail(claimed, DataError("after the prune"), None, AttemptReport())
    assert rows(home, "SELECT value FROM monitor_counts") == [(len(year.active_letters) + 1,)]
    assert rows(home, "SELECT sum(jobs) FROM job_stats WHERE source = 'merchant' AND "
                      "status = 'failed'") == [(1,)]

    again = run_cli(home, "prune", "--older-than", "90d", "--json")
    assert json.loads(again.stdout)["removed"] == dict.fromkeys(removed, 0)


def test_prune_refuses_a_limit_shorter_than_the_health_window(home: Path) -> None:
    result = invoke("prune", "--older-than", "12h")
    assert result.exit_code == 2
    assert result.stderr == ("ingestctl: error: --older-than 12h is shorter than 1d (a day, "
                             "or [health] window when longer): health, status and metrics "
                             "read that window; pass a longer limit such as 90d\n")
    bad = invoke("prune", "--older-than", "soon")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("ingestctl: error: --older-than 'soon': expected a duration")


def test_a_bad_retention_config_is_a_config_error(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[health]\nwindow = "7d"\n[retention]\nolder_than = "3d"\n')
    result = invoke("--config", str(path), "config", "check")
    assert result.exit_code == 78
    assert result.stderr == (f"ingestctl: error: config error: {path}: retention.older_than: "
                             "found 3d: 3d is shorter than 7d (a day, or [health] window when "
                             "longer): health, status and metrics read that window\n")
    path.write_text('[retention]\nschedule = "at noon"\n')
    result = invoke("--config", str(path), "config", "check")
    assert result.exit_code == 78
    assert "retention.schedule: schedule \"at noon\"" in result.stderr


def test_a_store_without_incremental_vacuum_says_so_and_vacuum_converts_it(
        home: Path) -> None:
    home.mkdir()
    legacy = sqlite3.connect(home / "ingestctl.db")  # made the way older ingestctl did
    legacy.execute("PRAGMA journal_mode = WAL")
    legacy.close()
    clock = FakeClock(datetime.now(UTC) - timedelta(days=200))
    c = crafted(home, clock.now())
    for _ in range(300):
        c.run(SHOP, 1, items=1)
        c.clock.advance(3600)
    c.store.close()
    assert rows(home, "PRAGMA auto_vacuum") == [(0,)]
    result = invoke("prune")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("space: ")
    assert "created without incremental vacuum; `ingestctl prune --vacuum` rewrites it once" \
        in result.stdout
    converted = invoke("prune", "--vacuum", "--json")
    assert converted.exit_code == 0, converted.stderr
    space = json.loads(converted.stdout)["space"]
    assert space["auto_vacuum"] == "incremental" and space["free_pages_after"] == 0
    assert rows(home, "PRAGMA auto_vacuum") == [(2,)]


def test_new_stores_vacuum_incrementally(home: Path) -> None:
    Store(home / "ingestctl.db").close()
    assert rows(home, "PRAGMA auto_vacuum") == [(2,)]
    assert rows(home, "PRAGMA journal_mode") == [("wal",)]
    assert rows(home, "PRAGMA page_size") == [(PAGE_SIZE,)]


def test_the_scheduler_prunes_once_per_slot(home: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = crafted(home, start)
    for _ in range(3):
        c.run(SHOP, 1, items=1)
    config = load_config(None)
    config.retention.schedule = "every 1d"
    hook = RetentionHook()
    now = start + timedelta(days=100)
    hook(c.store, config, now)
    assert rows(home, "SELECT id FROM jobs") == [(3,)]  # the newest job is kept
    c.clock.current = now
    c.run(SHOP, 1, items=1)
    hook(c.store, config, now + timedelta(hours=1))
    assert rows(home, "SELECT id FROM jobs") == [(3,), (4,)]  # same slot: no second prune
    hook(c.store, config, now + timedelta(days=1))
    assert rows(home, "SELECT id FROM jobs") == [(4,)]
    config.retention.enabled = False
    c.clock.current = now + timedelta(days=200)
    c.run(SHOP, 1, items=1)
    hook(c.store, config, now + timedelta(days=300))
    assert rows(home, "SELECT id FROM jobs") == [(4,), (5,)]


def test_schedule_crontab_offers_the_prune_line(home: Path, tmp_path: Path) -> None:
    path = _config(tmp_path)
    result = invoke("--config", str(path), "schedule", "crontab")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    prune_line = next(line for line in lines if line.endswith(" prune"))
    assert prune_line.startswith("30 3 * * * ") and " -q " in prune_line
    assert f"--config {path}" in prune_line
    assert lines[lines.index(prune_line) - 1].startswith("# prune (retention): ")
    path.write_text(CONFIG + "[retention]\nenabled = false\n")
    assert "prune" not in invoke("--config", str(path), "schedule", "crontab").stdout


def test_small_batches_delete_the_same_rows(year_store: tuple[Path, Year],
                                            tmp_path: Path) -> None:
    from ingestctl.store import retention as retention_store

    year = _copy(year_store[1], tmp_path)
    cutoff = to_iso(datetime.now(UTC) - timedelta(days=90)) or ""
    with Store(year.home / "ingestctl.db") as store:
        expected = retention_store.count_old(store, cutoff)
        calls: list[int] = []
        removed = retention_store.delete_old(store, cutoff, batch=37,
                                             between_batches=lambda: calls.append(1))
        assert removed == expected and removed.jobs > 500
        assert len(calls) == removed.jobs // 37 + 1  # every batch, and the short last one
        assert retention_store.count_old(store, cutoff).total == 0
