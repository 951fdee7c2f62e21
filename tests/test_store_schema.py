"""The schema and its migrations: a new store, an upgraded one, and queries at their boundaries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestctl.clock import to_iso
from ingestctl.config import Config, ImportConfig
from ingestctl.monitoring import snapshots
from ingestctl.store import Store
from ingestctl.store.database import PAGE_SIZE, _statements
from ingestctl.store.schema import MIGRATIONS
from tests.cli import ROOT, run_cli

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                           "AND sql IS NOT NULL")}


def test_a_new_store_is_wal_and_at_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "ingestctl.db"
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.scalar("PRAGMA journal_mode") == "wal"
    assert "schedule_slots_missed" in _indexes(path)


def test_the_first_import_creates_the_store_with_big_pages_and_incremental_vacuum(
        tmp_path: Path) -> None:
    """16 KB pages make the sitemap merges cheaper; they only take on an empty file."""
    home = tmp_path / "home"
    done = run_cli(home, "run", "sitemap", str(ROOT / "samples" / "sitemap.xml"))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(home / "ingestctl.db") as conn:
        assert [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in (
            "page_size", "auto_vacuum", "journal_mode")] == [PAGE_SIZE, 2, "wal"]
        assert conn.execute("SELECT count(*) FROM sitemap_urls").fetchone()[0] > 0


def test_an_older_store_upgrades_in_place_through_sqlite_utils_steps(tmp_path: Path) -> None:
    path = tmp_path / "ingestctl.db"
    done = [step for _, step in MIGRATIONS if isinstance(step, str)][:7]
    with sqlite3.connect(path) as conn:
        for script in done:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 7")
        conn.execute("INSERT INTO schedule_slots (import_name, slot_at, outcome, recorded_at) "
                     "VALUES ('shop', '2026-12-02T00:00:00Z', 'missed', '2026-12-02T00:01:00Z')")
    assert "schedule_slots_missed" not in _indexes(path)
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.scalar("SELECT count(*) FROM schedule_slots") == 1
        assert store.scalar("PRAGMA journal_mode") == "wal"
    assert "schedule_slots_missed" in _indexes(path)


def test_a_missed_slot_exactly_at_the_window_start_counts_in_health_and_status(
        tmp_path: Path) -> None:
    config = Config()
    config.imports = [ImportConfig(name="shop", source="sitemap",
                                   url="https://shop.example/s.xml", schedule="0 * * * *")]
    window_start = NOW - timedelta(seconds=config.health.window)
    with Store(tmp_path / "ingestctl.db") as store, store.write() as conn:
        for slot in (window_start - timedelta(seconds=1), window_start,
                     window_start + timedelta(hours=1)):
            conn.execute("INSERT INTO schedule_slots (import_name, slot_at, outcome, recorded_at)"
                         " VALUES ('shop', ?, 'missed', ?)", (to_iso(slot), to_iso(NOW)))
    with Store(tmp_path / "ingestctl.db") as store:
        health = snapshots.health_snapshot(store, config, NOW, tmp_path / "breakers.json")
        status = snapshots.status_snapshot(store, config, NOW, tmp_path / "breakers.json")
    assert [slot for _, slot in health.missed_slots] == [window_start,
                                                         window_start + timedelta(hours=1)]
    assert [row.missed for row in status.schedules] == [2]
