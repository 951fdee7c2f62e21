"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ingestctl.alerts.email import EmailChannel
from ingestctl.config import EmailConfig
from ingestctl.errors import DeliveryError, ErrorClass

from .alerts_helpers import (
    Collector,
    Credentials,
    Tls,
    free_port,
    make_tls,
    sample_dead_letter,
    smtp_server,
)

PASSWORD = "correct horse battery staple"
ENV = {"SMTP_PW": PASSWORD}


@pytest.fixture(scope="module")
def tls() -> Tls:
    return make_tls()


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def serve(collector: Collector) -> Iterator[Any]:
    """Start an aiosmtpd server with the given options; returns its port."""
    started: list[Any] = []

    def start(**kwargs: Any) -> int:
        port = free_port()
        started.append(smtp_server(collector, port, **kwargs))
        return port

    yield start
    for controller in started:
        controller.stop()


def config(port: int, **kwargs: Any) -> EmailConfig:
    cfg = EmailConfig(enabled=True, smtp_host="127.0.0.1", smtp_port=port, timeout=5.0,
                      from_addr="ingestctl@host1.example", to=["ops@example.com",
                                                                "oncall@example.com"])
    for key, value in kwargs.items():
        setattr(cfg, key, value)
    return cfg


def assert_one_dead_letter_mail(collector: Collector) -> None:
    assert len(collector.envelopes) == 1
    envelope = collector.envelopes[0]
    assert envelope.mail_from == "ingestctl@host1.example"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    msg = collector.messages[0]
    assert msg["Subject"] == "[ingestctl][CRITICAL] shop-sitemap failed on host1"
    assert msg["From"] == "ingestctl@host1.example"
    assert msg["To"] == "ops@example.com, oncall@example.com"
    assert msg["Date"] == "Wed, 04 Mar 2026 05:06:07 +0000"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith(">")
    assert msg["X-Ingestctl-Alert-Key"] == "dead_letter:shop-sitemap"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    lines = body.splitlines()
    for expected in ["Job:     42", "Import:  shop-sitemap", "Source:  sitemap",
                     "  #1 [transient] TransientError: HTTP 503 from shop.example.com",
                     "  #2 [transient] TransientError: read timeout after 30s",
                     "Dead letters total:  7", "  ingestctl jobs show 42",
                     "  ingestctl retry 42", "  ingestctl dlq list"]:
        assert expected in lines, expected
    assert "hunter2" not in body and "s3cr3t" not in body


def test_plain_smtp_delivers_exactly_one_message(collector: Collector, serve: Any) -> None:
    port = serve()
    EmailChannel(config(port), {}, local_hostname="host1").send(sample_dead_letter())
    assert_one_dead_letter_mail(collector)


def test_starttls_with_login(collector: Collector, serve: Any, tls: Tls) -> None:
    creds = Credentials("alerts", PASSWORD)
    port = serve(tls_context=tls.server, require_starttls=True, authenticator=creds,
                 auth_require_tls=True)
    cfg = config(port, security="starttls", username="alerts", password_env="SMTP_PW")
    EmailChannel(cfg, ENV, ssl_context=tls.client).send(sample_dead_letter())
    assert_one_dead_letter_mail(collector)
    assert creds.tries == [("alerts", PASSWORD)]


def test_implicit_tls(collector: Collector, serve: Any, tls: Tls) -> None:
    port = serve(ssl_context=tls.server)
    cfg = config(port, security="tls")
    EmailChannel(cfg, {}, ssl_context=tls.client).send(sample_dead_letter())
    assert_one_dead_letter_mail(collector)


def test_plain_login_when_the_server_allows_it(collector: Collector, serve: Any) -> None:
    creds = Credentials("alerts", PASSWORD)
    port = serve(authenticator=creds, auth_require_tls=False)
    cfg = config(port, username="alerts", password_env="SMTP_PW")
    EmailChannel(cfg, ENV).send(sample_dead_letter())
    assert len(collector.envelopes) == 1
    assert creds.tries == [("alerts", PASSWORD)]


def test_wrong_password_is_a_delivery_error_without_the_password(
    collector: Collector, serve: Any
) -> None:
    creds = Credentials("alerts", "another")
    port = serve(authenticator=creds, auth_require_tls=False)
    cfg = config(port, username="alerts", password_env="SMTP_PW")
    with pytest.raises(DeliveryError) as info:
        EmailChannel(cfg, ENV).send(sample_dead_letter())
    err = info.value
    assert err.channel == "email"
    assert err.error_class is ErrorClass.TRANSIENT
    assert str(err).startswith(
        f"alert delivery by email failed: 127.0.0.1:{port} refused the login of alerts: 535")
    assert PASSWORD not in str(err) and "\n" not in str(err)
    assert collector.envelopes == []


def test_missing_password_variable(serve: Any) -> None:
    cfg = config(free_port(), username="alerts", password_env="NOPE_PW")
    with pytest.raises(DeliveryError) as info:
        EmailChannel(cfg, {}).send(sample_dead_letter())
    assert info.value.reason == (
        "environment variable NOPE_PW (the SMTP password of alerts) is not set")


def test_starttls_required_but_not_offered(collector: Collector, serve: Any) -> None:
    port = serve()
    cfg = config(port, security="starttls")
    with pytest.raises(DeliveryError) as info:
        EmailChannel(cfg, {}).send(sample_dead_letter())
    assert info.value.reason == (
        f"127.0.0.1:{port} does not offer STARTTLS (security=starttls)")
    assert collector.envelopes == []


def test_untrusted_certificate_is_refused(collector: Collector, serve: Any, tls: Tls) -> None:
    port = serve(tls_context=tls.server, require_starttls=True)
    cfg = config(port, security="starttls")
    with pytest.raises(DeliveryError) as info:
        EmailChannel(cfg, {}).send(sample_dead_letter())  # system CAs: not our trustme CA
    assert info.value.reason.startswith(f"TLS with 127.0.0.1:{port} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.reason
    assert collector.envelopes == []


def test_server_down_is_a_clear_delivery_error() -> None:
    port = free_port()
    with pytest.raises(DeliveryError) as info:
        EmailChannel(config(port), {}).send(sample_dead_letter())
    assert str(info.value) == (
        f"alert delivery by email failed: cannot connect to 127.0.0.1:{port}: "
        "connection refused")


def test_silent_server_times_out() -> None:
    # The kernel completes the handshake from the backlog; no greeting ever comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryError) as info:
            EmailChannel(config(port, timeout=0.2), {}).send(sample_dead_letter())
    assert info.value.reason == f"timed out after 0.2s talking to 127.0.0.1:{port}"


def test_rejected_recipient(collector: Collector, serve: Any) -> None:
    class Picky(Collector):
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                              options: Any) -> str:  # noqa: N802
            return "550 no such user"

    picky = Picky()
    port = free_port()
    controller = smtp_server(picky, port)
    try:
        with pytest.raises(DeliveryError) as info:
            EmailChannel(config(port), {}).send(sample_dead_letter())
    finally:
        controller.stop()
    assert info.value.reason == (
        f"127.0.0.1:{port} refused the recipients oncall@example.com, ops@example.com")
