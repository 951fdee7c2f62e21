"""The outbox algorithm against an in-memory OutboxStore, fake channels and a real SMTP server."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from ingestctl.alerts.channels import build_channels
from ingestctl.alerts.email import EmailChannel
from ingestctl.alerts.outbox import Outbox
from ingestctl.alerts.policy import Action
from ingestctl.alerts.render import (
    breaker_closed_alert,
    breaker_opened_alert,
    import_ok_alerts,
    probe_alert,
)
from ingestctl.clock import FakeClock
from ingestctl.config import AlertsConfig, EmailConfig
from ingestctl.errors import DeliveryError
from ingestctl.models.alerts import Alert, AlertKind, BreakerFacts, Severity

from .alerts_helpers import (
    NOW,
    Collector,
    MemoryOutboxStore,
    free_port,
    sample_dead_letter,
    smtp_server,
)

HOUR = 3600.0


class FakeChannel:
    """Records what it delivers; fails with ``fail`` (a reason or an exception) when set."""

    def __init__(self, name: str, store: MemoryOutboxStore | None = None) -> None:
        self.name = name
        self.sent: list[Alert] = []
        self.fail: str | Exception | None = None
        self.store = store
        self.rows_seen: list[int] = []

    def send(self, alert: Alert) -> None:
        if self.store is not None:
            self.rows_seen.append(len(self.store.rows))
        if isinstance(self.fail, Exception):
            raise self.fail
        if self.fail:
            raise DeliveryError(self.name, self.fail)
        self.sent.append(alert)


def make(
    *names: str, **kwargs: object
) -> tuple[Outbox, MemoryOutboxStore, dict[str, FakeChannel], FakeClock]:
    store = MemoryOutboxStore()
    channels = {name: FakeChannel(name, store) for name in names}
    clock = FakeClock(NOW)
    outbox = Outbox(store, list(channels.values()), clock, host="host1",
                    **kwargs)  # type: ignore[arg-type]
    return outbox, store, channels, clock


def test_submit_writes_first_then_delivers_to_every_channel() -> None:
    outbox, store, ch, clock = make("email", "webhook")
    result = outbox.submit(sample_dead_letter(clock.now()))
    assert result.decision.action is Action.SEND
    assert result.item_id == 1
    assert [(o.channel, o.ok) for o in result.outcomes] == [("email", True), ("webhook", True)]
    assert ch["email"].rows_seen == [1] and ch["webhook"].rows_seen == [1]  # stored before
    assert len(ch["email"].sent) == len(ch["webhook"].sent) == 1
    assert store.state(1, "email")["sent_at"] == NOW
    assert store.pending(clock.now()) == []
    assert outbox.flush() == []
    assert len(ch["email"].sent) == 1


def test_same_key_is_not_resent_before_the_repeat_interval() -> None:
    outbox, store, ch, clock = make("email", repeat_interval=4 * HOUR)
    outbox.submit(sample_dead_letter(clock.now()))
    clock.advance(4 * HOUR - 1)
    again = outbox.submit(sample_dead_letter(clock.now()))
    assert again.decision.action is Action.SUPPRESS and again.item_id is None
    assert len(store.rows) == 1 and len(ch["email"].sent) == 1
    clock.advance(1)
    third = outbox.submit(sample_dead_letter(clock.now()))
    assert third.decision.action is Action.SEND and third.item_id == 2
    assert len(ch["email"].sent) == 2


def test_resolved_notice_only_after_a_firing_and_refiring_is_immediate() -> None:
    outbox, store, ch, clock = make("email")
    closed = outbox.submit(breaker_closed_alert("k", "host1", now=clock.now()))
    assert closed.decision.reason == "nothing fired for this key"
    opened = breaker_opened_alert(BreakerFacts("k", 5), "host1", now=clock.now())
    assert outbox.submit(opened).decision.send
    clock.advance(120)
    assert outbox.submit(breaker_closed_alert("k", "host1", now=clock.now())).decision.send
    clock.advance(60)
    assert outbox.submit(breaker_opened_alert(BreakerFacts("k", 5), "host1",
                                              now=clock.now())).decision.send
    assert [a.severity for a in ch["email"].sent] == [
        Severity.WARNING, Severity.RESOLVED, Severity.WARNING]


def test_without_send_resolved_the_resolution_is_recorded_not_sent() -> None:
    outbox, store, ch, clock = make("email", send_resolved=False)
    outbox.submit(sample_dead_letter(clock.now()))
    clock.advance(60)
    results = [outbox.submit(a) for a in import_ok_alerts("shop-sitemap", 43, "host1",
                                                           now=clock.now())]
    assert [r.decision.action for r in results] == [Action.RECORD, Action.SUPPRESS,
                                                    Action.SUPPRESS]
    assert results[0].outcomes == [] and store.rows[1].channels == {}
    clock.advance(60)
    refire = outbox.submit(sample_dead_letter(clock.now()))
    assert refire.decision.reason == "fired again after it was resolved"
    assert len(ch["email"].sent) == 2


def test_failed_delivery_stays_pending_and_backs_off() -> None:
    outbox, store, ch, clock = make("email", "webhook")
    ch["email"].fail = "cannot connect to smtp:25: connection refused"
    result = outbox.submit(sample_dead_letter(clock.now()))
    email, webhook = result.outcomes
    assert (email.ok, email.error, email.next_try_at) == (
        False, "alert delivery by email failed: cannot connect to smtp:25: connection refused",
        NOW + timedelta(seconds=30))
    assert webhook.ok and len(ch["webhook"].sent) == 1
    assert [(i.id, i.channel) for i in store.pending(NOW + timedelta(seconds=30))] == [
        (1, "email")]

    clock.advance(29)
    assert outbox.flush() == []  # not due yet
    clock.advance(1)
    (second,) = outbox.flush()
    assert second.next_try_at == clock.now() + timedelta(seconds=60)
    assert store.state(1, "email")["attempts"] == 2
    clock.advance(60)
    ch["email"].fail = None
    (third,) = outbox.flush()
    assert third.ok and len(ch["email"].sent) == 1
    assert outbox.flush() == []
    assert len(ch["email"].sent) == len(ch["webhook"].sent) == 1


def test_an_unexpected_channel_error_keeps_the_alert_and_hides_its_text() -> None:
    outbox, store, ch, clock = make("email")
    ch["email"].fail = RuntimeError("password=hunter2")
    (outcome,) = outbox.submit(sample_dead_letter(clock.now())).outcomes
    assert outcome.error == "alert delivery by email failed: unexpected RuntimeError"
    assert store.state(1, "email")["sent_at"] is None


def test_a_channel_removed_from_the_config_is_reported() -> None:
    outbox, store, ch, clock = make("email", "webhook")
    ch["email"].fail = "down"
    outbox.submit(sample_dead_letter(clock.now()))
    later = Outbox(store, [ch["webhook"]], clock)
    clock.advance(30)
    (outcome,) = later.flush()
    assert outcome.error == (
        "alert delivery by email failed: this channel is not configured any more")


def test_delivery_failing_is_raised_through_other_channels_then_resolved() -> None:
    outbox, store, ch, clock = make("email", "webhook", delivery_alert_after=HOUR)
    ch["email"].fail = "cannot connect to smtp:25: connection refused"
    outbox.submit(sample_dead_letter(clock.now()))
    clock.advance(HOUR - 1)
    (retry,) = outbox.flush()  # retried, still failing, waiting not quite an hour
    assert not retry.ok
    assert [a.kind for a in ch["webhook"].sent] == [AlertKind.JOB_DEAD_LETTERED]
    clock.current = NOW + timedelta(seconds=HOUR)
    outbox.flush()
    failing = [a for a in ch["webhook"].sent if a.kind is AlertKind.DELIVERY_FAILING]
    assert len(failing) == 1
    assert failing[0].key == "delivery:email" and failing[0].severity is Severity.WARNING
    assert "1 alert(s) have waited for the email channel since 2026-03-04T05:06:07Z" in (
        failing[0].body)
    assert "connection refused" in failing[0].body
    assert "delivery:email" not in {i.alert.key for i in store.pending(clock.now())}

    clock.advance(600)
    outbox.flush()  # still failing: not repeated within the repeat interval
    assert len([a for a in ch["webhook"].sent if a.kind is AlertKind.DELIVERY_FAILING]) == 1

    ch["email"].fail = None
    clock.advance(HOUR)
    outbox.flush()
    assert [a.key for a in ch["email"].sent] == ["dead_letter:shop-sitemap"]
    notices = [a for a in ch["webhook"].sent if a.kind is AlertKind.DELIVERY_FAILING]
    assert [a.severity for a in notices] == [Severity.WARNING, Severity.RESOLVED]
    clock.advance(60)
    outbox.flush()
    assert len(ch["webhook"].sent) == 3  # dead letter, failing, restored; nothing more


def test_test_alert_reports_each_channel() -> None:
    outbox, store, ch, clock = make("email", "webhook")
    ch["webhook"].fail = "the webhook answered HTTP 500"
    result = outbox.submit(probe_alert("host1", now=clock.now()))
    assert [(o.channel, o.ok, o.error) for o in result.outcomes] == [
        ("email", True, None),
        ("webhook", False, "alert delivery by webhook failed: the webhook answered HTTP 500")]


def test_the_log_records_every_alert_with_its_decision(caplog: pytest.LogCaptureFixture) -> None:
    outbox, store, ch, clock = make("email")
    with caplog.at_level(logging.INFO, logger="ingestctl.alerts"):
        outbox.submit(sample_dead_letter(clock.now()))
        outbox.submit(sample_dead_letter(clock.now()))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "alert send dead_letter:shop-sitemap: [ingestctl][CRITICAL] "
                        "shop-sitemap failed on host1 (first alert for this key)"),
        (logging.INFO, "alert suppress dead_letter:shop-sitemap: [ingestctl][CRITICAL] "
                       "shop-sitemap failed on host1 (already sent 0ms ago; repeats after 4h)"),
    ]
    assert caplog.records[0].alert_fields["job_id"] == 42  # type: ignore[attr-defined]


def test_from_config() -> None:
    cfg = AlertsConfig(repeat_interval=60.0, send_resolved=False, delivery_alert_after=0.0)
    outbox = Outbox.from_config(MemoryOutboxStore(), cfg, [], FakeClock(), "h")
    assert (outbox.repeat_interval, outbox.send_resolved, outbox.delivery_alert_after,
            outbox.host) == (60.0, False, None, "h")


def test_smtp_down_then_up_delivers_exactly_once() -> None:
    port = free_port()
    cfg = EmailConfig(enabled=True, smtp_host="127.0.0.1", smtp_port=port, timeout=5.0,
                      to=["ops@example.com"])
    store = MemoryOutboxStore()
    clock = FakeClock(NOW)
    outbox = Outbox(store, [EmailChannel(cfg, {})], clock, host="host1")

    (outcome,) = outbox.submit(sample_dead_letter(clock.now())).outcomes
    assert not outcome.ok
    assert outcome.error == (
        f"alert delivery by email failed: cannot connect to 127.0.0.1:{port}: "
        "connection refused")
    assert store.state(1, "email")["sent_at"] is None

    collector = Collector()
    controller = smtp_server(collector, port)
    try:
        assert outbox.flush() == []  # the retry is not due yet
        clock.advance(30)
        (retried,) = outbox.flush()
        assert retried.ok
        clock.advance(HOUR)
        assert outbox.flush() == []
    finally:
        controller.stop()
    assert len(collector.messages) == 1
    msg = collector.messages[0]
    assert msg["Subject"] == "[ingestctl][CRITICAL] shop-sitemap failed on host1"
    assert "  ingestctl retry 42" in msg.get_content().splitlines()


def test_build_channels_follows_the_config() -> None:
    cfg = AlertsConfig()
    assert build_channels(cfg, {}) == []
    cfg.email.enabled = True
    names = [c.name for c in build_channels(cfg, {"INGESTCTL_WEBHOOK_URL": "http://h/x"})]
    assert names == ["email", "webhook"]
