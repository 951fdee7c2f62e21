"""Every listing at 80, 120 and 200 columns, compared with snapshots; and how tables fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text

from ingestctl import clock
from ingestctl.cli.tables import Column, Listing, middle_cut, render
from ingestctl.clock import FakeClock
from tests.cli import invoke, run_cli
from tests.listing_helpers import LONG_URL, config_file, listing_home, snapshot

LISTINGS = {
    "jobs-list": ("jobs", "list"),
    "dlq-list": ("dlq", "list"),
    "breaker-list": ("breaker", "list"),
    "alerts-list": ("alerts", "list"),
    "schedule-list": ("schedule", "list", "--after", "2026-03-01T07:00:00Z", "--runs", "2"),
    "quota": ("quota",),
    "status": ("status",),
}


@pytest.fixture
def listed(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = listing_home(home)
    c.store.close()
    monkeypatch.setattr(clock, "SYSTEM", FakeClock(c.clock.now()))
    monkeypatch.setenv("INGESTCTL_CONFIG", str(config_file(tmp_path)))
    monkeypatch.setenv("INGESTCTL_HOME", "home")  # relative to tmp_path: a stable header
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize("name", list(LISTINGS))
def test_listing_snapshot(listed: Path, name: str, width: int) -> None:
    result = invoke(*LISTINGS[name], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= width for line in lines), "\n".join(
        line for line in lines if len(line) > width)
    assert result.stdout == snapshot(f"{name}-{width}", result.stdout)


def test_ids_and_states_are_never_cut_and_names_keep_their_ends(listed: Path) -> None:
    out = invoke("jobs", "list", env={"COLUMNS": "80"}).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["6", "5", "4", "3", "2", "1"]
    assert {row[2] for row in rows} == {"processing", "pending", "completed", "retrying", "failed"}
    assert "sitemap-3.xml" in out and "sitemap-4.xml" in out  # jobs told apart by their ends
    assert "CREATED (UTC)" in out


def test_piped_output_follows_columns_else_is_never_cut(listed: Path) -> None:
    home = listed
    narrow = run_cli(home, "jobs", "list", COLUMNS="80",
                     INGESTCTL_CONFIG=str(home.parent / "ingestctl.toml"))
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    env = {"INGESTCTL_CONFIG": str(home.parent / "ingestctl.toml")}
    whole = run_cli(home, "jobs", "list", **env)
    assert f"sitemap:{LONG_URL}" in whole.stdout and "…" not in whole.stdout
    assert "HTTP 503 Service Unavailable from" in whole.stdout


def test_tz_option_and_display_setting(listed: Path, tmp_path: Path) -> None:
    berlin = invoke("jobs", "list", "--tz", "Europe/Berlin", env={"COLUMNS": "200"}).stdout
    assert "CREATED (Europe/Berlin)" in berlin and "03-01 07:00" in berlin
    utc = invoke("jobs", "list", env={"COLUMNS": "200"}).stdout
    assert "03-01 06:00" in utc
    config = tmp_path / "ingestctl.toml"
    config.write_text(config.read_text() + '\n[display]\ntz = "America/New_York"\n')
    configured = invoke("dlq", "list", env={"COLUMNS": "200"}).stdout
    assert "SINCE (America/New_York)" in configured and "03-01 01:10" in configured
    bad = invoke("jobs", "list", "--tz", "Mars/Olympus")
    assert bad.exit_code == 2
    assert bad.stderr == ("ingestctl: error: --tz 'Mars/Olympus': unknown time zone; expected "
                          "an IANA name such as Europe/Berlin, UTC or local\n")


def test_bad_display_tz_is_a_config_error(listed: Path, tmp_path: Path) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(config.read_text() + '\n[display]\ntz = "Nowhere"\n')
    result = invoke("jobs", "list")
    assert result.exit_code == 78
    assert "display.tz: found 'Nowhere'" in result.stderr


@pytest.mark.parametrize(("width", "expected"), [
    (48, "sitemap:https://shop.example.com/…/sitemap-3.xml"),
    (54, "sitemap:https://shop.example.com/…/march/sitemap-3.xml"),
    (30, "sitemap:https:/…/sitemap-3.xml"),
    (200, f"sitemap:{LONG_URL}"),
])
def test_middle_cut_keeps_host_and_last_segment(width: int, expected: str) -> None:
    assert middle_cut(f"sitemap:{LONG_URL}", width) == expected
    assert len(middle_cut(f"sitemap:{LONG_URL}", width)) <= width


def test_columns_drop_by_priority_not_position() -> None:
    listing = Listing([Column("ID", cut="never"), Column("EXTRA", priority=2, cut="never"),
                       Column("NAME", cut="middle", min_width=12),
                       Column("STATE", cut="never"), Column("ERROR", priority=1)])
    listing.add("12345", "xxxxxxxxxxxx", "a-very-long-import-name-here", Text("failed"),
                "HTTP 503 from somewhere")
    lines = [line.plain for line in render(listing, 40)]
    assert lines[0].split() == ["ID", "NAME", "STATE", "ERROR"]
    assert lines[1].startswith("12345  a-very…e-here  failed  HTTP 503 …")
    assert all(len(line) <= 40 for line in lines)
    narrow = [line.plain for line in render(listing, 20)]
    assert narrow[0].split() == ["ID", "NAME", "STATE"]  # ID and STATE stay whole
