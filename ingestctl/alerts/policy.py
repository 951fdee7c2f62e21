"""Pure rules: whether an alert goes out now (deduplication), and when a failed delivery retries.

Deduplication works per key on the key's latest *accepted* alert (queued counts as sent, so
an alert waiting in the outbox for a dead mail server is not queued again on every run):

- a firing alert (info, warning, critical) is sent when nothing fired for the key yet, when
  the key was resolved since, when it is more severe than what was sent (escalation), or once
  ``repeat_interval`` has passed; otherwise it is suppressed;
- a resolved notice is sent only when something fired for the key, and only with
  ``send_resolved``; without it the resolution is still *recorded* so that the next firing
  is sent at once;
- test alerts are always sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ingestctl.models.alerts import Alert, AlertKind, SentRecord, Severity
from ingestctl.units import format_duration

DELIVERY_BACKOFF_INITIAL = 30.0
DELIVERY_BACKOFF_FACTOR = 2.0
DELIVERY_BACKOFF_CAP = 3600.0


class Action(StrEnum):
    """What the outbox does with an alert."""

    SEND = "send"  # store it and deliver it to every channel
    RECORD = "record"  # store it as the key's latest state, deliver it nowhere
    SUPPRESS = "suppress"  # drop it (the log still shows it)


@dataclass(frozen=True)
class Decision:
    """The verdict on one alert and why, in words an operator understands."""

    action: Action
    reason: str

    @property
    def send(self) -> bool:
        """True when the alert goes to the channels."""
        return self.action is Action.SEND


def _send(reason: str) -> Decision:
    return Decision(Action.SEND, reason)


def decide(
    alert: Alert,
    last_sent_for_key: SentRecord | None,
    repeat_interval: float,
    send_resolved: bool,
    now: datetime,
) -> Decision:
    """Whether ``alert`` is sent now, given the last alert accepted for its key."""
    last = last_sent_for_key
    if alert.kind is AlertKind.TEST:
        return _send("test alert")
    if alert.resolves:
        if last is None or last.severity is Severity.RESOLVED:
            return Decision(Action.SUPPRESS, "nothing fired for this key")
        if not send_resolved:
            return Decision(Action.RECORD, "resolved notices are disabled (send_resolved)")
        return _send(f"resolves the {last.severity} alert sent at {_at(last.sent_at)}")
    if last is None:
        return _send("first alert for this key")
    if last.severity is Severity.RESOLVED:
        return _send("fired again after it was resolved")
    if alert.severity.rank > last.severity.rank:
        return _send(f"escalated from {last.severity} to {alert.severity}")
    elapsed = (now - last.sent_at).total_seconds()
    if elapsed < repeat_interval:
        return Decision(
            Action.SUPPRESS,
            f"already sent {format_duration(max(elapsed, 0.0))} ago; repeats after "
            f"{format_duration(repeat_interval)}",
        )
    return _send(f"still firing after {format_duration(elapsed)}")


def delivery_backoff(
    attempts: int,
    *,
    initial: float = DELIVERY_BACKOFF_INITIAL,
    factor: float = DELIVERY_BACKOFF_FACTOR,
    cap: float = DELIVERY_BACKOFF_CAP,
) -> float:
    """Seconds to wait after the ``attempts``-th failed delivery: 30 s, 60 s, ... capped at 1 h."""
    if attempts < 1:
        return 0.0
    # Exponent bounded so huge attempt counts cannot overflow the float.
    return min(cap, initial * factor ** min(attempts - 1, 64))


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
