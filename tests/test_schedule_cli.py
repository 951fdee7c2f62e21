"""`ingestctl schedule list`, `schedule crontab` and schedule validation in `config check`."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from pathlib import Path

from ingestctl.cli.schedule_cmd import installed_program
from tests.cli import invoke

CONFIG = """
[[imports]]
name = "nightly"
url = "https://shop.example/sitemap.xml"
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
jitter = "2m"

[[imports]]
name = "often"
url = "https://blog.example/sitemap.xml"
schedule = "every 15m"
misfire_grace = "5m"
coalesce = false

[[imports]]
name = "manual"
url = "https://docs.example/sitemap.xml"
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(text)
    return path


def test_schedule_list_json_next_runs_across_spring_forward(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path)
    result = invoke("--config", str(path), "schedule", "list", "--json", "--runs", "3",
                    "--after", "2026-03-28T12:00:00Z")
    assert result.exit_code == 0, result.stderr
    nightly, often, manual = json.loads(result.stdout)
    # 02:30 does not exist on 29 March in Berlin: it runs once, shifted by the gap (03:30 CEST).
    assert nightly["next_runs"] == ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00",
                                    "2026-03-31T02:30:00+02:00"]
    assert nightly["next_run"] == "2026-03-29T01:30:00Z"
    assert nightly["description"] == ('cron "30 2 * * *" (Europe/Berlin): at 02:30, jitter up '
                                      "to 2m")
    assert (nightly["timezone"], nightly["jitter"], nightly["misfire_grace"],
            nightly["coalesce"]) == ("Europe/Berlin", 120.0, 3600.0, True)
    assert (nightly["last_job"], nightly["last_outcome"], nightly["missed"]) == (None, None, 0)
    assert often["next_runs"] == ["2026-03-28T12:15:00+00:00", "2026-03-28T12:30:00+00:00",
                                  "2026-03-28T12:45:00+00:00"]
    assert (often["misfire_grace"], often["coalesce"]) == (300.0, False)
    assert (manual["schedule"], manual["description"], manual["next_run"],
            manual["next_runs"]) == (None, None, None, [])


def test_schedule_list_json_across_fall_back(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, '[[imports]]\nname = "n"\nurl = "https://e.example/s.xml"\n'
                 'schedule = "30 2 * * *"\ntimezone = "Europe/Berlin"\n'
                 '[[imports]]\nname = "h"\nurl = "https://e.example/t.xml"\n'
                 'schedule = "*/30 2 * * *"\ntimezone = "Europe/Berlin"\n')
    result = invoke("--config", str(path), "schedule", "list", "--json", "--runs", "4",
                    "--after", "2026-10-24T12:00:00Z")
    fixed, stepped = json.loads(result.stdout)
    # The repeated hour: a fixed time runs once (first occurrence), a stepped one in both.
    assert fixed["next_runs"][:2] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    assert stepped["next_runs"] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
                                    "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00"]


def test_schedule_list_shows_last_outcome_and_missed_slots(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path)
    assert invoke("--config", str(path), "schedule", "list").exit_code == 0  # creates the store
    with sqlite3.connect(home / "ingestctl.db") as conn:
        conn.execute("INSERT INTO imports (key, name, source, target, created_at) VALUES "
                     "('often', 'often', 'sitemap', 'x', '2026-01-05T09:00:00.000000Z')")
        conn.execute("INSERT INTO jobs (import_id, import_key, name, source, target, status, "
                     "max_attempts, created_at, started_at, finished_at, error_class) VALUES "
                     "(1, 'often', 'often', 'sitemap', 'x', 'failed', 3, "
                     "'2026-01-05T09:00:00.000000Z', '2026-01-05T09:00:01.000000Z', "
                     "'2026-01-05T09:00:05.000000Z', 'not_found')")
        for slot, outcome in (("09:00", "run"), ("09:15", "missed"), ("09:30", "missed")):
            conn.execute("INSERT INTO schedule_slots (import_name, slot_at, outcome, "
                         "recorded_at) VALUES ('often', ?, ?, '2026-01-05T10:00:00.000000Z')",
                         (f"2026-01-05T{slot}:00.000000Z", outcome))
    result = invoke("--config", str(path), "schedule", "list", "--json")
    often = json.loads(result.stdout)[1]
    assert often["last_job"] == {"id": 1, "status": "failed",
                                 "started_at": "2026-01-05T09:00:01Z",
                                 "finished_at": "2026-01-05T09:00:05Z"}
    assert often["last_outcome"] == "failed"
    assert often["missed"] == 2
    assert often["slots"] == {"run": 1, "skipped": 0, "coalesced": 0, "missed": 2,
                              "last_slot": "2026-01-05T09:30:00Z", "last_outcome": "missed",
                              "last_missed": "2026-01-05T09:30:00Z"}
    table = invoke("--config", str(path), "schedule", "list").stdout
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "NEXT", "RUN", "LAST", "MISSED"]
    assert re.search(r"^often +every 15m \(UTC\) +(\d{4}-)?\d\d-\d\d \d\d:\d\d UTC +failed "
                     r"\(job 1\) +2$", table, re.M), table
    assert re.search(r"^manual +manual only +- +- +0$", table, re.M), table


def test_schedule_crontab(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path)
    result = invoke("--config", str(path), "schedule", "crontab")
    assert result.exit_code == 0, result.stderr
    program = shlex.join(installed_program())
    prefix = f"{program} -q --config {path} --home {home}"
    lines = result.stdout.splitlines()
    assert f"*/15 * * * * {prefix} run often" in lines
    assert "CRON_TZ=Europe/Berlin" in lines
    assert f"30 2 * * * {prefix} run nightly" in lines
    assert lines.index("CRON_TZ=Europe/Berlin") < lines.index(f"30 2 * * * {prefix} run nightly")
    assert lines.index("CRON_TZ=UTC") < lines.index(f"*/15 * * * * {prefix} run often")
    assert "manual" not in result.stdout


def test_schedule_crontab_without_schedules(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, '[[imports]]\nname = "m"\nurl = "https://e.example/s.xml"\n')
    result = invoke("--config", str(path), "schedule", "crontab")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (f"ingestctl: error: no import in {path} has a schedule; add "
                             'schedule = "0 2 * * *" to an [[imports]] table\n')


def test_bad_schedules_exit_78_naming_file_and_key(home: Path, tmp_path: Path) -> None:
    cases = [
        ('schedule = "0 2 * *"', "imports[1].schedule: schedule \"0 2 * *\": expected five "
         "fields (minute hour day-of-month month day-of-week) or an interval such as "
         '"every 15m", found 4 fields'),
        ('schedule = "0 2 * * *"\ntimezone = "Mars/Base"', 'imports[1].timezone: unknown time '
         'zone "Mars/Base" (expected an IANA name such as "Europe/Berlin", "UTC" or "local")'),
    ]
    for setting, expected in cases:
        path = write(tmp_path, '[[imports]]\nname = "ok"\nurl = "https://e.example/a.xml"\n'
                     'schedule = "every 1h"\n[[imports]]\nname = "bad"\n'
                     f'url = "https://e.example/b.xml"\n{setting}\n')
        for command in (("config", "check"), ("schedule", "list"), ("schedule", "crontab")):
            result = invoke("--config", str(path), *command)
            assert result.exit_code == 78, (command, result.stdout)
            assert result.stderr == f"ingestctl: error: config error: {path}: {expected}\n"


def test_config_check_accepts_good_schedules(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path)
    result = invoke("--config", str(path), "config", "check")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"config OK: {path}; 3 import(s)\n")
