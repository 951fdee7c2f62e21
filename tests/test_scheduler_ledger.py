"""The scheduler's missed-run ledger driven by an injected clock, one step at a time.

The daemon runs without APScheduler and with work inline: the test fires slots by hand (as
APScheduler would) and calls ``step(now)``; imports are real sitemap imports of a local file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config, ImportConfig
from ingestctl.errors import TransientError
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import JobSpec
from ingestctl.paths import Home
from ingestctl.scheduler.daemon import SchedulerDaemon
from ingestctl.scheduler.lock import SchedulerAlreadyRunning
from tests.sites import urlset


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, 5, hour, minute, second, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return to_iso(moment) or ""


def shown(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sitemap(tmp_path: Path) -> Path:
    path = tmp_path / "sitemap.xml"
    path.write_bytes(urlset([f"https://shop.example/p{i}" for i in range(5)]))
    return path


class Harness:
    """A daemon on a fake clock with its events recorded."""

    def __init__(self, root: Path, config: Config, clock: FakeClock) -> None:
        self.home = Home(root)
        self.config = config
        self.clock = clock
        self.events: list[Event] = []
        self.daemons: list[SchedulerDaemon] = []

    def start(self) -> SchedulerDaemon:
        bus = EventBus()
        bus.subscribe(self.events.append, [EventKind.SCHEDULE_MISSED])
        daemon = SchedulerDaemon(self.home, self.config, bus, clock=self.clock,
                                 submit=lambda work: work(), hooks=())
        daemon.start(apscheduler=False)
        self.daemons.append(daemon)
        return daemon

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.home.database) as conn:
            return conn.execute(sql).fetchall()

    def ledger(self) -> list[tuple[object, ...]]:
        return self.rows("SELECT import_name, slot_at, outcome, run_at, job_id "
                         "FROM schedule_slots ORDER BY import_name, slot_at")

    def missed(self) -> list[tuple[str | None, list[str]]]:
        """(import, slots) of each schedule_missed event, slots as ``iso_out`` shows them."""
        return [(e.import_key, e.data["slots"]) for e in self.events]


def config_for(sitemap: Path, **overrides: object) -> Config:
    values: dict[str, object] = {"name": "shop", "url": str(sitemap), "schedule": "every 15m",
                                 "misfire_grace": 600.0}
    values.update(overrides)
    return Config(imports=[ImportConfig(**values)])  # type: ignore[arg-type]


@pytest.fixture
def harness(tmp_path: Path, sitemap: Path) -> Iterator[Harness]:
    h = Harness(tmp_path / "home", config_for(sitemap), FakeClock(at(10, 7)))
    yield h
    for daemon in h.daemons:
        if daemon.store is not None:
            daemon.close()


def test_runs_misses_and_catch_up_after_a_restart(harness: Harness) -> None:
    daemon = harness.start()
    daemon.step(harness.clock.now())  # first start ever: the ledger starts now, no backfill
    assert harness.ledger() == []

    harness.clock.current = at(10, 15, 2)  # APScheduler fires the 10:15 slot
    assert daemon.fire("shop") is True
    assert harness.ledger() == [("shop", iso(at(10, 15)), "run", iso(at(10, 15, 2)), 1)]
    assert harness.rows("SELECT id, status, items FROM jobs") == [(1, "completed", 5)]

    harness.clock.current = at(10, 31)  # 10:30 did not fire; still within its 10 min grace
    report = daemon.step(harness.clock.now())
    assert (report.fired, report.missed) == ([], {})  # not caught up: only on start
    assert len(harness.ledger()) == 1

    harness.clock.current = at(10, 50)
    report = daemon.step(harness.clock.now())
    assert report.missed == {"shop": [[at(10, 30)]]}
    assert harness.ledger()[1:] == [("shop", iso(at(10, 30)), "missed", None, None)]
    assert harness.missed() == [("shop", [shown(at(10, 30))])]
    event = harness.events[0]
    assert (event.kind, event.at, event.job_id, event.import_key) == (
        EventKind.SCHEDULE_MISSED, at(10, 50), None, "shop")
    assert event.data == {
        "import": "shop", "slot": "2026-01-05T10:30:00Z", "last_run_at": "2026-01-05T10:15:02Z",
        "count": 1, "slots": ["2026-01-05T10:30:00Z"], "first_slot": "2026-01-05T10:30:00Z",
        "last_slot": "2026-01-05T10:30:00Z", "misfire_grace": 600.0, "coalesce": True,
        "schedule": "every 15m (UTC)", "source": "sitemap"}
    harness.clock.current = at(10, 52)
    daemon.step(harness.clock.now())
    assert len(harness.events) == 1  # each miss is reported once
    daemon.close()

    # Down from 10:52 to 12:05: 10:45 to 11:45 are missed (one alert, coalescing), 12:00 is
    # still within its grace and is caught up at once.
    harness.clock.current = at(12, 5)
    again = harness.start()
    report = again.step(harness.clock.now())
    assert report.fired == [("shop", at(12))]
    assert report.missed == {"shop": [[at(10, 45), at(11), at(11, 15), at(11, 30),
                                       at(11, 45)]]}
    assert harness.missed()[1] == ("shop", [shown(at(10, 45)), shown(at(11)),
                                            shown(at(11, 15)), shown(at(11, 30)),
                                            shown(at(11, 45))])
    assert harness.events[1].data["slot"] == "2026-01-05T11:45:00Z"
    assert harness.events[1].data["last_run_at"] == "2026-01-05T10:15:02Z"
    assert harness.ledger()[-1] == ("shop", iso(at(12)), "run", iso(at(12, 5)), 2)
    assert harness.rows("SELECT outcome, count(*) FROM schedule_slots GROUP BY outcome "
                        "ORDER BY outcome") == [("missed", 6), ("run", 2)]
    assert harness.rows("SELECT id, status FROM jobs ORDER BY id") == [
        (1, "completed"), (2, "completed")]

    harness.clock.current = at(12, 20)
    assert again.step(harness.clock.now()).missed == {}  # 12:00 ran; 12:15 pending
    assert len(harness.events) == 2


def test_without_coalescing_each_miss_is_its_own_alert(tmp_path: Path, sitemap: Path) -> None:
    h = Harness(tmp_path / "home", config_for(sitemap, coalesce=False), FakeClock(at(10, 7)))
    daemon = h.start()
    daemon.step(h.clock.now())
    h.clock.current = at(11, 5)  # 11:00 is still within its grace
    report = daemon.step(h.clock.now())
    assert report.missed == {"shop": [[at(10, 15)], [at(10, 30)], [at(10, 45)]]}
    assert [slots for _, slots in h.missed()] == [[shown(at(10, 15))], [shown(at(10, 30))],
                                                   [shown(at(10, 45))]]
    daemon.close()


def test_a_later_run_within_grace_coalesces_the_earlier_slot(tmp_path: Path,
                                                              sitemap: Path) -> None:
    harness = Harness(tmp_path / "home", config_for(sitemap, misfire_grace=1800.0),
                      FakeClock(at(10, 7)))
    daemon = harness.start()
    daemon.step(harness.clock.now())
    # The 10:15 fire was lost; 10:30 ran 3 minutes late, within 30 minutes of both.
    harness.clock.current = at(10, 33)
    assert daemon.fire("shop") is True
    harness.clock.current = at(10, 40)
    daemon.step(harness.clock.now())
    assert harness.ledger() == [
        ("shop", iso(at(10, 15)), "coalesced", iso(at(10, 33)), None),
        ("shop", iso(at(10, 30)), "run", iso(at(10, 33)), 1)]
    assert harness.events == []
    daemon.close()


def test_a_slot_that_fires_while_the_import_runs_elsewhere_is_skipped(harness: Harness) -> None:
    daemon = harness.start()
    daemon.step(harness.clock.now())
    store = daemon.store
    assert store is not None
    # `ingestctl run shop` on another host holds the import (its lease runs to 10:16).
    harness.clock.current = at(10, 15)
    other = JobQueue(store, harness.config.jobs, harness.clock, EventBus(), "otherhost:1:1")
    job, _ = other.submit(JobSpec("sitemap", harness.config.imports[0].url, "shop"))
    assert other.claim(job.id) is not None
    harness.clock.current = at(10, 15, 1)
    assert daemon.fire("shop") is True
    assert harness.ledger() == [("shop", iso(at(10, 15)), "skipped", iso(at(10, 15, 1)), 1)]
    assert daemon.fire("shop") is False  # already fired for this slot
    harness.clock.current = at(10, 15, 30)
    assert daemon.step(harness.clock.now()).missed == {}
    assert harness.rows("SELECT status, lease_owner FROM jobs") == [
        ("processing", "otherhost:1:1")]
    harness.clock.current = at(10, 28)  # its grace passed: skipped is served, not missed
    assert daemon.step(harness.clock.now()).missed == {}  # (and the lease expired: recovered)
    assert [row[2] for row in harness.ledger()] == ["skipped"]


def test_one_scheduler_per_home(harness: Harness) -> None:
    first = harness.start()
    with pytest.raises(SchedulerAlreadyRunning) as caught:
        harness.start()
    assert str(caught.value).startswith(f"a scheduler is already running for "
                                        f"{harness.home.root} (pid ")
    assert caught.value.exit_code == 75
    first.close()
    harness.start()  # released: the next one may start


def test_heartbeat_is_written_on_each_step(harness: Harness) -> None:
    daemon = harness.start()
    daemon.step(at(10, 8))
    daemon.step(at(10, 9))
    assert harness.rows("SELECT key, value, updated_at FROM scheduler_state "
                        "WHERE key = 'heartbeat'") == [("heartbeat", iso(at(10, 9)),
                                                        iso(at(10, 9)))]


def test_hooks_run_each_step_and_a_failing_one_is_logged(tmp_path: Path, sitemap: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[datetime] = []

    def broken(store: object, config: object, now: datetime) -> None:
        raise RuntimeError("outbox table missing")

    def flush(store: object, config: object, now: datetime) -> None:
        calls.append(now)

    daemon = SchedulerDaemon(Home(tmp_path / "home"), config_for(sitemap), EventBus(),
                             clock=FakeClock(at(10)), submit=lambda work: work(),
                             hooks=(broken, flush))
    daemon.start(apscheduler=False)
    try:
        daemon.step(at(10))
        daemon.step(at(10, 0, 5))
    finally:
        daemon.close()
    assert calls == [at(10), at(10, 0, 5)]
    assert [r.getMessage() for r in caplog.records if "broken" in r.getMessage()] == [
        "scheduler broken failed: RuntimeError: outbox table missing"] * 2


def test_due_retries_run_in_the_step(harness: Harness) -> None:
    daemon = harness.start()
    store = daemon.store
    assert store is not None
    other = JobQueue(store, harness.config.jobs, harness.clock, EventBus(), "otherhost:1:1")
    job, _ = other.submit(JobSpec("sitemap", harness.config.imports[0].url, "adhoc"))
    claimed = other.claim(job.id)
    assert claimed is not None
    other.fail(claimed, TransientError("HTTP 503"), None, AttemptReport())  # retry in 5 s
    assert daemon.step(at(10, 7, 4)).dispatched == []
    harness.clock.current = at(10, 7, 6)
    assert daemon.step(harness.clock.now()).dispatched == [job.id]
    assert harness.rows("SELECT status, attempts, items FROM jobs") == [("completed", 2, 5)]
    assert daemon.step(at(10, 7, 7)).dispatched == []


def test_the_alert_outbox_is_flushed_each_step(
        tmp_path: Path, sitemap: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[object, object]] = []
    flushed: list[int] = []

    class Alerting:
        def __init__(self, store: object, config: object, clock: object) -> None:
            built.append((store, config))

        def flush(self) -> None:
            flushed.append(len(built))

    monkeypatch.setattr("ingestctl.scheduler.hooks.Alerting", Alerting)
    first, second = config_for(sitemap), config_for(sitemap)
    configs = iter([second])
    daemon = SchedulerDaemon(Home(tmp_path / "home"), first, EventBus(), clock=FakeClock(at(10)),
                             submit=lambda work: work(), config_loader=lambda: next(configs))
    daemon.start(apscheduler=False)
    try:
        daemon.step(at(10))
        daemon.step(at(10, 0, 5))
        assert daemon.reload() is True
        daemon.step(at(10, 0, 10))
    finally:
        daemon.close()
    assert flushed == [1, 1, 2]  # one Alerting per config; rebuilt after the reload
    assert [config for _, config in built] == [first, second]


def test_a_missed_slot_shows_in_health_and_status_with_the_next_run(harness: Harness) -> None:
    from ingestctl.monitoring import snapshots as sq
    from ingestctl.monitoring.health.evaluate import run_checks
    from ingestctl.store import Store

    daemon = harness.start()
    daemon.step(harness.clock.now())
    harness.clock.current = at(10, 50)  # 10:15 and 10:30 passed their grace without a run
    daemon.step(harness.clock.now())
    now = harness.clock.now()
    with Store(harness.home.database) as store:
        snap = sq.health_snapshot(store, harness.config, now, harness.home.breakers)
        [check] = [r for r in run_checks(snap, harness.config.health, now)
                   if r.key == "schedules:missed"]
        status = sq.status_snapshot(store, harness.config, now, harness.home.breakers)
    assert (check.status.name, check.observed_value, check.output) == (
        "WARNING", 2, "2 scheduled runs missed in the last 1d; latest: shop at "
        "2026-01-05T10:30:00Z")
    [row] = status.schedules
    assert (row.name, row.missed, row.next_run) == ("shop", 2, at(11))
    assert row.to_json()["missed"] == 2
    daemon.close()
