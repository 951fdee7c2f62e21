"""Alerts: model, renderers, channels (email, webhook, log), dedup policy and the outbox."""

from ingestctl.alerts.outbox import (
    Backlog,
    Channel,
    DeliveryOutcome,
    Outbox,
    OutboxItem,
    OutboxStore,
    SubmitResult,
)
from ingestctl.alerts.policy import Action, Decision, decide, delivery_backoff
from ingestctl.models.alerts import (
    Alert,
    AlertKind,
    AttemptFacts,
    BreakerFacts,
    JobFacts,
    QuotaFacts,
    SentRecord,
    Severity,
    ViolationFacts,
)

__all__ = [
    "Action",
    "Alert",
    "AlertKind",
    "AttemptFacts",
    "Backlog",
    "BreakerFacts",
    "Channel",
    "Decision",
    "DeliveryOutcome",
    "JobFacts",
    "Outbox",
    "OutboxItem",
    "OutboxStore",
    "QuotaFacts",
    "SentRecord",
    "Severity",
    "SubmitResult",
    "ViolationFacts",
    "decide",
    "delivery_backoff",
]
