"""The outbox: alerts are written to the store before any delivery, then delivered per channel.

Algorithm (the store side is the :class:`OutboxStore` protocol, which
ingestctl.store.alerts implements):

1. ``submit(alert)``: :func:`~ingestctl.alerts.policy.decide` against the key's last accepted
   alert. Suppressed alerts only reach the log. Otherwise the alert is written with one pending
   delivery per channel (none for a *recorded* resolution), and each delivery is tried at once.
2. A delivery that succeeds is marked sent; one that fails is marked failed with its reason and
   a next try at ``now + delivery_backoff(attempts)``; it stays in the outbox.
3. ``flush()`` (``ingestctl alerts flush``, the scheduler, the worker) retries every due
   delivery the same way, then raises ``delivery_failing`` for a channel whose oldest undelivered
   alert is older than ``delivery_alert_after`` (through the *other* channels), and its resolved
   notice once that channel has nothing left waiting.

Guarantee: at least once per alert and channel. A process that dies between a successful send
and ``mark_sent`` sends that alert again on the next flush; nothing is ever dropped, however long
a channel is down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ingestctl.alerts.log import LogChannel
from ingestctl.alerts.policy import Action, Decision, decide, delivery_backoff
from ingestctl.alerts.render import (
    delivery_failing_alert,
    delivery_key,
    delivery_restored_alert,
)
from ingestctl.clock import Clock
from ingestctl.config import AlertsConfig
from ingestctl.errors import DeliveryError
from ingestctl.models.alerts import Alert, Backlog, OutboxItem, SentRecord, Severity


class Channel(Protocol):
    """Something that delivers an alert or raises DeliveryError."""

    @property
    def name(self) -> str:
        """The channel's name, as stored with each delivery (``email``, ``webhook``)."""
        ...

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise :class:`~ingestctl.errors.DeliveryError`."""
        ...


class OutboxStore(Protocol):
    """What the outbox needs of the store (implemented on SQLite by ``ingestctl.store``)."""

    def add(self, alert: Alert, channels: Sequence[str], now: datetime) -> int:
        """Write ``alert`` with one pending delivery per channel; it becomes the key's latest."""
        ...

    def pending(self, now: datetime, *, force: bool = False) -> list[OutboxItem]:
        """Undelivered pairs whose next try is due (or unset), oldest alert first.

        ``force`` returns every undelivered pair, ignoring the backoff (``alerts flush``).
        An implementation shared by several processes should claim what it returns (a short
        lease) so two flushes do not both send an item.
        """
        ...

    def mark_sent(self, item_id: int, channel: str, now: datetime) -> None:
        """Record a successful delivery; the pair is no longer pending."""
        ...

    def mark_failed(
        self, item_id: int, channel: str, error: str, next_try_at: datetime
    ) -> None:
        """Record a failed delivery: attempts + 1, the error and the next try."""
        ...

    def last_sent(self, key: str) -> SentRecord | None:
        """The latest alert accepted (added) for ``key``, or None."""
        ...

    def backlog(self, channel: str) -> Backlog | None:
        """What is still undelivered for ``channel`` (due or not), or None when nothing is."""
        ...


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of one delivery try."""

    item_id: int
    channel: str
    key: str
    ok: bool
    error: str | None = None
    next_try_at: datetime | None = None


@dataclass
class SubmitResult:
    """What ``submit`` did: the decision, the outbox id when stored, and each delivery."""

    decision: Decision
    item_id: int | None = None
    outcomes: list[DeliveryOutcome] = field(default_factory=list)


class Outbox:
    """Deduplicates, stores and delivers alerts; retries what failed on ``flush``."""

    def __init__(
        self,
        store: OutboxStore,
        channels: Sequence[Channel],
        clock: Clock,
        *,
        repeat_interval: float = 4 * 3600.0,
        send_resolved: bool = True,
        delivery_alert_after: float | None = 3600.0,
        host: str = "localhost",
        log: LogChannel | None = None,
        backoff: Callable[[int], float] = delivery_backoff,
    ) -> None:
        self.store = store
        self.channels = {channel.name: channel for channel in channels}
        self.clock = clock
        self.repeat_interval = repeat_interval
        self.send_resolved = send_resolved
        self.delivery_alert_after = delivery_alert_after
        self.host = host
        self.log = log or LogChannel()
        self.backoff = backoff

    @classmethod
    def from_config(
        cls,
        store: OutboxStore,
        cfg: AlertsConfig,
        channels: Sequence[Channel],
        clock: Clock,
        host: str,
    ) -> Outbox:
        """An outbox with the repeat, resolved and delivery-alert settings of ``[alerts]``."""
        return cls(store, channels, clock, repeat_interval=cfg.repeat_interval,
                   send_resolved=cfg.send_resolved,
                   delivery_alert_after=cfg.delivery_alert_after or None, host=host)

    def submit(self, alert: Alert, *, exclude: Sequence[str] = ()) -> SubmitResult:
        """Decide, write, then try every channel (except ``exclude``) at once."""
        now = self.clock.now()
        decision = decide(alert, self.store.last_sent(alert.key), self.repeat_interval,
                          self.send_resolved, now)
        self.log.record(alert, str(decision.action), decision.reason)
        if decision.action is Action.SUPPRESS:
            return SubmitResult(decision)
        names = ([name for name in self.channels if name not in exclude]
                 if decision.send else [])
        item_id = self.store.add(alert, names, now)
        outcomes = [self._deliver(OutboxItem(item_id, name, alert)) for name in names]
        return SubmitResult(decision, item_id, outcomes)

    def flush(self, *, force: bool = False) -> list[DeliveryOutcome]:
        """Retry every due delivery (every waiting one with ``force``), then raise or resolve
        delivery-failing alerts."""
        outcomes = [self._deliver(item)
                    for item in self.store.pending(self.clock.now(), force=force)]
        self.check_delivery()
        return outcomes

    def check_delivery(self) -> list[SubmitResult]:
        """Alert (through the other channels) about channels that have failed for too long."""
        if self.delivery_alert_after is None:
            return []
        now = self.clock.now()
        results = []
        for name in self.channels:
            backlog = self.store.backlog(name)
            if backlog is None:
                last = self.store.last_sent(delivery_key(name))
                if last is None or last.severity is Severity.RESOLVED:
                    continue
                alert = delivery_restored_alert(name, self.host, now=now)
            elif (now - backlog.oldest).total_seconds() >= self.delivery_alert_after:
                alert = delivery_failing_alert(name, backlog.oldest, backlog.count,
                                               backlog.last_error, self.host, now=now)
            else:
                continue
            result = self.submit(alert, exclude=[name])
            if result.decision.action is not Action.SUPPRESS:
                results.append(result)
        return results

    def _deliver(self, item: OutboxItem) -> DeliveryOutcome:
        channel = self.channels.get(item.channel)
        error: str
        try:
            if channel is None:
                raise DeliveryError(item.channel, "this channel is not configured any more")
            channel.send(item.alert)
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a channel bug must not lose the alert
            # The message of an unexpected error may hold anything; keep only its type.
            error = f"alert delivery by {item.channel} failed: unexpected {type(exc).__name__}"
        else:
            self.store.mark_sent(item.id, item.channel, self.clock.now())
            return DeliveryOutcome(item.id, item.channel, item.alert.key, True)
        attempts = item.attempts + 1
        next_try = self.clock.now() + timedelta(seconds=self.backoff(attempts))
        self.store.mark_failed(item.id, item.channel, error, next_try)
        return DeliveryOutcome(item.id, item.channel, item.alert.key, False, error, next_try)
