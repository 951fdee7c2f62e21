"""The alert outbox on SQLite: ``alerts`` (one row per accepted alert) and ``alert_deliveries``.

Implements :class:`ingestctl.alerts.outbox.OutboxStore`. Several processes (a cron ``run``, the
worker, ``alerts flush``) may flush at once, so :meth:`DatabaseOutboxStore.pending` *claims* what
it returns with a short lease (``claimed_until``) in the same transaction; a delivery that was
just added is claimed by the process that added it, which delivers it at once. A process that
dies holding a claim only delays that delivery until the lease runs out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingestctl.clock import from_iso, iso_out, to_iso
from ingestctl.models.alerts import Alert, Backlog, OutboxItem, SentRecord, Severity
from ingestctl.store import counters
from ingestctl.store.database import POSTGRES, Store

# Longer than a channel's timeouts, so a slow SMTP server never lets a second process resend.
DEFAULT_CLAIM_LEASE = 300.0


def _iso(moment: datetime) -> str:
    return to_iso(moment) or ""


class DatabaseOutboxStore:
    """The OutboxStore protocol on the ingestctl database."""

    def __init__(self, store: Store, *, lease: float = DEFAULT_CLAIM_LEASE) -> None:
        self.store = store
        self.lease = lease

    def add(self, alert: Alert, channels: Sequence[str], now: datetime) -> int:
        """Write ``alert`` with one delivery per channel, claimed by this process."""
        claim = _iso(now + timedelta(seconds=self.lease))
        with self.store.write() as conn:
            alert_id = int(conn.execute(
                "INSERT INTO alerts (key, kind, severity, subject, alert_json, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (alert.key, str(alert.kind), str(alert.severity), alert.subject,
                 json.dumps(alert.to_dict(), sort_keys=True, default=str),
                 _iso(now))).fetchone()[0])
            conn.executemany(
                "INSERT INTO alert_deliveries (alert_id, channel, claimed_until) VALUES (?, ?, ?)",
                [(alert_id, name, claim) for name in channels])
        return alert_id

    def pending(self, now: datetime, *, force: bool = False) -> list[OutboxItem]:
        """Claim and return the undelivered pairs that are due; ``force`` ignores the backoff.

        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` while claimed, so
        processes on several hosts flushing at once each get different deliveries.
        """
        stamp = _iso(now)
        due = "" if force else "AND (d.next_try_at IS NULL OR d.next_try_at <= :now) "
        lock = " FOR UPDATE OF d SKIP LOCKED" if self.store.dialect == POSTGRES else ""
        with self.store.write():
            rows = self.store.query(
                "SELECT d.alert_id, d.channel, d.attempts, d.next_try_at, d.last_error, "
                "a.alert_json FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.sent_at IS NULL " + due +
                "AND (d.claimed_until IS NULL OR d.claimed_until <= :now) "
                "ORDER BY d.alert_id, d.channel" + lock, {"now": stamp})
            claim = _iso(now + timedelta(seconds=self.lease))
            self.store.conn.executemany(
                "UPDATE alert_deliveries SET claimed_until = ? WHERE alert_id = ? AND channel = ?",
                [(claim, row["alert_id"], row["channel"]) for row in rows])
        return [OutboxItem(row["alert_id"], row["channel"],
                           Alert.from_dict(json.loads(row["alert_json"])), row["attempts"],
                           from_iso(row["next_try_at"]), row["last_error"]) for row in rows]

    def mark_sent(self, item_id: int, channel: str, now: datetime) -> None:
        """Record a successful delivery and count it in ``alerts_total``."""
        with self.store.write() as conn:
            conn.execute(
                "UPDATE alert_deliveries SET sent_at = ?, claimed_until = NULL, "
                "next_try_at = NULL WHERE alert_id = ? AND channel = ?",
                (_iso(now), item_id, channel))
            counters.increment(conn, "alerts_total", {"channel": channel, "outcome": "sent"})

    def mark_failed(self, item_id: int, channel: str, error: str, next_try_at: datetime) -> None:
        """Record a failed delivery (attempts + 1, its error, the next try) and count it."""
        with self.store.write() as conn:
            conn.execute(
                "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?, "
                "next_try_at = ?, claimed_until = NULL WHERE alert_id = ? AND channel = ?",
                (error, _iso(next_try_at), item_id, channel))
            counters.increment(conn, "alerts_total", {"channel": channel, "outcome": "failed"})

    def last_sent(self, key: str) -> SentRecord | None:
        """The latest alert accepted for ``key``."""
        rows = self.store.query("SELECT severity, created_at FROM alerts WHERE key = ? "
                                "ORDER BY id DESC LIMIT 1", (key,))
        if not rows:
            return None
        return SentRecord(key, Severity(rows[0]["severity"]),
                          from_iso(rows[0]["created_at"]) or datetime.min)

    def backlog(self, channel: str) -> Backlog | None:
        """What still waits for ``channel`` (due or not), or None."""
        rows = self.store.query(
            "SELECT count(*) AS n, min(a.created_at) AS oldest FROM alert_deliveries d "
            "JOIN alerts a ON a.id = d.alert_id WHERE d.channel = ? AND d.sent_at IS NULL",
            (channel,))
        if not rows or not rows[0]["n"]:
            return None
        error = self.store.scalar(
            "SELECT last_error FROM alert_deliveries WHERE channel = ? AND sent_at IS NULL "
            "AND last_error IS NOT NULL ORDER BY alert_id DESC LIMIT 1", (channel,))
        return Backlog(int(rows[0]["n"]), from_iso(rows[0]["oldest"]) or datetime.min, error)

    def firing_keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` whose latest alert is not a resolved notice."""
        rows = self.store.query(
            "SELECT key, severity FROM alerts WHERE id IN (SELECT max(id) FROM alerts "
            "WHERE substr(key, 1, ?) = ? GROUP BY key) ORDER BY key", (len(prefix), prefix))
        return [row["key"] for row in rows if row["severity"] != Severity.RESOLVED.value]


@dataclass(frozen=True)
class Delivery:
    """One channel's delivery state of a stored alert."""

    channel: str
    state: str  # sent | waiting (failed, retried later) | pending (not tried yet)
    attempts: int
    last_error: str | None
    next_try_at: str | None
    sent_at: str | None

    def to_json(self) -> dict[str, Any]:
        """The delivery as shown by ``alerts list --json``."""
        return {"channel": self.channel, "state": self.state, "attempts": self.attempts,
                "last_error": self.last_error, "next_try_at": iso_out(self.next_try_at),
                "sent_at": iso_out(self.sent_at)}


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert with its deliveries."""

    id: int
    alert: Alert
    stored_at: str
    deliveries: list[Delivery]

    def to_json(self) -> dict[str, Any]:
        """The alert as shown by ``alerts list --json``."""
        data = self.alert.to_dict()
        return {"id": self.id, "key": self.alert.key, "kind": data["kind"],
                "severity": data["severity"], "subject": self.alert.subject,
                "created_at": iso_out(self.stored_at), "fields": self.alert.fields,
                "deliveries": [d.to_json() for d in self.deliveries]}


def history(store: Store, limit: int = 50) -> list[AlertRecord]:
    """The latest ``limit`` stored alerts, newest first, with their deliveries."""
    rows = store.query("SELECT id, alert_json, created_at FROM alerts ORDER BY id DESC LIMIT ?",
                       (limit,))
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    marks = ",".join("?" * len(ids))
    found: dict[int, list[Delivery]] = {}
    for d in store.query(f"SELECT * FROM alert_deliveries WHERE alert_id IN ({marks}) "
                         "ORDER BY channel", ids):
        state = "sent" if d["sent_at"] else ("waiting" if d["attempts"] else "pending")
        found.setdefault(d["alert_id"], []).append(Delivery(
            d["channel"], state, d["attempts"], d["last_error"], d["next_try_at"],
            d["sent_at"]))
    return [AlertRecord(row["id"], Alert.from_dict(json.loads(row["alert_json"])),
                        row["created_at"], found.get(row["id"], [])) for row in rows]


def undelivered(store: Store) -> tuple[int, datetime | None]:
    """How many deliveries wait in the outbox and when the oldest alert among them was stored."""
    row = store.query("SELECT count(*) AS n, min(a.created_at) AS oldest FROM alert_deliveries d "
                      "JOIN alerts a ON a.id = d.alert_id WHERE d.sent_at IS NULL")[0]
    return int(row["n"] or 0), from_iso(row["oldest"])


def last_success_at(store: Store, import_key: str) -> datetime | None:
    """When the import last completed, for the dead-letter alert."""
    return from_iso(store.scalar("SELECT last_success_at FROM imports WHERE key = ?",
                                 (import_key,)))
