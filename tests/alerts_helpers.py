"""Test helpers for alerts: a real SMTP server (aiosmtpd), TLS material, an in-memory outbox.

``MemoryOutboxStore`` is the reference behaviour of the ``OutboxStore`` protocol that the
SQLite store must match.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ingestctl.alerts.render import dead_letter_alert
from ingestctl.clock import to_iso
from ingestctl.events import Event, EventKind
from ingestctl.models.alerts import Alert, AttemptFacts, Backlog, JobFacts, OutboxItem, SentRecord

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SECRET_TARGET = "https://bob:hunter2@shop.example.com/sitemap.xml?page=2&access_token=s3cr3t"


def sample_dead_letter(now: datetime = NOW) -> Alert:
    """The dead-lettered job 42 of shop-sitemap used across the alert tests."""
    job = JobFacts(42, "shop-sitemap", "sitemap", SECRET_TARGET, "failed", 3)
    attempts = [
        AttemptFacts(1, "transient", "TransientError", "HTTP 503 from shop.example.com"),
        AttemptFacts(2, "transient", "TransientError", "read timeout after 30s"),
        AttemptFacts(3, "data", "DataError",
                     "https://shop.example.com/s.xml?token=abc:12:5: mismatched tag"),
    ]
    return dead_letter_alert(job, attempts, datetime(2026, 3, 3, 2, 0, tzinfo=UTC),
                             datetime(2026, 3, 5, 2, 0, tzinfo=UTC), 7, "host1", now=now)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Collector:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        """The received messages, parsed."""
        return [
            email.message_from_bytes(env.original_content, policy=email.policy.default)
            for env in self.envelopes
        ]


@dataclass
class Tls:
    """A CA made for one test, a server context with its certificate, a client trusting it."""

    ca: trustme.CA
    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls() -> Tls:
    """Fresh TLS material for 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(ca, server, client)


class Credentials:
    """An aiosmtpd authenticator accepting one user and password, recording every try."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.tries: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        self.tries.append((user, password))
        return AuthResult(success=(user, password) == (self.user, self.password), handled=False)


def smtp_server(handler: Collector, port: int, **kwargs: Any) -> Controller:
    """A started aiosmtpd server on 127.0.0.1:port (stop it with ``.stop()``)."""
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=5, **kwargs)
    controller.start()
    return controller


@dataclass
class _Row:
    id: int
    alert: Alert
    added_at: datetime
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


class MemoryOutboxStore:
    """The OutboxStore protocol in memory, with the semantics the SQLite store must have."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []

    def add(self, alert: Alert, channels: Sequence[str], now: datetime) -> int:
        row = _Row(len(self.rows) + 1, alert, now)
        for name in channels:
            row.channels[name] = {"sent_at": None, "attempts": 0, "error": None,
                                  "next_try_at": None}
        self.rows.append(row)
        return row.id

    def pending(self, now: datetime, *, force: bool = False) -> list[OutboxItem]:
        items = []
        for row in self.rows:
            for name, state in row.channels.items():
                due = force or state["next_try_at"] is None or state["next_try_at"] <= now
                if state["sent_at"] is None and due:
                    items.append(OutboxItem(row.id, name, row.alert, state["attempts"],
                                            state["next_try_at"], state["error"]))
        return items

    def mark_sent(self, item_id: int, channel: str, now: datetime) -> None:
        self.rows[item_id - 1].channels[channel]["sent_at"] = now

    def mark_failed(self, item_id: int, channel: str, error: str, next_try_at: datetime) -> None:
        state = self.rows[item_id - 1].channels[channel]
        state["attempts"] += 1
        state["error"] = error
        state["next_try_at"] = next_try_at

    def last_sent(self, key: str) -> SentRecord | None:
        for row in reversed(self.rows):
            if row.alert.key == key:
                return SentRecord(key, row.alert.severity, row.added_at)
        return None

    def backlog(self, channel: str) -> Backlog | None:
        waiting = [(row, row.channels[channel]) for row in self.rows
                   if channel in row.channels and row.channels[channel]["sent_at"] is None]
        if not waiting:
            return None
        errors = [s["error"] for _, s in waiting if s["error"]]
        return Backlog(len(waiting), min(r.added_at for r, _ in waiting),
                       errors[-1] if errors else None)

    def state(self, item_id: int, channel: str) -> dict[str, Any]:
        """The delivery state of one pair (tests only)."""
        return self.rows[item_id - 1].channels[channel]


def quota_level_event(at: datetime, api: str, scope: str, used: int, limit: int, level: str,
                      threshold: float, resets_at: datetime | None = None) -> Event:
    """The QUOTA_LEVEL event the quota tracker emits when a scope crosses a level."""
    data: dict[str, Any] = {"api": api, "scope": scope, "used": used, "limit": limit,
                            "level": level, "threshold": threshold,
                            "resets_at": to_iso(resets_at)}
    return Event(EventKind.QUOTA_LEVEL, at, data=data)


def schedule_missed_event(at: datetime, import_name: str, slot: datetime,
                          last_run_at: datetime | None = None) -> Event:
    """The SCHEDULE_MISSED event the scheduler emits for a slot it could not run in time."""
    return Event(EventKind.SCHEDULE_MISSED, at, import_key=import_name, data={
        "import": import_name, "slot": to_iso(slot), "last_run_at": to_iso(last_run_at)})
