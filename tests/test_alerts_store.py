"""The outbox in the store (SQLite and PostgreSQL): the in-memory reference, claims, counters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ingestctl.alerts.outbox import Outbox
from ingestctl.alerts.render import breaker_closed_alert
from ingestctl.clock import FakeClock
from ingestctl.models.alerts import Severity
from ingestctl.store import Store, counters
from ingestctl.store import alerts as alert_store
from ingestctl.store.alerts import DatabaseOutboxStore

from .alerts_helpers import NOW, MemoryOutboxStore, sample_dead_letter
from .test_alerts_outbox import FakeChannel


def _script(store: MemoryOutboxStore | DatabaseOutboxStore) -> list[object]:
    """One sequence of protocol calls; returns what each observable call answered."""
    seen: list[object] = []
    first = store.add(sample_dead_letter(NOW), ["email", "webhook"], NOW)
    later = NOW + timedelta(minutes=1)
    store.mark_sent(first, "webhook", later)
    store.mark_failed(first, "email", "connection refused", later + timedelta(seconds=30))
    seen.append([(i.id, i.channel, i.attempts) for i in store.pending(later)])
    due = later + timedelta(seconds=30)
    seen.append([(i.id, i.channel, i.attempts, i.last_error) for i in store.pending(due)])
    second = store.add(breaker_closed_alert("k", "host1", now=due), [], due)
    seen.append(second)
    last = store.last_sent("breaker:k")
    seen.append((last.severity, last.sent_at) if last else None)
    dead = store.last_sent("dead_letter:shop-sitemap")
    seen.append((dead.severity, dead.sent_at) if dead else None)
    backlog = store.backlog("email")
    seen.append((backlog.count, backlog.oldest, backlog.last_error) if backlog else None)
    seen.append(store.backlog("webhook"))
    return seen


def test_database_store_answers_like_the_reference(store_location: Path | str) -> None:
    with Store(store_location) as db:
        assert _script(DatabaseOutboxStore(db, lease=0)) == _script(MemoryOutboxStore())
        assert _script(MemoryOutboxStore())[0] == []  # the failed one waits for its backoff


def test_pending_claims_so_two_processes_never_send_twice(store_location: Path | str) -> None:
    with Store(store_location) as one, Store(store_location) as two:
        first, second = DatabaseOutboxStore(one), DatabaseOutboxStore(two)
        alert_id = first.add(sample_dead_letter(NOW), ["email"], NOW)
        # Just added: the adding process delivers it at once, nobody else may take it.
        assert second.pending(NOW) == []
        first.mark_failed(alert_id, "email", "down", NOW)
        assert [i.id for i in first.pending(NOW)] == [alert_id]
        assert second.pending(NOW) == []  # claimed by the first flush
        assert second.pending(NOW, force=True) == []  # force ignores backoff, not claims
        # A flush that died with its claim only delays the delivery by the lease (300 s).
        assert [i.id for i in second.pending(NOW + timedelta(seconds=301))] == [alert_id]


def test_deliveries_are_counted_for_metrics_and_listed_with_their_state(store: Store) -> None:
    with store as db:
        clock = FakeClock(NOW)
        email, webhook = FakeChannel("email"), FakeChannel("webhook")
        email.fail = "127.0.0.1:25 closed the connection unexpectedly"
        outbox = Outbox(DatabaseOutboxStore(db), [email, webhook], clock, host="host1")
        outbox.submit(sample_dead_letter(NOW))
        clock.advance(60)
        outbox.flush()
        email.fail = None
        outbox.flush(force=True)
        assert sorted((labels["channel"], labels["outcome"], value)
                      for labels, value in counters.read(db, "alerts_total")) == [
            ("email", "failed", 2.0), ("email", "sent", 1.0), ("webhook", "sent", 1.0)]
        [record] = alert_store.history(db)
        data = record.to_json()
        assert (data["id"], data["key"], data["severity"]) == (
            1, "dead_letter:shop-sitemap", "critical")
        assert [(d["channel"], d["state"], d["attempts"]) for d in data["deliveries"]] == [
            ("email", "sent", 2), ("webhook", "sent", 0)]
        assert alert_store.undelivered(db) == (0, None)
        assert DatabaseOutboxStore(db).firing_keys("dead_letter:") == ["dead_letter:shop-sitemap"]
        outbox.submit(sample_dead_letter(NOW).__class__(
            **{**sample_dead_letter(NOW).__dict__, "severity": Severity.RESOLVED}))
        assert DatabaseOutboxStore(db).firing_keys("dead_letter:") == []
