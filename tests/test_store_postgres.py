"""The PostgreSQL backend: placeholders, rows, the schema next to SQLite's, row locks that
skip instead of wait, LISTEN, the leader lock, and a password that is never shown."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingestctl.clock import SYSTEM, FakeClock, to_iso
from ingestctl.config import JobsConfig
from ingestctl.config_file import load_config
from ingestctl.events import EventBus
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.redact import redact_url
from ingestctl.store import Store
from ingestctl.store import jobs as job_store
from ingestctl.store.coordination import JobWaiter, LeaderLock
from ingestctl.store.postgres import PgRow, translate
from ingestctl.store.schema import MIGRATIONS
from ingestctl.store.schema_pg import POSTGRES_STEPS
from tests.cli import invoke, run_cli
from tests.pg import PASSWORD


def test_placeholders_become_numbered_outside_quotes_and_casts() -> None:
    assert translate("SELECT ? , '?', x::text, ? FROM t WHERE a = 'it''s ?'") == (
        "SELECT $1 , '?', x::text, $2 FROM t WHERE a = 'it''s ?'", ())
    assert translate("UPDATE t SET a = :now WHERE b = :job AND c IS DISTINCT FROM :job") == (
        "UPDATE t SET a = $1 WHERE b = $2 AND c IS DISTINCT FROM $2", ("now", "job"))
    assert translate("SELECT 1 WHERE k LIKE 'next_run:%'") == (
        "SELECT 1 WHERE k LIKE 'next_run:%'", ())


def test_rows_answer_by_position_and_name_and_equal_tuples() -> None:
    row = PgRow(("shop", 3), {"name": 0, "n": 1})
    assert (row[0], row["n"], row.keys(), row == ("shop", 3)) == ("shop", 3, ["name", "n"], True)
    name, n = row
    assert dict(zip(row.keys(), row, strict=True)) == {"name": name, "n": n}


def test_every_migration_has_a_postgresql_step() -> None:
    assert [name for name, _ in MIGRATIONS] == list(POSTGRES_STEPS)


def _columns(store: Store) -> dict[str, list[str]]:
    if store.dialect == "sqlite":
        return {t: [r[1] for r in store.conn.execute(f"PRAGMA table_info({t})")]
                for t in sorted(store.tables())}
    return {t: [r[0] for r in store.conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ? ORDER BY ordinal_position", (t,))]
        for t in sorted(store.tables() - {"schema_migrations"})}


def test_both_schemas_have_the_same_tables_columns_and_version(tmp_path: Path,
                                                                pg_url: str) -> None:
    with Store(tmp_path / "db.sqlite") as lite, Store(pg_url) as pg:
        assert _columns(lite) == _columns(pg)
        assert lite.schema_version == pg.schema_version == len(MIGRATIONS)
        assert [r["name"] for r in pg.query("SELECT name FROM schema_migrations ORDER BY "
                                             "version")] == [n for n, _ in MIGRATIONS]
        # Times are ISO text compared bytewise on both (COLLATE "C"), and sums are ints.
        assert pg.scalar("SELECT '2026-01-01T10:00:00.000000Z' < ? COLLATE \"C\"",
                         ("2026-01-01T9",)) is True
        assert pg.scalar("SELECT sum(x) FROM (VALUES (1::bigint), (2)) v(x)") == 3


def _queue(store: Store, owner: str) -> JobQueue:
    return JobQueue(store, JobsConfig(), FakeClock(), EventBus(), owner=owner)


def test_a_claim_skips_a_job_another_host_has_locked(pg_url: str) -> None:
    with Store(pg_url) as store:
        queue = _queue(store, "host-a:1:1")
        first, _ = queue.submit(JobSpec("sitemap", "https://a.example/s.xml"))
        second, _ = queue.submit(JobSpec("sitemap", "https://b.example/s.xml"))
        due = to_iso(queue.clock.now()) or ""
        with psycopg.connect(pg_url) as other:  # another host, mid-claim on the first job
            other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (first.id,))
            started = time.monotonic()
            claimed = queue.claim_next(due)
            assert time.monotonic() - started < 1.0  # skipped, not waited for
            assert claimed is not None and claimed.id == second.id
        again = queue.claim_next(due)
        assert again is not None and again.id == first.id
        assert queue.claim_next(due) is None


def test_an_outbox_claim_skips_deliveries_another_host_has_locked(pg_url: str) -> None:
    from ingestctl.store.alerts import DatabaseOutboxStore
    from tests.alerts_helpers import NOW, sample_dead_letter

    earlier = NOW - timedelta(hours=1)  # the adding process's claim has lapsed
    with Store(pg_url) as store:
        outbox = DatabaseOutboxStore(store)
        outbox.add(sample_dead_letter(earlier), ["email", "webhook"], earlier)
        with psycopg.connect(pg_url) as other:
            other.execute("SELECT 1 FROM alert_deliveries WHERE channel = 'email' FOR UPDATE")
            assert [i.channel for i in outbox.pending(NOW)] == ["webhook"]
        assert [i.channel for i in outbox.pending(NOW)] == ["email"]


def test_an_idle_worker_is_woken_by_a_due_job(pg_url: str) -> None:
    with Store(pg_url) as store:
        waiter = JobWaiter(store)  # type: ignore[arg-type]
        waiter.listen()
        try:
            started = time.monotonic()
            assert waiter.wait(0.2) is False and time.monotonic() - started >= 0.19
            _queue(store, "t:1:1").submit(JobSpec("sitemap", "https://a.example/s.xml"))
            started = time.monotonic()
            assert waiter.wait(30) is True and time.monotonic() - started < 5
            assert waiter.wait(0.05) is False  # the notifications were taken together
        finally:
            waiter.close()


def test_one_leader_lock_holder_until_its_session_ends(pg_url: str) -> None:
    with Store(pg_url) as one, Store(pg_url) as two:
        first, second = LeaderLock(one, "scheduler"), LeaderLock(two, "scheduler")  # type: ignore[arg-type]
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        assert first.check() is True and first.holder() is not None
        first.release()
        assert second.try_acquire() is True and second.check() is True
        second.release()


def test_recovery_by_two_hosts_records_one_crashed_attempt(pg_url: str) -> None:
    with Store(pg_url) as store:
        dead = _queue(store, "gone-host:123:1")
        job, _ = dead.submit(JobSpec("sitemap", "https://a.example/s.xml"))
        assert dead.claim(job.id) is not None
        clock = FakeClock()
        clock.advance(3600)  # the dead owner's lease has long expired
        a = JobQueue(store, JobsConfig(), clock, EventBus(), owner="host-a:1:1")
        b = JobQueue(store, JobsConfig(), clock, EventBus(), owner="host-b:2:2")
        recovered = a.recover() + b.recover()
        assert [j.id for j in recovered] == [job.id]
        assert recovered[0].status is JobStatus.RETRYING
        assert store.query("SELECT outcome FROM attempts") == [("crashed",)]


def test_the_password_is_never_shown(home: Path, pg_url: str, tmp_path: Path) -> None:
    assert PASSWORD in pg_url
    # The one redaction of every shown URL: user info dropped, secret parameters blanked.
    assert redact_url("postgresql://u:pw@h:5/db?sslmode=require&password=x") == (
        "postgresql://h:5/db?sslmode=require&password=REDACTED")
    shown = invoke("config", "show", env={"INGESTCTL_DB_URL": pg_url})
    assert 'url = "postgresql://127.0.0.1:' in shown.stdout
    down = pg_url.rsplit(":", 1)[0] + ":1/none"  # nothing listens on port 1
    failed = run_cli(home, "jobs", "list", INGESTCTL_DB_URL=down)
    assert failed.returncode == 1
    assert failed.stderr.startswith("ingestctl: error: store error: postgresql://"
                                    "127.0.0.1:1/none: cannot connect: ")
    assert failed.stderr.count("\n") == 1
    health = run_cli(home, "health", "--format", "nagios", INGESTCTL_DB_URL=down)
    assert health.returncode == 2 and "database unreachable" in health.stdout
    fresh = run_cli(home, "db", "check", "--json", INGESTCTL_DB_URL=pg_url)
    report: dict[str, Any] = json.loads(fresh.stdout)
    assert (fresh.returncode, report["ok"], report["pending_migrations"]) == (
        1, False, len(MIGRATIONS))  # db check never migrates
    migrated = run_cli(home, "db", "migrate", INGESTCTL_DB_URL=pg_url)
    assert migrated.stdout == (f"database schema at version {len(MIGRATIONS)}: "
                               f"{len(MIGRATIONS)} migration(s) applied\n")
    ok = run_cli(home, "db", "check", INGESTCTL_DB_URL=pg_url)
    assert ok.returncode == 0 and ok.stdout.splitlines()[1:] == [
        f"schema: version {len(MIGRATIONS)} of {len(MIGRATIONS)} (up to date)",
        "pool: 0 of 10 connection(s) in use"]
    for text in (shown.stdout, shown.stderr or "", failed.stdout, failed.stderr, health.stdout,
                 ok.stdout, ok.stderr, (home / "logs" / "ingestctl.jsonl").read_text()):
        assert PASSWORD not in text


def test_a_postgresql_url_without_psycopg_is_a_one_line_config_error(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("psycopg") else real(name, *a))
    with pytest.raises(Exception) as caught:
        load_config(None, {"INGESTCTL_DB_URL": f"postgresql://u:{PASSWORD}@h/db"})
    assert str(caught.value) == (
        "config error: environment INGESTCTL_*: store.url: found 'postgresql://h/db': "
        "PostgreSQL needs psycopg and psycopg-pool: pip install 'ingestctl[postgres]'")


def test_breaker_list_and_reset_read_the_shared_table(home: Path, pg_url: str) -> None:
    from ingestctl.config import BreakerConfig
    from ingestctl.errors import ErrorClass
    from ingestctl.resilience.breaker import BreakerBoard
    from ingestctl.resilience.breaker_files import StoreBook

    with Store(pg_url) as store:
        board = BreakerBoard(home / "unused.json", BreakerConfig(failure_threshold=1), SYSTEM,
                             owner="host-a:1", book=StoreBook(store))
        board.record_failure("sitemap:a.example", ErrorClass.TRANSIENT)
    listed = run_cli(home, "breaker", "list", "--json", INGESTCTL_DB_URL=pg_url)
    assert [(b["key"], b["state"]) for b in json.loads(listed.stdout)] == [
        ("sitemap:a.example", "open")]
    assert not (home / "breakers.json").exists()
    reset = run_cli(home, "breaker", "reset", "sitemap:a.example", INGESTCTL_DB_URL=pg_url)
    assert reset.returncode == 0, reset.stderr
    assert json.loads(run_cli(home, "breaker", "list", "--json",
                              INGESTCTL_DB_URL=pg_url).stdout) == []
    assert job_store.next_due_at(Store(pg_url)) is None
