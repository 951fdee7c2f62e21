"""Deduplication, resolved notices and delivery backoff, driven by a FakeClock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingestctl.alerts.policy import Action, decide, delivery_backoff
from ingestctl.alerts.render import (
    breaker_closed_alert,
    breaker_opened_alert,
    probe_alert,
    quota_alert,
)
from ingestctl.clock import FakeClock
from ingestctl.models.alerts import BreakerFacts, QuotaFacts, SentRecord, Severity

from .alerts_helpers import sample_dead_letter

HOUR = 3600.0


def sent(key: str, severity: Severity, clock: FakeClock) -> SentRecord:
    return SentRecord(key, severity, clock.now())


def test_first_alert_is_sent_then_suppressed_until_the_repeat_interval() -> None:
    clock = FakeClock()
    alert = sample_dead_letter(clock.now())
    assert decide(alert, None, 4 * HOUR, True, clock.now()).action is Action.SEND
    last = sent(alert.key, Severity.CRITICAL, clock)
    clock.advance(4 * HOUR - 1)
    decision = decide(alert, last, 4 * HOUR, True, clock.now())
    assert decision.action is Action.SUPPRESS
    assert decision.reason == "already sent 3h 59m ago; repeats after 4h"
    clock.advance(1)
    decision = decide(alert, last, 4 * HOUR, True, clock.now())
    assert (decision.action, decision.reason) == (Action.SEND, "still firing after 4h")


def test_suppression_reason_names_elapsed_time() -> None:
    clock = FakeClock()
    alert = sample_dead_letter(clock.now())
    last = sent(alert.key, Severity.CRITICAL, clock)
    clock.advance(90 * 60)
    assert decide(alert, last, 4 * HOUR, True, clock.now()).reason == (
        "already sent 1h 30m ago; repeats after 4h")


def test_resolved_needs_a_firing_and_send_resolved() -> None:
    clock = FakeClock()
    opened = breaker_opened_alert(BreakerFacts("k", 5), "h", now=clock.now())
    closed = breaker_closed_alert("k", "h", now=clock.now())
    never = decide(closed, None, HOUR, True, clock.now())
    assert (never.action, never.reason) == (Action.SUPPRESS, "nothing fired for this key")
    firing = sent(opened.key, Severity.WARNING, clock)
    clock.advance(60)
    assert decide(closed, firing, HOUR, True, clock.now()).action is Action.SEND
    disabled = decide(closed, firing, HOUR, False, clock.now())
    assert disabled.action is Action.RECORD
    twice = decide(closed, sent(opened.key, Severity.RESOLVED, clock), HOUR, True, clock.now())
    assert twice.action is Action.SUPPRESS


def test_new_firing_after_resolving_is_sent_at_once() -> None:
    clock = FakeClock()
    opened = breaker_opened_alert(BreakerFacts("k", 5), "h", now=clock.now())
    resolved = sent(opened.key, Severity.RESOLVED, clock)
    clock.advance(1)
    decision = decide(opened, resolved, 4 * HOUR, True, clock.now())
    assert (decision.action, decision.reason) == (
        Action.SEND, "fired again after it was resolved")


def test_escalation_is_sent_at_once_but_not_a_downgrade() -> None:
    clock = FakeClock()
    quota = QuotaFacts("merchant", "a", 96, 100)
    warning = quota_alert(quota, critical=False, threshold=0.8, host="h", now=clock.now())
    critical = quota_alert(quota, critical=True, threshold=0.95, host="h", now=clock.now())
    clock.advance(60)
    up = decide(critical, sent(warning.key, Severity.WARNING, clock), 4 * HOUR, True,
                clock.now())
    assert (up.action, up.reason) == (Action.SEND, "escalated from warning to critical")
    down = decide(warning, sent(warning.key, Severity.CRITICAL, clock), 4 * HOUR, True,
                  clock.now())
    assert down.action is Action.SUPPRESS


def test_test_alerts_are_always_sent() -> None:
    clock = FakeClock()
    probe = probe_alert("h", now=clock.now())
    assert decide(probe, sent(probe.key, Severity.INFO, clock), HOUR, True,
                  clock.now() + timedelta(seconds=1)).action is Action.SEND


@pytest.mark.parametrize(("attempts", "wait"), [
    (0, 0.0), (1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0), (10_000, 3600.0)])
def test_delivery_backoff(attempts: int, wait: float) -> None:
    assert delivery_backoff(attempts) == wait
