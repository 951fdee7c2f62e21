"""Jobs and attempts as the rest of ingestctl sees them: states, specs and their JSON shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ingestctl.clock import iso_out
from ingestctl.redact import redact_data, redact_target, redact_text


class JobStatus(StrEnum):
    """The lifecycle states (docs/design.md, job lifecycle)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    RETRYING = "retrying"
    FAILED = "failed"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.RETRYING)


class AttemptOutcome(StrEnum):
    """How one attempt ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CRASHED = "crashed"
    # Stopped by SIGINT or SIGTERM: kept in the history, but it uses up no attempt.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class JobSpec:
    """What to import: enough to create a job, and to replay it from the dead-letter queue."""

    source: str
    target: str
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def import_key(self) -> str:
        """The overlap key: the configured name, else source and the target as shown.

        The target is redacted (docs/guide/security.md): the key names the import in alerts,
        metric labels, health checks and the log, and a rotated token is the same import.
        """
        return self.name or f"{self.source}:{redact_target(self.target)}"

    @property
    def display_name(self) -> str:
        """The name shown to users."""
        return self.name or self.import_key


@dataclass
class ErrorInfo:
    """The error class, type and message of a failed attempt."""

    error_class: str
    type: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The ``error`` object (docs/reference/json.md)."""
        return {"class": self.error_class, "type": self.type,
                "message": redact_text(self.message)}


@dataclass
class Attempt:
    """One run of a job."""

    job_id: int
    number: int
    owner: str
    started_at: str
    finished_at: str | None
    outcome: AttemptOutcome
    error: ErrorInfo | None
    traceback: str | None
    items: int
    requests: int
    note: str | None = None  # why an attempt without an error ended (``interrupted by SIGINT``)

    def to_json(self) -> dict[str, Any]:
        """The attempt as shown by ``jobs show --json``."""
        return {
            "number": self.number,
            "owner": self.owner,
            "started_at": iso_out(self.started_at),
            "finished_at": iso_out(self.finished_at),
            "outcome": self.outcome.value,
            "error": self.error.to_json() if self.error else None,
            "items": self.items,
            "requests": self.requests,
            "traceback": redact_text(self.traceback) if self.traceback else None,
            "note": self.note,
        }


@dataclass
class Job:
    """A job row."""

    id: int
    import_id: int
    import_key: str
    name: str
    source: str
    target: str
    options: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    items: int
    error: ErrorInfo | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    next_attempt_at: str | None
    lease_owner: str | None
    lease_expires_at: str | None
    heartbeat_at: str | None
    progress: dict[str, Any]
    result: dict[str, Any]

    @property
    def spec(self) -> JobSpec:
        """What this job imports."""
        return JobSpec(self.source, self.target, self.name if self.name != self.import_key
                       else "", self.options)

    def to_json(self) -> dict[str, Any]:
        """The job object (docs/reference/json.md)."""
        return {
            "id": self.id,
            "name": redact_text(self.name),
            "source": self.source,
            "target": redact_target(self.target),
            "status": self.status.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "items": self.items,
            "error": self.error.to_json() if self.error else None,
            "created_at": iso_out(self.created_at),
            "started_at": iso_out(self.started_at),
            "finished_at": iso_out(self.finished_at),
            "next_attempt_at": iso_out(self.next_attempt_at),
            "result": redact_data(self.result) or None,
        }


def loads(text: str | None) -> dict[str, Any]:
    """A JSON object column, empty when null."""
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}
