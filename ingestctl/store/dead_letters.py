"""Queries on the dead-letter queue: one entry per failed job, kept after requeue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingestctl.clock import iso_out
from ingestctl.models.jobs import Job, loads
from ingestctl.redact import redact_target, redact_text
from ingestctl.store import monitoring
from ingestctl.store.database import Connection, Row, Store, where_clause


@dataclass
class DeadLetter:
    """A dead-lettered job and what is needed to replay it."""

    id: int
    job_id: int
    active: bool
    name: str
    source: str
    target: str
    options: dict[str, Any]
    error_class: str
    error_type: str | None
    error_message: str | None
    attempts: int
    created_at: str
    updated_at: str
    requeued_at: str | None
    requeue_count: int

    def to_json(self) -> dict[str, Any]:
        """The ``dlq list --json`` shape; times are ISO 8601 UTC to the second; URLs redacted."""
        return {
            "id": self.id, "job_id": self.job_id, "active": self.active,
            "name": redact_text(self.name), "source": self.source,
            "target": redact_target(self.target), "options": self.options,
            "error": {"class": self.error_class, "type": self.error_type,
                      "message": redact_text(self.error_message) if self.error_message
                      else self.error_message},
            "attempts": self.attempts, "created_at": iso_out(self.created_at),
            "updated_at": iso_out(self.updated_at), "requeued_at": iso_out(self.requeued_at),
            "requeue_count": self.requeue_count,
        }


def _letter(row: Row) -> DeadLetter:
    return DeadLetter(
        id=row["id"], job_id=row["job_id"], active=bool(row["active"]), name=row["name"],
        source=row["source"], target=row["target"], options=loads(row["options"]),
        error_class=row["error_class"], error_type=row["error_type"],
        error_message=row["error_message"], attempts=row["attempts"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        requeued_at=row["requeued_at"], requeue_count=row["requeue_count"])


def bury(conn: Connection, job: Job, error_class: str, error_type: str,
         message: str, now: str) -> int:
    """Record (or re-activate) the job's one dead-letter entry; return its id."""
    conn.execute(
        "INSERT INTO dead_letters (job_id, name, source, target, options, error_class, "
        "error_type, error_message, attempts, created_at, updated_at) "
        "SELECT id, name, source, target, options, ?, ?, ?, attempts, ?, ? FROM jobs "
        "WHERE id = ? ON CONFLICT(job_id) DO UPDATE SET active = 1, "
        "error_class = excluded.error_class, error_type = excluded.error_type, "
        "error_message = excluded.error_message, attempts = excluded.attempts, "
        "updated_at = excluded.updated_at",
        (error_class, error_type, message, now, now, job.id))
    return int(conn.execute("SELECT id FROM dead_letters WHERE job_id = ?",
                            (job.id,)).fetchone()[0])


def mark_requeued(conn: Connection, job_id: int, now: str) -> None:
    """Take the job's entry out of the active queue; it stays as history."""
    conn.execute("UPDATE dead_letters SET active = 0, requeued_at = ?, "
                 "requeue_count = requeue_count + 1 WHERE job_id = ?", (now, job_id))


@dataclass
class LetterFilter:
    """Filters of ``dlq list`` and ``dlq retry --all``."""

    source: str | None = None
    error_class: str | None = None
    since: str | None = None
    limit: int | None = None
    after_id: int | None = None  # paging: entries with a larger id only


def _where(flt: LetterFilter) -> tuple[str, list[Any]]:
    return where_clause([("source = ?", flt.source), ("error_class = ?", flt.error_class),
                         ("updated_at >= ?", flt.since), ("id > ?", flt.after_id)],
                        base="active = 1")


def list_letters(store: Store, flt: LetterFilter) -> list[DeadLetter]:
    """Active dead letters, oldest first."""
    where, params = _where(flt)
    limit = f" LIMIT {int(flt.limit)}" if flt.limit else ""
    rows = store.query(f"SELECT * FROM dead_letters WHERE {where} ORDER BY id{limit}", params)
    return [_letter(r) for r in rows]


def count_letters(store: Store, flt: LetterFilter) -> int:
    """How many active dead letters match ``flt`` (its limit is ignored)."""
    where, params = _where(flt)
    return int(store.scalar(f"SELECT count(*) FROM dead_letters WHERE {where}", params) or 0)


def get_letter(store: Store, letter_id: int) -> DeadLetter | None:
    """A dead-letter entry by its id."""
    rows = store.query("SELECT * FROM dead_letters WHERE id = ?", (letter_id,))
    return _letter(rows[0]) if rows else None


def active_entry_of(store: Store, job_id: int) -> int | None:
    """The id of the job's active dead-letter entry, if it has one."""
    value = store.scalar("SELECT id FROM dead_letters WHERE job_id = ? AND active = 1", (job_id,))
    return int(value) if value is not None else None


def count_active(store: Store) -> int:
    """How many dead letters wait for a human, from the count the store keeps by trigger."""
    return monitoring.active_dead_letters(store)


def purge(store: Store, older_than: str) -> int:
    """Delete inactive entries and active ones last touched before ``older_than``."""
    with store.write() as conn:
        cursor = conn.execute("DELETE FROM dead_letters WHERE updated_at < ?", (older_than,))
        return cursor.rowcount
