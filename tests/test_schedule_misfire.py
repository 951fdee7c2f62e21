"""The missed-run ledger, driven by fixed clocks: run, missed, coalesced and pending slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from ingestctl.clock import FakeClock
from ingestctl.config import ImportConfig
from ingestctl.errors import ConfigError
from ingestctl.scheduler.misfire import (
    DEFAULT_COALESCE,
    DEFAULT_GRACE,
    SlotOutcome,
    SlotRecord,
    apscheduler_job_kwargs,
    catch_up,
    classify_slots,
    expected_slots,
    missed_groups,
)
from ingestctl.scheduler.spec import parse_schedule
from ingestctl.scheduler.trigger import CronScheduleTrigger

RUN, MISSED = SlotOutcome.RUN, SlotOutcome.MISSED
COALESCED, PENDING = SlotOutcome.COALESCED, SlotOutcome.PENDING
EVERY_15M = parse_schedule("every 15m", "UTC")
NIGHTLY = parse_schedule("0 2 * * *", "UTC")


def at(hour: int, minute: int = 0, second: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


def outcomes(records: list[SlotRecord]) -> list[tuple[datetime, SlotOutcome, datetime | None]]:
    return [(r.slot, r.outcome, r.run_at) for r in records]


def test_defaults_are_an_hour_of_grace_and_coalescing() -> None:
    assert DEFAULT_GRACE == 3600.0
    assert DEFAULT_COALESCE is True
    assert [o.value for o in SlotOutcome] == ["run", "missed", "coalesced", "pending"]


def test_expected_slots_are_half_open_and_in_utc() -> None:
    assert expected_slots(EVERY_15M, at(10), at(11)) == [at(10, 15), at(10, 30), at(10, 45),
                                                          at(11)]
    berlin = parse_schedule("30 2 * * *", "Europe/Berlin")
    slots = expected_slots(berlin, datetime(2026, 3, 28, tzinfo=UTC),
                           datetime(2026, 3, 30, 12, tzinfo=UTC))
    assert slots == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
                     datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                     datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]
    assert all(s.tzinfo is UTC for s in slots)
    every_30s = parse_schedule("every 30s", "UTC")
    assert expected_slots(every_30s, at(0), at(23), limit=2) == [at(22, 59, 30), at(23)]
    assert expected_slots(EVERY_15M, at(10), at(10)) == []


def test_runs_within_grace_are_run() -> None:
    clock = FakeClock(at(10, 40))
    runs = [at(10, 0, 2), at(10, 15, 1), at(10, 31, 0)]
    records = classify_slots(expected_slots(EVERY_15M, at(9, 50), clock.now()), runs,
                             clock.now())
    assert outcomes(records) == [(at(10), RUN, at(10, 0, 2)), (at(10, 15), RUN, at(10, 15, 1)),
                                 (at(10, 30), RUN, at(10, 31))]


def test_no_run_yet_is_pending_until_grace_passes_then_missed() -> None:
    clock = FakeClock(at(2, 30))
    slots = expected_slots(NIGHTLY, at(0), clock.now())
    assert outcomes(classify_slots(slots, [], clock.now())) == [(at(2), PENDING, None)]
    assert catch_up(classify_slots(slots, [], clock.now())) == [at(2)]
    clock.advance(1800)  # 03:00: exactly the grace time, still pending
    assert classify_slots(slots, [], clock.now())[0].outcome is PENDING
    clock.advance(1)
    records = classify_slots(slots, [], clock.now())
    assert outcomes(records) == [(at(2), MISSED, None)]
    assert [[r.slot for r in g] for g in missed_groups(records)] == [[at(2)]]


def test_a_late_run_after_grace_does_not_count() -> None:
    records = classify_slots([at(10)], [at(10, 25)], now=at(10, 30), grace=600)
    assert outcomes(records) == [(at(10), MISSED, None)]
    # Within a grace of 25 minutes exactly it does.
    records = classify_slots([at(10)], [at(10, 25)], now=at(10, 30), grace=1500)
    assert outcomes(records) == [(at(10), RUN, at(10, 25))]
    # A run before its slot belongs to an earlier one, not to this one.
    assert classify_slots([at(10)], [at(9, 59)], now=at(10, 30))[0].outcome is PENDING


def test_daemon_down_for_three_slots_within_grace_with_coalescing() -> None:
    # Down from 09:55 to 10:40; on restart one catch-up run, then the 10:45 run as usual.
    clock = FakeClock(at(10, 50))
    slots = expected_slots(EVERY_15M, at(9, 50), clock.now())
    runs = [at(10, 40), at(10, 45, 1)]
    records = classify_slots(slots, runs, clock.now(), coalesce=True)
    assert outcomes(records) == [(at(10), COALESCED, at(10, 40)),
                                 (at(10, 15), COALESCED, at(10, 40)),
                                 (at(10, 30), RUN, at(10, 40)),
                                 (at(10, 45), RUN, at(10, 45, 1))]
    assert missed_groups(records) == []


def test_daemon_down_for_three_slots_within_grace_without_coalescing() -> None:
    clock = FakeClock(at(10, 50))
    slots = expected_slots(EVERY_15M, at(9, 50), clock.now())
    runs = [at(10, 40), at(10, 45, 1)]
    records = classify_slots(slots, runs, clock.now(), coalesce=False)
    assert outcomes(records) == [(at(10), PENDING, None), (at(10, 15), PENDING, None),
                                 (at(10, 30), RUN, at(10, 40)),
                                 (at(10, 45), RUN, at(10, 45, 1))]
    assert catch_up(records, coalesce=False) == [at(10), at(10, 15)]
    # Two more catch-up runs serve them; nothing is missed.
    records = classify_slots(slots, [*runs, at(10, 46), at(10, 47)], clock.now(),
                             coalesce=False)
    assert [r.outcome for r in records] == [RUN, RUN, RUN, RUN]
    # Without them, once the grace time passes, each is its own missed alert.
    clock.advance(3600)
    records = classify_slots(slots, runs, clock.now(), coalesce=False)
    assert [r.outcome for r in records] == [MISSED, MISSED, RUN, RUN]
    assert [[r.slot for r in g] for g in missed_groups(records, coalesce=False)] == [
        [at(10)], [at(10, 15)]]


def test_nightly_import_with_the_daemon_down_three_nights() -> None:
    # Down from the 2nd to 02:30 on the 5th; the catch-up run at 02:30 covers the 5th only.
    clock = FakeClock(at(12))
    slots = expected_slots(NIGHTLY, at(12, day=2), clock.now())
    assert slots == [at(2, day=3), at(2, day=4), at(2, day=5)]
    records = classify_slots(slots, [at(2, 30)], clock.now())
    assert outcomes(records) == [(at(2, day=3), MISSED, None), (at(2, day=4), MISSED, None),
                                 (at(2), RUN, at(2, 30))]
    groups = missed_groups(records)
    assert [[r.slot for r in g] for g in groups] == [[at(2, day=3), at(2, day=4)]]  # one alert
    assert len(missed_groups(records, coalesce=False)) == 2
    no_coalesce = classify_slots(slots, [at(2, 30)], clock.now(), coalesce=False)
    assert [r.outcome for r in no_coalesce] == [MISSED, MISSED, RUN]


def test_long_outage_mixes_missed_and_coalesced() -> None:
    clock = FakeClock(at(12, 20))
    slots = expected_slots(EVERY_15M, at(9, 50), clock.now())
    records = classify_slots(slots, [at(12, 10), at(12, 15, 2)], clock.now())
    by_outcome = {o: [r.slot for r in records if r.outcome is o] for o in SlotOutcome}
    assert by_outcome[MISSED] == [at(10), at(10, 15), at(10, 30), at(10, 45), at(11)]
    assert by_outcome[COALESCED] == [at(11, 15), at(11, 30), at(11, 45)]
    assert by_outcome[RUN] == [at(12), at(12, 15)]
    assert by_outcome[PENDING] == []
    assert len(missed_groups(records)) == 1


def test_runs_attributed_by_the_scheduler() -> None:
    # APScheduler reports the scheduled time of a coalesced run: the latest missed slot.
    slots = [at(10), at(10, 15), at(10, 30)]
    records = classify_slots(slots, {at(10, 30): at(10, 40), at(9, 0): at(9, 0)}, now=at(10, 50))
    assert outcomes(records) == [(at(10), COALESCED, at(10, 40)),
                                 (at(10, 15), COALESCED, at(10, 40)),
                                 (at(10, 30), RUN, at(10, 40))]


def test_aware_times_in_other_zones_compare_as_instants() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    records = classify_slots([at(10).astimezone(tokyo)], [at(10, 0, 30).astimezone(tokyo)],
                             now=at(10, 5).astimezone(tokyo))
    assert records[0].outcome is RUN
    assert records[0].run_at == at(10, 0, 30)


def make_import(**overrides: object) -> ImportConfig:
    values: dict[str, object] = {"name": "shop", "url": "https://shop.example/sitemap.xml",
                                 "schedule": "0 2 * * 1-5", "timezone": "Europe/Berlin",
                                 "jitter": 30.0}
    values.update(overrides)
    return ImportConfig(**values)  # type: ignore[arg-type]


def test_apscheduler_job_kwargs() -> None:
    kwargs = apscheduler_job_kwargs(make_import())
    trigger = kwargs.pop("trigger")
    assert isinstance(trigger, CronScheduleTrigger)
    assert trigger.jitter == 30.0
    assert kwargs == {"id": "shop", "name": "shop", "misfire_grace_time": 3600,
                      "coalesce": True, "max_instances": 1, "replace_existing": True}
    assert apscheduler_job_kwargs(make_import(misfire_grace=0.2, coalesce=False))[
        "misfire_grace_time"] == 1
    assert apscheduler_job_kwargs(make_import(coalesce=False))["coalesce"] is False


def test_apscheduler_takes_the_kwargs_and_replaces_the_job() -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        scheduler.add_job(print, args=["shop"], **apscheduler_job_kwargs(make_import()))
        job = scheduler.add_job(print, args=["shop"],
                                **apscheduler_job_kwargs(make_import(schedule="every 15m")))
        assert [j.id for j in scheduler.get_jobs()] == ["shop"]
        assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (3600, True, 1)
        base = job.next_run_time.replace(second=0, microsecond=0)
        assert base.minute % 15 == 0  # a 15-minute slot, plus up to 30 s of jitter
        assert job.next_run_time - base <= timedelta(seconds=30)
    finally:
        scheduler.shutdown(wait=False)


def test_apscheduler_job_kwargs_reports_bad_schedules() -> None:
    with pytest.raises(ConfigError) as caught:
        apscheduler_job_kwargs(make_import(schedule="every 7x"), path="ingestctl.toml",
                               key="imports[2]")
    assert str(caught.value) == ('config error: ingestctl.toml: imports[2].schedule: schedule '
                                 '"every 7x": unknown unit "x" (expected s, m, h, d or w)')


def test_grace_boundaries_are_inclusive() -> None:
    slot = at(10)
    assert classify_slots([slot], [slot], now=slot)[0].outcome is RUN
    assert classify_slots([slot], [slot + timedelta(hours=1)], now=at(12))[0].outcome is RUN
    late = slot + timedelta(hours=1, microseconds=1)
    assert classify_slots([slot], [late], now=at(12))[0].outcome is MISSED
