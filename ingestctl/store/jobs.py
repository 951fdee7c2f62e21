"""Queries on imports, jobs and attempts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ingestctl.models.jobs import (
    ACTIVE_STATUSES,
    Attempt,
    AttemptOutcome,
    ErrorInfo,
    Job,
    JobSpec,
    JobStatus,
    loads,
)
from ingestctl.store.database import POSTGRES, Connection, Row, Store, where_clause

_ACTIVE = tuple(s.value for s in ACTIVE_STATUSES)


def _job(row: Row) -> Job:
    error = (ErrorInfo(row["error_class"], row["error_type"] or "", row["error_message"] or "")
             if row["error_class"] else None)
    return Job(
        id=row["id"], import_id=row["import_id"], import_key=row["import_key"],
        name=row["name"], source=row["source"], target=row["target"],
        options=loads(row["options"]), status=JobStatus(row["status"]),
        attempts=row["attempts"], max_attempts=row["max_attempts"], items=row["items"],
        error=error, created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], next_attempt_at=row["next_attempt_at"],
        lease_owner=row["lease_owner"], lease_expires_at=row["lease_expires_at"],
        heartbeat_at=row["heartbeat_at"], progress=loads(row["progress"]),
        result=loads(row["result"]),
    )


def _attempt(row: Row) -> Attempt:
    error = (ErrorInfo(row["error_class"], row["error_type"] or "", row["error_message"] or "")
             if row["error_class"] else None)
    return Attempt(job_id=row["job_id"], number=row["number"], owner=row["owner"],
                   started_at=row["started_at"], finished_at=row["finished_at"],
                   outcome=AttemptOutcome(row["outcome"]), error=error,
                   traceback=row["traceback"], items=row["items"], requests=row["requests"],
                   note=None if error else row["error_message"])


def ensure_import(conn: Connection, spec: JobSpec, now: str) -> int:
    """The id of the import row for ``spec``, created on first use."""
    conn.execute(
        "INSERT INTO imports (key, name, source, target, created_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET target = excluded.target",
        (spec.import_key, spec.display_name, spec.source, spec.target, now))
    return int(conn.execute("SELECT id FROM imports WHERE key = ?",
                            (spec.import_key,)).fetchone()[0])


def insert_job(conn: Connection, spec: JobSpec, import_id: int, max_attempts: int,
               now: str) -> int:
    """Insert a pending job and return its id."""
    row = conn.execute(
        "INSERT INTO jobs (import_id, import_key, name, source, target, options, status, "
        "max_attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (import_id, spec.import_key, spec.display_name, spec.source, spec.target,
         json.dumps(spec.options, sort_keys=True), JobStatus.PENDING.value, max_attempts,
         now)).fetchone()
    return int(row[0])


def get_job(store: Store, job_id: int) -> Job | None:
    """The job with this id, or None."""
    rows = store.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return _job(rows[0]) if rows else None


def active_job(store: Store, import_key: str) -> Job | None:
    """The pending, processing or retrying job of an import, if any."""
    rows = store.query(
        f"SELECT * FROM jobs WHERE import_key = ? AND status IN {_ACTIVE}", (import_key,))
    return _job(rows[0]) if rows else None


def jobs_in_status(store: Store, statuses: Sequence[JobStatus]) -> list[Job]:
    """Every job in one of ``statuses``, oldest first."""
    marks = ",".join("?" * len(statuses))
    rows = store.query(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY id",
                       [s.value for s in statuses])
    return [_job(r) for r in rows]


def due_jobs(store: Store, now: str, limit: int = 100) -> list[Job]:
    """Pending and retrying jobs whose next attempt time has come, earliest first."""
    rows = store.query(
        "SELECT * FROM jobs WHERE status IN ('pending', 'retrying') "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        "ORDER BY coalesce(next_attempt_at, created_at), id LIMIT ?", (now, limit))
    return [_job(r) for r in rows]


def claim(store: Store, job_id: int, owner: str, lease_until: str, now: str) -> Job | None:
    """Move a pending or retrying job to processing under ``owner``; None if someone else won.

    One UPDATE with the state in its WHERE clause is the atomic claim: SQLite serialises
    writers, so of two processes racing for the same job exactly one sees a changed row.
    """
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE jobs SET status = 'processing', attempts = attempts + 1, "
            "lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, "
            "started_at = coalesce(started_at, ?), next_attempt_at = NULL, progress = NULL "
            "WHERE id = ? AND status IN ('pending', 'retrying')",
            (owner, lease_until, now, now, job_id))
        if cursor.rowcount != 1:
            return None
        job = _job(store.query("SELECT * FROM jobs WHERE id = ?", (job_id,))[0])
        _start_attempt(conn, job, owner, now)
    return job


def _start_attempt(conn: Connection, job: Job, owner: str, now: str) -> None:
    conn.execute(
        "INSERT INTO attempts (job_id, number, owner, started_at, outcome) "
        "VALUES (?, ?, ?, ?, 'running')", (job.id, job.attempts, owner, now))


def claim_next(store: Store, owner: str, lease_until: str, now: str, due_by: str,
               skip: Sequence[int] = ()) -> Job | None:
    """Claim the job due soonest (by ``due_by``) for ``owner``; None when none is due.

    One UPDATE picks and takes the job. On PostgreSQL its subquery locks the row with
    ``FOR UPDATE SKIP LOCKED``, so workers on several hosts each take a different job without
    waiting on one another; on SQLite the write transaction serialises claimers. ``skip``
    leaves out jobs this worker already ran in the current pass.
    """
    lock = " FOR UPDATE SKIP LOCKED" if store.dialect == POSTGRES else ""
    marks = ",".join("?" * len(skip))
    skipped = f"AND id NOT IN ({marks}) " if skip else ""
    with store.write() as conn:
        rows = store.query(
            "UPDATE jobs SET status = 'processing', attempts = attempts + 1, "
            "lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, "
            "started_at = coalesce(started_at, ?), next_attempt_at = NULL, progress = NULL "
            "WHERE id = (SELECT id FROM jobs WHERE status IN ('pending', 'retrying') "
            f"AND (next_attempt_at IS NULL OR next_attempt_at <= ?) {skipped}"
            f"ORDER BY coalesce(next_attempt_at, created_at), id LIMIT 1{lock}) "
            "AND status IN ('pending', 'retrying') RETURNING *",
            (owner, lease_until, now, now, due_by, *skip))
        if not rows:
            return None
        job = _job(rows[0])
        _start_attempt(conn, job, owner, now)
    return job


def take_over(store: Store, job_id: int, owner: str | None, new_owner: str) -> bool:
    """Move a processing job's lease from ``owner`` (gone) to ``new_owner``, who records its
    crashed attempt; False when another process got there first or the job moved on."""
    with store.write() as conn:
        return conn.execute(
            "UPDATE jobs SET lease_owner = ? WHERE id = ? AND status = 'processing' "
            "AND lease_owner IS NOT DISTINCT FROM ?", (new_owner, job_id, owner)).rowcount == 1


def next_due_at(store: Store) -> str | None:
    """When the earliest retrying job is due (pending jobs are due at once), or None."""
    value = store.scalar("SELECT min(coalesce(next_attempt_at, created_at)) FROM jobs "
                         "WHERE status IN ('pending', 'retrying')")
    return str(value) if value is not None else None


def next_lease_expiry(store: Store) -> str | None:
    """When the earliest lease of a processing job runs out, or None."""
    value = store.scalar("SELECT min(lease_expires_at) FROM jobs WHERE status = 'processing'")
    return str(value) if value is not None else None


def renew_lease(store: Store, job_id: int, owner: str, lease_until: str, now: str,
                progress: dict[str, Any] | None) -> bool:
    """Extend the lease and record progress; False when the job is no longer ours."""
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE jobs SET lease_expires_at = ?, heartbeat_at = ?, "
            "progress = coalesce(?, progress) "
            "WHERE id = ? AND status = 'processing' AND lease_owner = ?",
            (lease_until, now, json.dumps(progress) if progress is not None else None,
             job_id, owner))
        return cursor.rowcount == 1


@dataclass
class AttemptEnd:
    """How an attempt finished, written in one transaction with the job's new state."""

    outcome: AttemptOutcome
    status: JobStatus
    now: str
    items: int = 0
    requests: int = 0
    error: ErrorInfo | None = None
    traceback: str | None = None
    next_attempt_at: str | None = None
    result: dict[str, Any] | None = None
    job_items: int | None = None
    refund_attempt: bool = False  # forget the attempt (a deferral before any work)
    grant_attempt: bool = False  # keep the attempt but allow one more (an interruption)
    note: str | None = None  # the attempt's message when it ended without an error


def end_attempt(conn: Connection, job: Job, end: AttemptEnd) -> None:
    """Close the job's current attempt and move the job to its next state."""
    error = end.error
    if end.refund_attempt:
        conn.execute("DELETE FROM attempts WHERE job_id = ? AND number = ?",
                     (job.id, job.attempts))
    else:
        conn.execute(
            "UPDATE attempts SET finished_at = ?, outcome = ?, error_class = ?, error_type = ?, "
            "error_message = ?, traceback = ?, items = ?, requests = ? "
            "WHERE job_id = ? AND number = ?",
            (end.now, end.outcome.value, error.error_class if error else None,
             error.type if error else None, error.message if error else end.note,
             end.traceback, end.items, end.requests, job.id, job.attempts))
    finished = end.now if end.status in (JobStatus.COMPLETED, JobStatus.FAILED) else None
    conn.execute(
        "UPDATE jobs SET status = ?, attempts = attempts - ?, max_attempts = max_attempts + ?, "
        "error_class = ?, error_type = ?, "
        "error_message = ?, finished_at = ?, next_attempt_at = ?, lease_owner = NULL, "
        "lease_expires_at = NULL, items = coalesce(?, items), result = coalesce(?, result), "
        "progress = NULL WHERE id = ?",
        (end.status.value, 1 if end.refund_attempt else 0, 1 if end.grant_attempt else 0,
         error.error_class if error else None,
         error.type if error else None, error.message if error else None, finished,
         end.next_attempt_at, end.job_items,
         json.dumps(end.result, sort_keys=True) if end.result is not None else None, job.id))
    if end.status is JobStatus.COMPLETED:
        conn.execute("UPDATE imports SET last_success_at = ?, last_success_job_id = ? "
                     "WHERE id = ?", (end.now, job.id, job.import_id))


def release_failed(conn: Connection, job: Job, error: ErrorInfo, now: str,
                   retry_at: str) -> None:
    """End the attempt and make the job retry at ``retry_at``, writing as little as possible:
    the fallback when the full record (traceback, dead letter) could not be written."""
    conn.execute(
        "UPDATE attempts SET finished_at = ?, outcome = 'failed', error_class = ?, "
        "error_type = ?, error_message = ? WHERE job_id = ? AND number = ?",
        (now, error.error_class, error.type, error.message, job.id, job.attempts))
    conn.execute(
        "UPDATE jobs SET status = 'retrying', next_attempt_at = ?, error_class = ?, "
        "error_type = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL, "
        "progress = NULL WHERE id = ?",
        (retry_at, error.error_class, error.type, error.message, job.id))


def requeue(conn: Connection, job_id: int, now: str, extra_attempts: int) -> None:
    """Make a failed or retrying job due now, granting it more attempts when it had none left."""
    conn.execute(
        "UPDATE jobs SET status = 'retrying', next_attempt_at = ?, finished_at = NULL, "
        "max_attempts = CASE WHEN max_attempts > attempts + ? THEN max_attempts "
        "ELSE attempts + ? END WHERE id = ?",
        (now, extra_attempts, extra_attempts, job_id))


def attempts_of(store: Store, job_id: int) -> list[Attempt]:
    """Every attempt of a job, in order."""
    rows = store.query("SELECT * FROM attempts WHERE job_id = ? ORDER BY number", (job_id,))
    return [_attempt(r) for r in rows]


@dataclass
class JobFilter:
    """Filters of ``jobs list``."""

    status: str | None = None
    source: str | None = None
    since: str | None = None
    name: str | None = None
    limit: int = 50


def list_jobs(store: Store, flt: JobFilter) -> list[Job]:
    """Jobs matching the filter, newest first."""
    where, params = where_clause([("status = ?", flt.status), ("source = ?", flt.source),
                                  ("created_at >= ?", flt.since), ("name = ?", flt.name)])
    rows = store.query(f"SELECT * FROM jobs WHERE {where} "
                       "ORDER BY id DESC LIMIT ?", [*params, flt.limit])
    return [_job(r) for r in rows]


def previous_completed_run(store: Store, import_id: int, job_id: int
                           ) -> tuple[int, dict[str, Any]] | None:
    """Items and result of the latest completed job of the import before ``job_id``.

    The quality rules compare with it (volume, the disapproved share); None before the first.
    """
    rows = store.query("SELECT items, result FROM jobs WHERE import_id = ? AND id < ? AND "
                       "status = 'completed' ORDER BY id DESC LIMIT 1", (import_id, job_id))
    if not rows:
        return None
    result = json.loads(rows[0]["result"]) if rows[0]["result"] else {}
    return int(rows[0]["items"] or 0), result if isinstance(result, dict) else {}
