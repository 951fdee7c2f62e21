"""What ``ingestctl status`` shows: a plain snapshot of the store, and its JSON form.

``ingestctl.monitoring.snapshots.status_snapshot`` fills :class:`StatusSnapshot` with a few
indexed queries; ``ingestctl.monitoring.dashboard`` renders it with Rich and ``status --json``
prints :meth:`StatusSnapshot.to_json`, so both show the same data. Nothing here imports Rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestctl.errors import ConfigError


def iso(moment: datetime | None) -> str | None:
    """A time as JSON shows it: ISO 8601 UTC to the second, ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


HOURS = 24  # the hourly history of each source


def _hours() -> list[int]:
    return [0] * HOURS


@dataclass
class SourceSummary:
    """One source: jobs finished in the window by outcome, jobs unfinished now, and the jobs
    completed and failed in each of the last 24 hours (oldest first, the current hour last)."""

    source: str
    completed: int = 0
    failed: int = 0
    pending: int = 0
    processing: int = 0
    retrying: int = 0
    hourly_completed: list[int] = field(default_factory=_hours)
    hourly_failed: list[int] = field(default_factory=_hours)

    @property
    def success_rate(self) -> float | None:
        """Completed / finished in the window, 0..1; None when nothing finished."""
        finished = self.completed + self.failed
        return self.completed / finished if finished else None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        rate = self.success_rate
        return {"source": self.source, "completed": self.completed, "failed": self.failed,
                "pending": self.pending, "processing": self.processing,
                "retrying": self.retrying,
                "success_rate": None if rate is None else round(rate, 4),
                "hourly": {"completed": self.hourly_completed, "failed": self.hourly_failed}}


@dataclass
class RunningJob:
    """A job in ``processing`` with the progress its runner last published."""

    id: int
    name: str
    source: str
    target: str
    attempt: int
    max_attempts: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    owner: str | None
    items: int = 0
    current: str | None = None
    files_done: int | None = None
    files_total: int | None = None
    lease_expired: bool = False

    def elapsed(self, now: datetime) -> float:
        """Seconds since the job first started."""
        return max(0.0, (now - self.started_at).total_seconds()) if self.started_at else 0.0

    def to_json(self, now: datetime) -> dict[str, Any]:
        """JSON form; ``elapsed`` in seconds."""
        return {"id": self.id, "name": self.name, "source": self.source,
                "target": self.target, "attempt": self.attempt,
                "max_attempts": self.max_attempts, "started_at": iso(self.started_at),
                "elapsed": round(self.elapsed(now), 3), "heartbeat_at": iso(self.heartbeat_at),
                "lease_expires_at": iso(self.lease_expires_at), "owner": self.owner,
                "items": self.items, "current": self.current, "files_done": self.files_done,
                "files_total": self.files_total, "lease_expired": self.lease_expired}


@dataclass
class QueuedJob:
    """A job waiting to run: ``retrying`` (with its last error) or ``pending``."""

    id: int
    name: str
    source: str
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    error_class: str | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "name": self.name, "source": self.source,
                "status": self.status, "attempts": self.attempts,
                "max_attempts": self.max_attempts, "next_attempt_at": iso(self.next_attempt_at),
                "error_class": self.error_class, "error_message": self.error_message}


@dataclass
class DeadLetterRow:
    """An active dead-letter entry."""

    id: int
    job_id: int
    name: str
    source: str
    error_class: str
    error_message: str | None
    attempts: int
    updated_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "job_id": self.job_id, "name": self.name, "source": self.source,
                "error_class": self.error_class, "error_message": self.error_message,
                "attempts": self.attempts, "updated_at": iso(self.updated_at)}


@dataclass
class BreakerRow:
    """One circuit breaker from ``breakers.json``."""

    key: str
    state: str
    failures: int
    open_until: datetime | None
    last_error_class: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"key": self.key, "state": self.state, "failures": self.failures,
                "open_until": iso(self.open_until), "last_error_class": self.last_error_class}


@dataclass
class QuotaRow:
    """Use of one API quota (api + scope) in its current period."""

    api: str
    scope: str
    used: int
    limit: int
    period: str = "day"
    counted_by: str = "ingestctl"

    @property
    def ratio(self) -> float:
        """Used / limit, 0..1 (may exceed 1 when a remote counter says so)."""
        return self.used / self.limit if self.limit else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"api": self.api, "scope": self.scope, "period": self.period,
                "used": self.used, "limit": self.limit, "ratio": round(self.ratio, 4),
                "counted_by": self.counted_by}


@dataclass
class FailureRow:
    """A failed (or crashed) attempt."""

    job_id: int
    name: str
    source: str
    attempt: int
    outcome: str
    finished_at: datetime | None
    error_class: str | None
    error_type: str | None
    error_message: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"job_id": self.job_id, "name": self.name, "source": self.source,
                "attempt": self.attempt, "outcome": self.outcome,
                "finished_at": iso(self.finished_at), "error_class": self.error_class,
                "error_type": self.error_type, "error_message": self.error_message}


@dataclass
class AlertRow:
    """A stored alert and how its deliveries stand (``sent``, ``waiting`` or ``none``)."""

    id: int
    kind: str
    severity: str
    subject: str
    created_at: datetime | None
    delivery: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "kind": self.kind, "severity": self.severity,
                "subject": self.subject, "created_at": iso(self.created_at),
                "delivery": self.delivery}


@dataclass
class ScheduleRow:
    """A configured import with a schedule, its next run (when known) and last success."""

    name: str
    source: str
    schedule: str
    timezone: str
    next_run: datetime | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    error: str | None = None
    missed: int = 0  # slots missed inside the status window

    @property
    def failing(self) -> bool:
        """Its last finished run failed, a slot was missed, or its schedule is invalid."""
        failed_last = self.last_failure is not None and (
            self.last_success is None or self.last_failure > self.last_success)
        return failed_last or bool(self.missed) or self.error is not None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "source": self.source, "schedule": self.schedule,
                "timezone": self.timezone, "next_run": iso(self.next_run),
                "last_success": iso(self.last_success),
                "last_failure": iso(self.last_failure), "missed": self.missed,
                "error": self.error}


@dataclass
class QualityRow:
    """Data-quality violations of an import's last finished run."""

    name: str
    job_id: int
    violations: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"import": self.name, "job_id": self.job_id, "violations": [
            {k: v.get(k) for k in ("rule", "severity", "message")} for v in self.violations]}


@dataclass
class StatusSnapshot:
    """Everything ``status`` shows; lists are newest or most urgent first, capped by the store."""

    generated_at: datetime
    window: float = 86400.0
    database: str = ""
    database_exists: bool = True
    sources: list[SourceSummary] = field(default_factory=list)
    running: list[RunningJob] = field(default_factory=list)
    queue: list[QueuedJob] = field(default_factory=list)
    queue_total: int = 0
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    dead_letters_total: int = 0
    breakers: list[BreakerRow] = field(default_factory=list)
    quotas: list[QuotaRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    alerts: list[AlertRow] | None = None  # None: no alert tables in this store
    undelivered_alerts: int = 0
    schedules: list[ScheduleRow] = field(default_factory=list)
    scheduler_heartbeat: datetime | None = None
    quality: list[QualityRow] = field(default_factory=list)  # imports with violations only

    def to_json(self) -> dict[str, Any]:
        """The ``status --json`` document."""
        now = self.generated_at
        return {
            "generated_at": iso(now),
            "window_seconds": self.window,
            "database": self.database,
            "database_exists": self.database_exists,
            "sources": [s.to_json() for s in self.sources],
            "running": [r.to_json(now) for r in self.running],
            "queue": {"total": self.queue_total, "jobs": [q.to_json() for q in self.queue]},
            "dead_letters": {"total": self.dead_letters_total,
                             "entries": [d.to_json() for d in self.dead_letters]},
            "breakers": [b.to_json() for b in self.breakers],
            "quotas": [q.to_json() for q in self.quotas],
            "failures": [f.to_json() for f in self.failures],
            "alerts": None if self.alerts is None else {
                "undelivered": self.undelivered_alerts,
                "recent": [a.to_json() for a in self.alerts]},
            "schedules": [s.to_json() for s in self.schedules],
            "scheduler_heartbeat": iso(self.scheduler_heartbeat),
            "quality": [q.to_json() for q in self.quality],
        }


def fill_next_runs(snapshot: StatusSnapshot) -> None:
    """Compute the next run of schedules the scheduler has not published (imports APScheduler).

    Only the text view calls this: ``status --json`` must stay free of APScheduler, so it
    shows the next runs the scheduler daemon wrote to the store, or null.
    """
    # Start-up weight: APScheduler stays out of `status --json` (tests/test_monitoring_cli.py).
    from ingestctl.scheduler.spec import parse_schedule

    for row in snapshot.schedules:
        if row.next_run is not None:
            continue
        try:
            row.next_run = parse_schedule(row.schedule, row.timezone).next_run(
                snapshot.generated_at)
        except ConfigError as exc:
            row.error = exc.message
