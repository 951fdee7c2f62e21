"""Crontab lines for `ingestctl schedule crontab`."""

from __future__ import annotations

import pytest

from ingestctl.scheduler.crontab import (
    CRON_TZ_NOTE,
    HEADER,
    CrontabEntry,
    cron_zone,
    crontab,
    crontab_command,
    crontab_line,
    interval_as_cron,
)
from ingestctl.scheduler.spec import parse_schedule

CMD = "ingestctl -q run shop"


def test_command_is_quiet_quoted_and_escaped() -> None:
    assert crontab_command("shop") == "ingestctl -q run shop"
    assert crontab_command("shop", config="/etc/ingest ctl.toml", home="/var/lib/ingestctl") == (
        "ingestctl -q --config '/etc/ingest ctl.toml' --home /var/lib/ingestctl run shop")
    assert crontab_command("a.b-c_1", home="/srv/50%", program="/opt/venv/bin/ingestctl") == (
        "/opt/venv/bin/ingestctl -q --home /srv/50\\% run a.b-c_1")
    assert crontab_command("x", config="it's.toml") == (
        "ingestctl -q --config 'it'\"'\"'s.toml' run x")
    assert crontab_command("x", program=["/opt/py 3/bin/python", "-m", "ingestctl"]) == (
        "'/opt/py 3/bin/python' -m ingestctl -q run x")


def test_each_schedule_has_its_cron_zone() -> None:
    assert cron_zone(parse_schedule("0 2 * * *", "UTC")) == "UTC"
    assert cron_zone(parse_schedule("0 2 * * *", "Europe/Berlin")) == "Europe/Berlin"
    assert cron_zone(parse_schedule("0 2 * * *", "local")) == ""
    # Intervals count from the epoch in UTC, whatever zone shows their times.
    assert cron_zone(parse_schedule("every 6h", "Asia/Kolkata")) == "UTC"


def test_cron_schedule_passes_through() -> None:
    assert crontab_line(parse_schedule("0 2 * * *", "UTC"), CMD) == f"0 2 * * * {CMD}"
    assert crontab_line(parse_schedule("0 2 * * *", "local"), CMD) == f"0 2 * * * {CMD}"
    # Names become numbers and shortcuts are expanded, so any cron reads the line.
    assert crontab_line(parse_schedule("0 6 * jan-mar mon-fri", "UTC"), CMD) == \
        f"0 6 * 1-3 1-5 {CMD}"
    assert crontab_line(parse_schedule("@weekly", "UTC"), CMD) == f"0 0 * * 0 {CMD}"


@pytest.mark.parametrize(("text", "expected"), [
    ("every 1m", "* * * * *"),
    ("every 5m", "*/5 * * * *"),
    ("every 15m", "*/15 * * * *"),
    ("every 30m", "*/30 * * * *"),
    ("every 60m", "0 * * * *"),
    ("every 1h", "0 * * * *"),
    ("every 2h", "0 */2 * * *"),
    ("every 6h", "0 */6 * * *"),
    ("every 1d", "0 0 * * *"),
    ("every 24h", "0 0 * * *"),
    ("every 1w", "0 0 * * 4"),
    ("every 120s", "*/2 * * * *"),
])
def test_intervals_that_divide_evenly_become_steps(text: str, expected: str) -> None:
    assert crontab_line(parse_schedule(text, "Europe/Berlin"), CMD) == f"{expected} {CMD}"


@pytest.mark.parametrize(("text", "why"), [
    ("every 7m", "7m does not divide an hour evenly"),
    ("every 30s", "cron counts whole minutes, and 30s is not a whole number of minutes"),
    ("every 90s", "cron counts whole minutes, and 1m 30s is not a whole number of minutes"),
    ("every 5h", "5h does not divide a day evenly"),
    ("every 90m", "1h 30m does not divide an hour, a day or a week evenly"),
    ("every 2d", "2d does not divide an hour, a day or a week evenly"),
])
def test_intervals_cron_cannot_express_become_comments(text: str, why: str) -> None:
    schedule = parse_schedule(text, "UTC")
    assert interval_as_cron(schedule.interval) == (None, why)
    assert crontab_line(schedule, CMD) == (
        f"# not for cron: {schedule.describe()}: {why}; run this import with "
        f"`ingestctl scheduler` instead\n# {CMD}")


def test_jitter_is_mentioned() -> None:
    assert crontab_line(parse_schedule("every 15m", "UTC", jitter=120), CMD) == (
        "# jitter (2m) applies only under `ingestctl scheduler`\n"
        f"*/15 * * * * {CMD}")


def test_block_groups_lines_by_zone_with_one_cron_tz_each() -> None:
    entries = [
        CrontabEntry("shop", parse_schedule("0 2 * * mon-fri", "Europe/Berlin"),
                     crontab_command("shop")),
        CrontabEntry("feed", parse_schedule("every 15m", "Europe/Berlin"),
                     crontab_command("feed")),
        CrontabEntry("us", parse_schedule("0 6 * * *", "America/New_York"),
                     crontab_command("us")),
        CrontabEntry("odd", parse_schedule("every 7m", "UTC"), crontab_command("odd")),
        CrontabEntry("blog", parse_schedule("0 3 * * *", "Europe/Berlin"),
                     crontab_command("blog")),
        CrontabEntry("here", parse_schedule("0 4 * * *", "local"), crontab_command("here")),
        CrontabEntry("utc", parse_schedule("0 5 * * *", "UTC"), crontab_command("utc")),
    ]
    assert crontab(entries) == "\n".join([
        HEADER,
        "",
        '# here: cron "0 4 * * *" (local): at 04:00',
        "0 4 * * * ingestctl -q run here",
        "",
        CRON_TZ_NOTE,
        "CRON_TZ=America/New_York",
        "",
        '# us: cron "0 6 * * *" (America/New_York): at 06:00',
        "0 6 * * * ingestctl -q run us",
        "",
        "CRON_TZ=Europe/Berlin",
        "",
        '# blog: cron "0 3 * * *" (Europe/Berlin): at 03:00',
        "0 3 * * * ingestctl -q run blog",
        "",
        '# shop: cron "0 2 * * mon-fri" (Europe/Berlin): at 02:00, Mon-Fri',
        "0 2 * * 1-5 ingestctl -q run shop",
        "",
        "CRON_TZ=UTC",
        "",
        "# feed: every 15m (Europe/Berlin)",
        "*/15 * * * * ingestctl -q run feed",
        "",
        "# odd: every 7m (UTC)",
        "# not for cron: every 7m (UTC): 7m does not divide an hour evenly; run this import "
        "with `ingestctl scheduler` instead",
        "# ingestctl -q run odd",
        "",
        '# utc: cron "0 5 * * *" (UTC): at 05:00',
        "0 5 * * * ingestctl -q run utc",
        "",
        "# keep these lines at the end of the crontab: CRON_TZ above applies to every line "
        "below it",
    ]) + "\n"


def test_block_of_local_schedules_has_no_cron_tz() -> None:
    text = crontab([CrontabEntry("feed", parse_schedule("@hourly", "local"), CMD)])
    assert "CRON_TZ=" not in text
    assert text == f'{HEADER}\n\n# feed: cron "@hourly" (local): at minute 0 of every hour\n' \
                   f"0 * * * * {CMD}\n"


def test_utc_schedule_gets_cron_tz_on_a_host_in_another_zone() -> None:
    text = crontab([CrontabEntry("feed", parse_schedule("0 2 * * *", "UTC"), CMD)])
    lines = text.splitlines()
    assert lines.index("CRON_TZ=UTC") < lines.index(f"0 2 * * * {CMD}")
