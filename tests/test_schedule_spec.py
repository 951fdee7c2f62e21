"""Schedule parsing: cron translation (Vixie semantics), intervals, time zones and errors."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ingestctl.errors import EXIT_CONFIG, ConfigError, ErrorClass
from ingestctl.scheduler.spec import ScheduleKind, parse_schedule
from ingestctl.scheduler.trigger import CronScheduleTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def days(text: str, n: int = 5, after: datetime = NEW_YEAR) -> list[date]:
    """The dates of the next ``n`` runs of a 09:00 UTC schedule."""
    runs = parse_schedule(text, "UTC").next_runs(after, n)
    assert all((r.hour, r.minute) == (9, 0) for r in runs)
    return [r.date() for r in runs]


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


# January 2026: Thu 1, Fri 2, Sat 3, Sun 4, Mon 5, Tue 6, Wed 7, Thu 8, Fri 9, Sat 10, Sun 11.
@pytest.mark.parametrize(("dow", "expected"), [
    ("0", [d(1, 4), d(1, 11), d(1, 18), d(1, 25), d(2, 1)]),
    ("7", [d(1, 4), d(1, 11), d(1, 18), d(1, 25), d(2, 1)]),
    ("sun", [d(1, 4), d(1, 11), d(1, 18), d(1, 25), d(2, 1)]),
    ("1", [d(1, 5), d(1, 12), d(1, 19), d(1, 26), d(2, 2)]),
    ("1-5", [d(1, 1), d(1, 2), d(1, 5), d(1, 6), d(1, 7)]),
    ("mon-fri", [d(1, 1), d(1, 2), d(1, 5), d(1, 6), d(1, 7)]),
    ("0,6", [d(1, 3), d(1, 4), d(1, 10), d(1, 11), d(1, 17)]),
    ("SAT,Sun", [d(1, 3), d(1, 4), d(1, 10), d(1, 11), d(1, 17)]),
    ("5-7", [d(1, 2), d(1, 3), d(1, 4), d(1, 9), d(1, 10)]),
    ("*/2", [d(1, 1), d(1, 3), d(1, 4), d(1, 6), d(1, 8)]),  # Sun, Tue, Thu, Sat
    ("1-7/2", [d(1, 2), d(1, 4), d(1, 5), d(1, 7), d(1, 9)]),  # Mon, Wed, Fri, Sun
])
def test_day_of_week_means_what_cron_means(dow: str, expected: list[date]) -> None:
    assert days(f"0 9 * * {dow}") == expected


def test_apscheduler_alone_would_shift_day_of_week_by_one() -> None:
    # Why we translate: APScheduler 3 reads "1-5" as Tuesday to Saturday.
    bare = CronTrigger.from_crontab("0 9 * * 1-5", timezone="UTC")
    first = bare.get_next_fire_time(None, datetime(2026, 1, 3, tzinfo=UTC))  # a Saturday
    assert first.date() == d(1, 3)
    assert days("0 9 * * 1-5", 1, after=datetime(2026, 1, 3, tzinfo=UTC)) == [d(1, 5)]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 1st (a Thursday) and every Monday.
    assert days("0 9 1 * 1") == [d(1, 1), d(1, 5), d(1, 12), d(1, 19), d(1, 26)]
    # Friday the 13th, cron style: every Friday and every 13th.
    assert days("0 9 13 * fri") == [d(1, 2), d(1, 9), d(1, 13), d(1, 16), d(1, 23)]
    assert parse_schedule("0 9 1 * 1", "UTC").either_day


def test_star_prefixed_day_field_keeps_and_semantics_like_vixie_cron() -> None:
    # "*/2" begins with "*", so cron ANDs: odd days that are Mondays.
    assert days("0 9 */2 * 1") == [d(1, 5), d(1, 19), d(2, 9), d(2, 23), d(3, 9)]
    assert not parse_schedule("0 9 */2 * 1", "UTC").either_day


def test_months_steps_and_shortcuts() -> None:
    jan_jul = parse_schedule("0 9 1 jan,JUL *", "UTC").next_runs(NEW_YEAR, 3)
    assert [r.date() for r in jan_jul] == [d(1, 1), d(7, 1), d(1, 1, 2027)]
    quarter = parse_schedule("*/15 9 * * *", "UTC").next_runs(NEW_YEAR, 5)
    assert [r.strftime("%d %H:%M") for r in quarter] == [
        "01 09:00", "01 09:15", "01 09:30", "01 09:45", "02 09:00"]
    weekly = parse_schedule("@weekly", "UTC").next_runs(NEW_YEAR, 2)
    assert weekly == [datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)]
    assert parse_schedule("@hourly", "UTC").next_runs(NEW_YEAR, 1) == [
        datetime(2026, 1, 1, 1, tzinfo=UTC)]
    assert parse_schedule("@monthly", "UTC").next_runs(NEW_YEAR, 1) == [
        datetime(2026, 2, 1, tzinfo=UTC)]
    assert parse_schedule("@yearly", "UTC").next_runs(NEW_YEAR, 1) == [
        datetime(2027, 1, 1, tzinfo=UTC)]
    leap = parse_schedule("0 0 29 2 *", "UTC").next_runs(NEW_YEAR, 2)
    assert leap == [datetime(2028, 2, 29, tzinfo=UTC), datetime(2032, 2, 29, tzinfo=UTC)]


def test_next_runs_is_strictly_after() -> None:
    schedule = parse_schedule("0 9 * * *", "UTC")
    on_slot = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert schedule.next_runs(on_slot, 1) == [datetime(2026, 1, 2, 9, tzinfo=UTC)]
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_runs(datetime(2026, 1, 1), 1)


def test_cron_expression_is_portable() -> None:
    assert parse_schedule("0 2 * jan-mar mon-fri", "UTC").cron_expression == "0 2 * 1-3 1-5"
    assert parse_schedule("@daily", "UTC").cron_expression == "0 0 * * *"
    assert parse_schedule("*/15  9-17/2 * * sun,7", "UTC").cron_expression == \
        "*/15 9-17/2 * * 0,7"


# --- daylight saving -----------------------------------------------------------------------

def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_fixed_time_in_the_spring_forward_gap_runs_once_shifted_by_the_gap() -> None:
    # Berlin, Sun 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    runs = parse_schedule("30 2 * * *", "Europe/Berlin").next_runs(utc(2026, 3, 27, 12), 3)
    assert runs == [datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN),
                    utc(2026, 3, 29, 1, 30),           # 03:30 CEST, an hour "late"
                    datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)]
    assert [r.isoformat() for r in runs] == ["2026-03-28T02:30:00+01:00",
                                             "2026-03-29T03:30:00+02:00",
                                             "2026-03-30T02:30:00+02:00"]


def test_fixed_time_in_the_repeated_fall_back_hour_runs_once() -> None:
    # Berlin, Sun 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    runs = parse_schedule("30 2 * * *", "Europe/Berlin").next_runs(utc(2026, 10, 23, 12), 3)
    assert [r.isoformat() for r in runs] == ["2026-10-24T02:30:00+02:00",
                                             "2026-10-25T02:30:00+02:00",
                                             "2026-10-26T02:30:00+01:00"]


def test_fixed_times_in_the_repeated_hour_do_not_loop() -> None:
    # Bare APScheduler 3 goes 02:15, 02:45, 02:15 (earlier!), ... here.
    runs = parse_schedule("15,45 2 * * *", "Europe/Berlin").next_runs(utc(2026, 10, 24, 12), 4)
    assert [r.isoformat() for r in runs] == ["2026-10-25T02:15:00+02:00",
                                             "2026-10-25T02:45:00+02:00",
                                             "2026-10-26T02:15:00+01:00",
                                             "2026-10-26T02:45:00+01:00"]


def test_gap_shifted_times_merge_with_real_ones() -> None:
    runs = parse_schedule("0,45 2,3 * * *", "Europe/Berlin").next_runs(utc(2026, 3, 28, 12), 4)
    assert [r.isoformat() for r in runs] == ["2026-03-29T03:00:00+02:00",
                                             "2026-03-29T03:45:00+02:00",
                                             "2026-03-30T02:00:00+02:00",
                                             "2026-03-30T02:45:00+02:00"]


def test_wildcard_schedules_follow_elapsed_time_across_dst() -> None:
    fall = parse_schedule("*/30 * * * *", "Europe/Berlin").next_runs(utc(2026, 10, 24, 23), 6)
    assert [r.astimezone(UTC) for r in fall] == [
        utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2, 0)]
    assert [r.strftime("%H:%M%z") for r in fall] == [
        "01:30+0200", "02:00+0200", "02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100"]
    spring = parse_schedule("30 * * * *", "Europe/Berlin").next_runs(utc(2026, 3, 28, 23), 4)
    assert [r.strftime("%H:%M%z") for r in spring] == [
        "00:30+0100", "01:30+0100", "03:30+0200", "04:30+0200"]  # no 02:30 that day


def test_new_york_dst_and_utc_for_comparison() -> None:
    # DST starts Sun 8 March 2026 (02:00 EST -> 03:00 EDT), ends Sun 1 November (02:00 -> 01:00).
    spring = parse_schedule("30 2 * * *", "America/New_York").next_runs(utc(2026, 3, 7, 0), 3)
    assert [r.isoformat() for r in spring] == ["2026-03-07T02:30:00-05:00",
                                               "2026-03-08T03:30:00-04:00",
                                               "2026-03-09T02:30:00-04:00"]
    fall = parse_schedule("30 1 * * *", "America/New_York").next_runs(utc(2026, 10, 31, 0), 3)
    assert [r.isoformat() for r in fall] == ["2026-10-31T01:30:00-04:00",
                                             "2026-11-01T01:30:00-04:00",
                                             "2026-11-02T01:30:00-05:00"]
    plain = parse_schedule("30 2 * * *", "UTC").next_runs(utc(2026, 3, 28, 12), 3)
    assert plain == [utc(2026, 3, 29, 2, 30), utc(2026, 3, 30, 2, 30), utc(2026, 3, 31, 2, 30)]
    assert all(r.tzinfo is not None for r in plain)


# --- intervals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "after", "expected"), [
    ("every 15m", utc(2026, 1, 1, 0, 7), [utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30),
                                          utc(2026, 1, 1, 0, 45)]),
    ("every 15m", utc(2026, 1, 1, 0, 15), [utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45),
                                           utc(2026, 1, 1, 1, 0)]),
    ("every 2h", utc(2026, 1, 1, 1), [utc(2026, 1, 1, 2), utc(2026, 1, 1, 4),
                                      utc(2026, 1, 1, 6)]),
    ("every 30s", utc(2026, 1, 1, 0, 0, 10), [utc(2026, 1, 1, 0, 0, 30), utc(2026, 1, 1, 0, 1),
                                              utc(2026, 1, 1, 0, 1, 30)]),
    ("every 1d", utc(2026, 1, 1, 5), [utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4)]),
    ("every 90 minutes", utc(2026, 1, 1), [utc(2026, 1, 1, 1, 30), utc(2026, 1, 1, 3),
                                           utc(2026, 1, 1, 4, 30)]),
    ("Every 1 Hour", utc(2026, 1, 1, 0, 59, 59), [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2),
                                                  utc(2026, 1, 1, 3)]),
])
def test_intervals_are_anchored_at_the_epoch(text: str, after: datetime,
                                              expected: list[datetime]) -> None:
    schedule = parse_schedule(text, "UTC")
    assert schedule.kind is ScheduleKind.INTERVAL
    assert schedule.next_runs(after, 3) == expected


def test_interval_in_a_zone_is_elapsed_time_across_dst() -> None:
    runs = parse_schedule("every 1h", "Europe/Berlin").next_runs(utc(2026, 3, 29, 0), 3)
    assert [r.isoformat() for r in runs] == ["2026-03-29T03:00:00+02:00",
                                             "2026-03-29T04:00:00+02:00",
                                             "2026-03-29T05:00:00+02:00"]
    assert runs[0].tzinfo == BERLIN


# --- triggers --------------------------------------------------------------------------------

def fire_times(trigger: object, after: datetime, n: int) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    for _ in range(n):
        fire = trigger.get_next_fire_time(previous, after)  # type: ignore[attr-defined]
        times.append(fire)
        previous = after = fire
    return times


@pytest.mark.parametrize("text", ["0 9 1 * 1", "15,45 2 * * *", "*/30 * * * *", "30 2 * * *"])
def test_cron_trigger_agrees_with_next_runs(text: str) -> None:
    schedule = parse_schedule(text, "Europe/Berlin")
    trigger = schedule.trigger()
    assert isinstance(trigger, CronScheduleTrigger)
    start = utc(2026, 10, 24, 12)
    assert fire_times(trigger, start, 6) == schedule.next_runs(start - timedelta(seconds=1), 6)


def test_cron_trigger_fires_at_now_when_now_is_a_slot() -> None:
    trigger = parse_schedule("0 9 * * *", "UTC").trigger()
    assert trigger.get_next_fire_time(None, utc(2026, 1, 1, 9)) == utc(2026, 1, 1, 9)
    # With a previous fire time the next one is strictly later (APScheduler's contract).
    assert trigger.get_next_fire_time(utc(2026, 1, 1, 9), utc(2026, 1, 1, 9)) == \
        utc(2026, 1, 2, 9)


def test_interval_trigger_agrees_with_next_runs() -> None:
    schedule = parse_schedule("every 15m", "Europe/Berlin")
    trigger = schedule.trigger()
    assert isinstance(trigger, IntervalTrigger)
    start = utc(2026, 1, 1, 0, 7)
    assert fire_times(trigger, start, 4) == schedule.next_runs(start, 4)


def test_jitter_is_inside_the_trigger_and_injectable() -> None:
    schedule = parse_schedule("0 9 * * *", "UTC", jitter=30)
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return 12.5

    fire = schedule.trigger(uniform).get_next_fire_time(None, NEW_YEAR)
    assert fire == utc(2026, 1, 1, 9, 0, 12, 500000)
    assert draws == [(0, 30.0)]
    assert schedule.next_runs(NEW_YEAR, 1) == [utc(2026, 1, 1, 9)]  # no jitter in the plan
    interval = parse_schedule("every 15m", "UTC", jitter=5).trigger()
    fire = interval.get_next_fire_time(None, utc(2026, 1, 1, 0, 7))
    assert utc(2026, 1, 1, 0, 15) <= fire <= utc(2026, 1, 1, 0, 15, 5)


def test_cron_trigger_survives_pickling() -> None:
    trigger = parse_schedule("0 9 1 * 1", "Europe/Berlin", jitter=0).trigger()
    copy = pickle.loads(pickle.dumps(trigger))
    assert fire_times(copy, NEW_YEAR, 3) == fire_times(trigger, NEW_YEAR, 3)
    assert str(copy) == "cron[0 9 1 * 1 (day-of-month or day-of-week), Europe/Berlin]"


def test_apscheduler_accepts_the_trigger() -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        job = scheduler.add_job(print, trigger=parse_schedule("0 9 * * 1-5", "UTC").trigger(),
                                id="x")
        assert job.next_run_time.weekday() < 5
        assert (job.next_run_time.hour, job.next_run_time.minute) == (9, 0)
    finally:
        scheduler.shutdown(wait=False)


# --- describe --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "zone", "jitter", "expected"), [
    ("0 2 * * 1-5", "UTC", 0, 'cron "0 2 * * 1-5" (UTC): at 02:00, Mon-Fri'),
    ("30 4 * * 0,6", "Europe/Berlin", 0, 'cron "30 4 * * 0,6" (Europe/Berlin): at 04:30, Sat, Sun'),
    ("0 9 1 * 1", "UTC", 0, 'cron "0 9 1 * 1" (UTC): at 09:00, day 1 or Mon'),
    ("5 * * * *", "UTC", 0, 'cron "5 * * * *" (UTC): at minute 5 of every hour'),
    ("0 3 1 jan,jul *", "UTC", 0, 'cron "0 3 1 jan,jul *" (UTC): at 03:00, day 1, in Jan, Jul'),
    ("*/7 3-5 * * *", "UTC", 0, 'cron "*/7 3-5 * * *" (UTC)'),
    ("every 15m", "UTC", 30, "every 15m (UTC), jitter up to 30s"),
    ("every 1d", "Europe/Berlin", 0, "every 1d (Europe/Berlin)"),
])
def test_describe(text: str, zone: str, jitter: float, expected: str) -> None:
    assert parse_schedule(text, zone, jitter).describe() == expected


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("* 24 * * *", "hour 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
    ("* * * 13 *", "month 13 is out of range 1-12"),
    ("* * * * 8", "day-of-week 8 is out of range 0-7"),
    ("* * * *", "expected five fields (minute hour day-of-month month day-of-week) or an "
                'interval such as "every 15m", found 4 fields'),
    ("* * * * * *", "expected five fields (minute hour day-of-month month day-of-week) or an "
                    'interval such as "every 15m", found 6 fields'),
    ("*/0 * * * *", "minute step 0 must be at least 1"),
    ("*/x * * * *", 'minute step "x" is not a whole number'),
    ("5-1 * * * *", 'minute range "5-1" goes backwards; write it as 5-59,0-1'),
    ("* * * * fri-mon", 'day-of-week range "fri-mon" goes backwards; write it as 5-7,0-1'),
    ("* * * foo *", 'month "foo" is not a number 1-12 or a name (jan-dec)'),
    ("* * * * 1-fri5", 'day-of-week "fri5" in "1-fri5" is not a number 0-7 or a name (sun-sat)'),
    ("* * * * mon#2", 'day-of-week "mon#2" is not a number 0-7 or a name (sun-sat)'),
    ("0 0 L * *", 'day-of-month "L" is not a number 1-31'),
    ("1,,2 * * * *", 'minute "" is not a number, range, list or step'),
    ("5/15 * * * *", 'minute "5/15": a step needs a range or *; write 5-59/15'),
    ("0 0 30 2 *", "day-of-month 30 never occurs in Feb"),
    ("0 0 31 4,6 *", "day-of-month 31 never occurs in Apr, Jun"),
    ("@reboot", "unknown shortcut @reboot (expected @annually, @daily, @hourly, @midnight, "
                "@monthly, @weekly, @yearly)"),
    ("", 'empty; expected a five-field cron expression or an interval such as "every 15m"'),
    ("every 0m", "an interval must be at least 1s"),
    ("every 15x", 'unknown unit "x" (expected s, m, h, d or w)'),
    ("every fifteen minutes", 'expected an interval such as "every 15m", "every 2h", '
                              '"every 30s" or "every 1d"'),
])
def test_invalid_schedules_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text, "UTC")
    assert str(caught.value) == f'config error: schedule "{text}": {problem}'
    assert caught.value.exit_code == EXIT_CONFIG
    assert caught.value.error_class is ErrorClass.CONFIG


def test_invalid_time_zone() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule("0 2 * * *", "Mars/Base")
    assert str(caught.value) == ('config error: unknown time zone "Mars/Base" (expected an IANA '
                                 'name such as "Europe/Berlin", "UTC" or "local")')
    for bad in ("", "../etc/passwd", "/etc/localtime", "utc"):
        with pytest.raises(ConfigError, match="unknown time zone"):
            parse_schedule("0 2 * * *", bad)


def test_errors_carry_file_and_key_when_given() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule("61 * * * *", "UTC", path="ingestctl.toml", key="imports[0]")
    assert str(caught.value) == ('config error: ingestctl.toml: imports[0].schedule: '
                                 'schedule "61 * * * *": minute 61 is out of range 0-59')
    assert caught.value.key == "imports[0].schedule"
    with pytest.raises(ConfigError) as caught:
        parse_schedule("0 2 * * *", "Nowhere", path="a.toml", key="imports[1]")
    assert caught.value.key == "imports[1].timezone"
    with pytest.raises(ConfigError) as caught:
        parse_schedule("0 2 * * *", "UTC", jitter=-5)
    assert str(caught.value) == "config error: jitter -5s must not be negative"


def test_local_time_zone_is_accepted() -> None:
    schedule = parse_schedule("0 2 * * *", "local")
    assert schedule.timezone == "local"
    assert schedule.next_runs(NEW_YEAR, 1)[0].tzinfo is not None
