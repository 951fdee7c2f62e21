"""Deleting old history: finished jobs with their attempts, alerts, ledger rows, dead letters.

What is never deleted, whatever its age (so ``health``, ``status`` and ``metrics`` read the
same after a prune): an active job, a job with an active dead letter, and per import its
newest job, newest completed job (``imports.last_success_job_id``) and newest failed job (the
freshness check's last failure); per alert key its newest alert (the repeat and resolve
policy reads it), and any alert with a delivery not sent yet; per import its newest ledger
row. Counters (``job_stats``, ``counters``, ``monitor_counts``) are summary tables the
triggers keep: deleting history never touches them, and the dead-letter trigger only counts
active entries, which are never deleted here.

Jobs go in batches of :data:`BATCH` per transaction, so a prune of a year of history never
holds the write lock for long.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields

from ingestctl.store.database import POSTGRES, Connection, Store

BATCH = 2000

# The jobs a prune keeps whatever their age (see the module docstring).
_KEPT_JOBS = """
SELECT max(id) FROM jobs GROUP BY import_id
UNION SELECT max(id) FROM jobs WHERE status = 'completed' GROUP BY import_id
UNION SELECT max(id) FROM jobs WHERE status = 'failed' GROUP BY import_id
UNION SELECT last_success_job_id FROM imports WHERE last_success_job_id IS NOT NULL
"""
_OLD_JOBS = (
    "FROM jobs j WHERE j.finished_at < :cutoff AND j.status IN ('completed', 'failed') "
    "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.job_id = j.id AND d.active = 1) "
    f"AND j.id NOT IN ({_KEPT_JOBS})")
_OLD_ALERTS = (
    "FROM alerts a WHERE a.created_at < :cutoff "
    "AND a.id NOT IN (SELECT max(id) FROM alerts GROUP BY key) "
    "AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id "
    "AND d.sent_at IS NULL)")
_OLD_SLOTS = (
    "FROM schedule_slots s WHERE s.slot_at < :cutoff AND s.slot_at < (SELECT max(slot_at) "
    "FROM schedule_slots m WHERE m.import_name = s.import_name)")
_OLD_LETTERS = "FROM dead_letters WHERE active = 0 AND updated_at < :cutoff"


@dataclass
class Removed:
    """Rows a prune deleted (or would delete), per table."""

    jobs: int = 0
    attempts: int = 0
    dead_letters: int = 0
    alerts: int = 0
    alert_deliveries: int = 0
    schedule_slots: int = 0
    job_cursors: int = 0

    def add(self, other: Removed) -> None:
        """Add ``other``'s counts to these."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def total(self) -> int:
        """Rows in all tables."""
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict[str, int]:
        """Counts keyed by table name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _count(conn: Connection, sql: str, cutoff: str) -> int:
    return int(conn.execute(sql, {"cutoff": cutoff}).fetchone()[0])


def count_old(store: Store, cutoff: str) -> Removed:
    """What :func:`delete_old` would delete now, counted without writing (``--dry-run``)."""
    conn = store.conn
    jobs = f"SELECT j.id {_OLD_JOBS}"
    return Removed(
        jobs=_count(conn, f"SELECT count(*) {_OLD_JOBS}", cutoff),
        attempts=_count(conn, f"SELECT count(*) FROM attempts WHERE job_id IN ({jobs})", cutoff),
        job_cursors=_count(conn, f"SELECT count(*) FROM job_cursors WHERE job_id IN ({jobs})",
                           cutoff),
        dead_letters=_count(conn, f"SELECT count(*) FROM dead_letters WHERE active = 0 AND "
                            f"(updated_at < :cutoff OR job_id IN ({jobs}))", cutoff),
        alerts=_count(conn, f"SELECT count(*) {_OLD_ALERTS}", cutoff),
        alert_deliveries=_count(conn, "SELECT count(*) FROM alert_deliveries WHERE alert_id IN "
                                f"(SELECT a.id {_OLD_ALERTS})", cutoff),
        schedule_slots=_count(conn, f"SELECT count(*) {_OLD_SLOTS}", cutoff),
    )


def _delete_jobs(conn: Connection, ids: list[int]) -> Removed:
    marks = ",".join("?" * len(ids))
    done = Removed(jobs=len(ids))
    done.attempts = conn.execute(f"DELETE FROM attempts WHERE job_id IN ({marks})", ids).rowcount
    done.job_cursors = conn.execute(f"DELETE FROM job_cursors WHERE job_id IN ({marks})",
                                    ids).rowcount
    done.dead_letters = conn.execute(
        f"DELETE FROM dead_letters WHERE active = 0 AND job_id IN ({marks})", ids).rowcount
    conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids)
    return done


# One batch: the next old jobs in id order after the previous batch. The unary + keeps SQLite
# walking the table in rowid order from :after instead of sorting every finished job.
_NEXT_OLD_JOBS = (
    "SELECT j.id FROM jobs j WHERE j.id > :after AND +j.finished_at < :cutoff "
    "AND +j.status IN ('completed', 'failed') AND j.id NOT IN (SELECT id FROM temp.prune_keep) "
    "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.job_id = j.id AND d.active = 1) "
    "ORDER BY j.id LIMIT :batch")
# PostgreSQL: no unary + on text, and a temporary table would live on one pooled connection
# only; the kept ids travel as one array parameter instead.
_NEXT_OLD_JOBS_PG = (
    "SELECT j.id FROM jobs j WHERE j.id > :after AND j.finished_at < :cutoff "
    "AND j.status IN ('completed', 'failed') AND j.id <> ALL(CAST(:keep AS BIGINT[])) "
    "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.job_id = j.id AND d.active = 1) "
    "ORDER BY j.id LIMIT :batch")


def delete_old(store: Store, cutoff: str, *, batch: int = BATCH,
               between_batches: Callable[[], None] | None = None) -> Removed:
    """Delete the history older than ``cutoff`` (ISO UTC) that the module docstring allows."""
    removed = Removed()
    conn = store.conn
    # The kept jobs, computed once: jobs that finish meanwhile are newer than any old one.
    args: dict[str, object] = {"cutoff": cutoff, "batch": batch}
    if store.dialect == POSTGRES:
        next_old = _NEXT_OLD_JOBS_PG
        args["keep"] = sorted({int(row[0]) for row in conn.execute(_KEPT_JOBS)})
    else:
        next_old = _NEXT_OLD_JOBS
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS prune_keep (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.prune_keep")
        conn.execute(f"INSERT OR IGNORE INTO temp.prune_keep (id) {_KEPT_JOBS}")
    after = 0
    while True:
        with store.write() as conn:
            ids = [row[0] for row in conn.execute(next_old, {**args, "after": after})]
            if ids:
                removed.add(_delete_jobs(conn, ids))
                after = ids[-1]
        if between_batches is not None:
            between_batches()
        if len(ids) < batch:
            break
    with store.write() as conn:
        params = {"cutoff": cutoff}
        removed.dead_letters += conn.execute(f"DELETE {_OLD_LETTERS}", params).rowcount
        alert_ids = [row[0] for row in conn.execute(f"SELECT a.id {_OLD_ALERTS}", params)]
        for start in range(0, len(alert_ids), batch):
            chunk = alert_ids[start:start + batch]
            marks = ",".join("?" * len(chunk))
            removed.alert_deliveries += conn.execute(
                f"DELETE FROM alert_deliveries WHERE alert_id IN ({marks})", chunk).rowcount
            removed.alerts += conn.execute(f"DELETE FROM alerts WHERE id IN ({marks})",
                                           chunk).rowcount
        removed.schedule_slots = conn.execute(
            f"DELETE FROM schedule_slots WHERE id IN (SELECT s.id {_OLD_SLOTS})", params).rowcount
    return removed


@dataclass
class SpaceReport:
    """The file's pages before and after vacuuming, and its vacuum mode."""

    auto_vacuum: str  # none | full | incremental
    page_size: int
    free_pages_before: int
    free_pages_after: int


_VACUUM_MODES = {0: "none", 1: "full", 2: "incremental"}


def _pragma_int(store: Store, name: str) -> int:
    return int(store.scalar(f"PRAGMA {name}") or 0)


def optimize_and_vacuum(store: Store, *, full: bool = False) -> SpaceReport:
    """``PRAGMA optimize``, then give free pages back to the file system.

    An incremental store returns its free pages with ``PRAGMA incremental_vacuum``; a store
    created before ingestctl set ``auto_vacuum`` keeps them for new rows, unless ``full``: a
    ``VACUUM`` that rewrites the file once and switches it to incremental mode.
    """
    if store.dialect == POSTGRES:
        # PostgreSQL's autovacuum gives dead rows' space back; fresh statistics help plans.
        store.conn.execute("ANALYZE")
        return SpaceReport("autovacuum (PostgreSQL)", 0, 0, 0)
    assert isinstance(store.conn, sqlite3.Connection)
    store.conn.execute("PRAGMA optimize")
    before = _pragma_int(store, "freelist_count")
    mode = _VACUUM_MODES.get(_pragma_int(store, "auto_vacuum"), "none")
    if full:
        store.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        store.conn.execute("VACUUM")
        mode = _VACUUM_MODES.get(_pragma_int(store, "auto_vacuum"), "none")
    elif mode == "incremental" and before:
        # executescript steps the pragma to the end; execute() would free a single page.
        store.conn.executescript("PRAGMA incremental_vacuum;")
    # The WAL holds the freed pages until a checkpoint; truncate it so the disk sees them.
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return SpaceReport(mode, _pragma_int(store, "page_size"), before,
                       _pragma_int(store, "freelist_count"))
