"""Every query the read paths run stays on an index, whatever ``sqlite_stat1`` says.

A real store with tens of thousands of finished jobs (most completed), their attempts and dead
letters, and a handful of active jobs, is read through the code behind ``health``,
``status --json``, ``metrics``, ``jobs list``, ``dlq list`` and ``schedule list``. Every
statement they execute is captured on the store's connection and explained: before any
``ANALYZE``, after ``ANALYZE`` of that skewed store (what ``PRAGMA optimize`` leaves behind),
and with statistics gathered while the store was young and small. No plan may scan ``jobs``,
``attempts`` or ``dead_letters``, except a scan of a partial index (it holds only the active
rows) and the one scan a ``LIMIT`` stops: ``jobs list`` without a status reads newest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestctl.clock import to_iso
from ingestctl.config import Config
from ingestctl.config_file import load_config
from ingestctl.models.jobs import JobStatus
from ingestctl.monitoring import snapshots
from ingestctl.scheduler.listing import schedule_rows
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store
from tests.monitoring_helpers import write_scheduled_config

BIG_TABLES = ("jobs", "attempts", "dead_letters")
SOURCES = ("sitemap", "sitemap", "merchant", "search-console")
IMPORTS = 12
JOBS = 30_000
FAILED_EVERY = 10  # one job in ten fails and leaves an active dead letter
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=60)
ACTIVE = (("processing", 2), ("retrying", 2), ("pending", 1))
# The statements allowed to scan jobs by rowid: a page of `jobs list` newest first without a
# status, which SQLite stops after LIMIT matching rows (a rare --source, or a --since that
# matches nothing, reads the whole table: docs/design.md says so).
NEWEST_PAGE = re.compile(r"^SELECT \* FROM jobs WHERE 1 = 1(?: AND (?:source = |created_at >= )"
                         r"'[^']*')* ORDER BY id DESC LIMIT \d+$")


def _iso(moment: datetime) -> str:
    return to_iso(moment) or ""


def _config(path: Path) -> Config:
    return load_config(write_scheduled_config(path, SOURCES, IMPORTS), {})


def _add_finished(store: Store, first: int, count: int) -> None:
    """Jobs ``first`` .. ``first + count - 1``, one a minute up to NOW, with attempts, dead
    letters, the imports' last successes and a few alerts and schedule slots."""
    start = NOW - STEP * (first + count)
    rows = []
    for i in range(first, first + count):
        imp = i % IMPORTS
        failed = i % FAILED_EVERY == 0
        created = start + STEP * (i - first)
        rows.append((i, imp + 1, f"import-{imp:02d}", f"import-{imp:02d}",
                     SOURCES[imp % len(SOURCES)], f"target-{imp}",
                     "failed" if failed else "completed", 3 if failed else 1,
                     "transient" if failed else None, "HTTP 503" if failed else None,
                     _iso(created), _iso(created), _iso(created + timedelta(seconds=20))))
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO jobs (id, import_id, import_key, name, source, target, status, "
            "attempts, error_class, error_message, created_at, started_at, finished_at, "
            "max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3)", rows)
        conn.execute(
            "INSERT INTO attempts (job_id, number, owner, started_at, finished_at, outcome, "
            "error_class, error_message) SELECT id, attempts, 'test:1', started_at, "
            "finished_at, status, error_class, error_message FROM jobs WHERE id BETWEEN ? AND ?",
            (first, first + count - 1))
        conn.execute(
            "INSERT INTO dead_letters (job_id, name, source, target, options, error_class, "
            "error_message, attempts, created_at, updated_at) SELECT id, name, source, "
            "target, options, error_class, error_message, attempts, finished_at, finished_at "
            "FROM jobs WHERE id BETWEEN ? AND ? AND status = 'failed'",
            (first, first + count - 1))
        conn.execute("UPDATE imports SET last_success_at = (SELECT max(finished_at) FROM jobs "
                     "WHERE import_id = imports.id AND status = 'completed')")
        for n in range(3):
            alert = conn.execute(
                "INSERT INTO alerts (key, kind, severity, subject, alert_json, created_at) "
                "VALUES (?, 'job_failed', 'error', 'failed', '{}', ?) RETURNING id",
                (f"job:{first + n}", _iso(NOW - STEP * n))).fetchone()[0]
            conn.execute("INSERT INTO alert_deliveries (alert_id, channel, sent_at) "
                         "VALUES (?, 'email', ?)", (alert, None if n else _iso(NOW)))
            conn.execute("INSERT OR IGNORE INTO schedule_slots (import_name, slot_at, outcome, "
                         "recorded_at) VALUES (?, ?, 'missed', ?)",
                         (f"import-{n:02d}", _iso(NOW - STEP * 60 * (first + n)), _iso(NOW)))


def _add_active(store: Store, first: int) -> None:
    """Two processing jobs (one lease expired), two retrying, one pending."""
    lease = {0: NOW + STEP, 1: NOW - STEP}
    number = 0
    with store.write() as conn:
        for status, count in ACTIVE:
            for _ in range(count):
                imp = (first + number) % IMPORTS
                conn.execute(
                    "INSERT INTO jobs (id, import_id, import_key, name, source, target, status, "
                    "max_attempts, created_at, started_at, lease_owner, lease_expires_at, "
                    "next_attempt_at, progress) VALUES (?, ?, ?, ?, ?, ?, ?, 3, ?, ?, ?, ?, ?, ?)",
                    (first + number, imp + 1, f"active-{number}", f"import-{imp:02d}",
                     SOURCES[imp % len(SOURCES)], f"target-{imp}", status, _iso(NOW),
                     _iso(NOW) if status == "processing" else None,
                     "host:1" if status == "processing" else None,
                     _iso(lease[number]) if status == "processing" else None,
                     _iso(NOW + STEP) if status == "retrying" else None,
                     '{"items": 10}' if status == "processing" else None))
                number += 1


def _build(path: Path, *, analyze_when_young: bool) -> Store:
    store = Store(path)
    with store.write() as conn:
        conn.executemany("INSERT INTO imports (id, key, name, source, target, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [(n + 1, f"import-{n:02d}", f"import-{n:02d}",
                           SOURCES[n % len(SOURCES)], f"target-{n}", _iso(NOW - STEP * JOBS))
                          for n in range(IMPORTS)])
    if analyze_when_young:
        # A young store: a few finished and the active jobs, analyzed, then grown 1000-fold
        # without a new ANALYZE (the statistics say every table is tiny and all states common).
        _add_finished(store, JOBS + 100, 30)
        _add_active(store, JOBS + 200)
        store.conn.execute("ANALYZE")
        _add_finished(store, 1, JOBS)
    else:
        _add_finished(store, 1, JOBS)
        _add_active(store, JOBS + 200)
    return store


def _read_paths(store: Store, config: Config, home: Path) -> None:
    """What health, status --json, metrics, jobs list, dlq list and schedule list ask of the
    store, and the quality gate's look-up of an import's previous completed run."""
    breakers = home / "breakers.json"
    snapshots.health_snapshot(store, config, NOW, breakers)
    snapshots.status_snapshot(store, config, NOW, breakers)
    snapshots.metrics_snapshot(store, NOW, breakers)
    schedule_rows(config, store, NOW)
    job_store.previous_completed_run(store, 3, JOBS // 2)
    since = _iso(NOW - timedelta(hours=24))
    for flt in [job_store.JobFilter(), job_store.JobFilter(source="merchant"),
                job_store.JobFilter(since=since),
                *(job_store.JobFilter(status=s.value) for s in JobStatus),
                *(job_store.JobFilter(status=s.value, source="merchant") for s in JobStatus)]:
        job_store.list_jobs(store, flt)
    for lflt in [dl_store.LetterFilter(limit=100), dl_store.LetterFilter(source="merchant"),
                 dl_store.LetterFilter(error_class="transient", limit=100),
                 dl_store.LetterFilter(since=since), dl_store.LetterFilter(after_id=5, limit=50)]:
        dl_store.list_letters(store, lflt)
        dl_store.count_letters(store, lflt)


@dataclass
class Captured:
    """The statements one pass over the read paths executed, and the store they ran on."""

    store: Store
    statements: list[str]


def _capture(store: Store, config: Config, home: Path) -> Captured:
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        _read_paths(store, config, home)
    finally:
        store.conn.set_trace_callback(None)
    reads = [s for s in dict.fromkeys(seen)
             if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    return Captured(store, reads)


def partial_indexes(store: Store) -> set[str]:
    """Names of the partial indexes in the store."""
    return {name for name, sql in store.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        if re.search(r"\)\s*WHERE\s", sql)}


_NOT_ALIASES = {"WHERE", "JOIN", "ON", "GROUP", "ORDER", "LIMIT", "INDEXED", "NOT", "LEFT",
                "INNER", "CROSS", "UNION", "AND", "OR", "SET", "USING", "WINDOW", "HAVING"}


def big_names(sql: str) -> set[str]:
    """The big tables and the aliases ``sql`` gives them (plans name a table by its alias)."""
    aliases = {alias for alias in re.findall(
        rf"\b(?:{'|'.join(BIG_TABLES)})\s+(?:AS\s+)?([A-Za-z_]\w*)", sql)
        if alias.upper() not in _NOT_ALIASES}
    return {*BIG_TABLES, *aliases}


def full_scans(store: Store, sql: str) -> list[str]:
    """The plan lines of ``sql`` that read a whole big table or a whole index of one."""
    partial = partial_indexes(store)
    names = big_names(sql)
    bad = []
    for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
        detail = str(row[3])
        found = re.match(r"SCAN (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (\w+))?", detail)
        if found and found.group(1) in names and found.group(2) not in partial:
            bad.append(detail)
    return bad


Scenario = Callable[[Path], Captured]


def _fresh(tmp: Path) -> Captured:
    store = _build(tmp / "home" / "ingestctl.db", analyze_when_young=False)
    return _capture(store, _config(tmp / "ingestctl.toml"), tmp / "home")


def _analyzed(tmp: Path) -> Captured:
    store = _build(tmp / "home" / "ingestctl.db", analyze_when_young=False)
    store.conn.execute("ANALYZE")
    return _capture(store, _config(tmp / "ingestctl.toml"), tmp / "home")


def _analyzed_young(tmp: Path) -> Captured:
    store = _build(tmp / "home" / "ingestctl.db", analyze_when_young=True)
    return _capture(store, _config(tmp / "ingestctl.toml"), tmp / "home")


SCENARIOS = {"no statistics": _fresh, "after ANALYZE": _analyzed,
             "statistics of a young store": _analyzed_young}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def captured(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    """The read paths' statements on a store in each statistics scenario."""
    result = SCENARIOS[request.param](tmp_path_factory.mktemp("plans"))
    yield result
    result.store.close()


def test_the_read_paths_were_captured(captured: Captured) -> None:
    """The capture saw the queries the commands are known to run (it is not vacuous)."""
    text = "\n".join(captured.statements)
    for fragment in ("WHERE status = 'processing'", "FROM dead_letters WHERE active = 1",
                     "FROM attempts a", "FROM job_stats", "finished_at >= ",
                     "SELECT * FROM jobs WHERE 1 = 1 AND status = 'pending'",
                     "JOIN jobs j ON j.id = (SELECT max(id) FROM jobs WHERE import_id = i.id)",
                     "SELECT items, result FROM jobs WHERE import_id = 3"):
        assert fragment in text
    assert len(captured.statements) > 30


def test_no_read_path_query_scans_a_big_table(captured: Captured) -> None:
    """Each captured statement's plan searches indexes; the statistics do not change that."""
    scans = {sql: found for sql in captured.statements
             if not NEWEST_PAGE.match(sql) and (found := full_scans(captured.store, sql))}
    assert scans == {}


def test_an_imports_jobs_are_found_through_its_id(captured: Captured) -> None:
    """Look-ups of one import's jobs search by import_id, never walk a status's jobs."""
    walks = {}
    for sql in captured.statements:
        if "import_id = " not in sql:
            continue
        plan = [str(r[3]) for r in captured.store.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        jobs = {"jobs", *(a for a in big_names(sql) if a not in BIG_TABLES)}
        found = [line for line in plan if line.split(" ")[0] == "SEARCH"
                 and line.split(" ")[1] in jobs and "PRIMARY KEY" not in line
                 and "import_id=" not in line]
        if found:
            walks[sql] = found
    assert walks == {}


def test_active_states_have_partial_indexes(captured: Captured) -> None:
    """processing, retrying and pending lookups have partial indexes to use."""
    assert {"jobs_processing", "jobs_queued", "jobs_active"} <= partial_indexes(captured.store)


def test_full_scans_are_detected(tmp_path: Path) -> None:
    """The check sees a scan of a big table, under its alias too, and not an indexed search."""
    store = Store(tmp_path / "ingestctl.db")
    try:
        assert full_scans(store, "SELECT * FROM jobs WHERE items = 3") == ["SCAN jobs"]
        assert full_scans(store, "SELECT a.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                                 "WHERE a.items = 3") == ["SCAN a"]
        assert full_scans(store, "SELECT count(*) FROM jobs WHERE status = 'processing'") == []
    finally:
        store.close()


def test_postgresql_has_the_same_partial_indexes(pg_url: str) -> None:
    """The PostgreSQL step creates the same indexes, partial where SQLite's are."""
    with Store(pg_url) as store:
        found = {r["indexname"]: r["indexdef"] for r in store.query(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'jobs_%' "
            "OR indexname LIKE 'dead_letters_%'")}
    assert "WHERE (status = 'processing'::text)" in found["jobs_processing"]
    assert "WHERE (status = ANY (ARRAY['pending'::text, 'retrying'::text]))" in found[
        "jobs_queued"]
    assert "WHERE" in found["jobs_active"] and "WHERE" not in found["jobs_status"]
    assert {"jobs_pending", "jobs_retrying", "jobs_import_status", "dead_letters_active_id",
            "dead_letters_active_source", "dead_letters_active_class"} <= set(found)
