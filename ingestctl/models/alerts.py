"""What an alert is, and the plain facts the store hands over to build one.

An :class:`Alert` is immutable and JSON-able (``to_dict``/``from_dict``) so the outbox can
store it as one text column. Alerts that describe the same condition share a ``key`` (the kind
family plus the import, breaker, quota scope or channel); a notice that the condition cleared
has the same key and :attr:`Severity.RESOLVED`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ingestctl.clock import from_iso, to_iso


class Severity(StrEnum):
    """How urgent an alert is; ``resolved`` says a condition cleared."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    RESOLVED = "resolved"

    @property
    def rank(self) -> int:
        """Order of urgency, used to send an escalation at once (resolved ranks lowest)."""
        return _RANK[self]


_RANK = {Severity.RESOLVED: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class AlertKind(StrEnum):
    """The events that raise alerts."""

    JOB_DEAD_LETTERED = "job_dead_lettered"
    JOB_RECOVERED = "job_recovered"
    BREAKER_OPENED = "breaker_opened"
    BREAKER_CLOSED = "breaker_closed"
    QUOTA_WARNING = "quota_warning"
    QUOTA_CRITICAL = "quota_critical"
    QUALITY_VIOLATION = "quality_violation"
    SCHEDULE_MISSED = "schedule_missed"
    DELIVERY_FAILING = "delivery_failing"
    TEST = "test"


@dataclass(frozen=True)
class Alert:
    """One alert, ready for every channel: subject and body are already rendered."""

    key: str
    kind: AlertKind
    severity: Severity
    title: str
    subject: str
    body: str
    fields: dict[str, Any]
    created_at: datetime

    @property
    def resolves(self) -> bool:
        """True for a notice that the condition behind ``key`` cleared."""
        return self.severity is Severity.RESOLVED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, for the outbox table and ``alerts list --json``."""
        return {
            "key": self.key,
            "kind": str(self.kind),
            "severity": str(self.severity),
            "title": self.title,
            "subject": self.subject,
            "body": self.body,
            "fields": self.fields,
            "created_at": to_iso(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The inverse of :meth:`to_dict`."""
        created = from_iso(data["created_at"])
        if created is None:
            raise ValueError("alert without created_at")
        return cls(
            key=data["key"],
            kind=AlertKind(data["kind"]),
            severity=Severity(data["severity"]),
            title=data["title"],
            subject=data["subject"],
            body=data["body"],
            fields=dict(data.get("fields") or {}),
            created_at=created,
        )


@dataclass(frozen=True)
class JobFacts:
    """A job as an alert needs it; ``import_name`` is the configured name or the import key."""

    job_id: int
    import_name: str
    source: str
    target: str
    status: str = ""
    max_attempts: int | None = None


@dataclass(frozen=True)
class AttemptFacts:
    """One attempt of a job: its number and, when it failed, the error."""

    number: int
    error_class: str | None = None
    error_type: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class BreakerFacts:
    """A circuit breaker's state as the breaker file holds it."""

    key: str
    failures: int = 0
    open_until: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class QuotaFacts:
    """Quota use of one API and scope (an account, a site or a project)."""

    api: str
    scope: str
    used: int
    limit: int
    resets_at: datetime | None = None

    @property
    def ratio(self) -> float:
        """Share of the quota used (0 when there is no limit)."""
        return self.used / self.limit if self.limit > 0 else 0.0


@dataclass(frozen=True)
class ViolationFacts:
    """One data-quality rule that a run broke."""

    rule: str
    severity: str
    message: str
    observed: Any = None
    threshold: Any = None
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SentRecord:
    """The last alert of a key that was accepted for delivery (queued counts as sent)."""

    key: str
    severity: Severity
    sent_at: datetime


@dataclass(frozen=True)
class OutboxItem:
    """One undelivered (alert, channel) pair; ``attempts`` counts failed deliveries so far."""

    id: int
    channel: str
    alert: Alert
    attempts: int = 0
    next_try_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Backlog:
    """What waits for one channel: how many deliveries, since when, and the last error."""

    count: int
    oldest: datetime
    last_error: str | None
