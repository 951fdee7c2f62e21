"""Cron-monitor pings received by a local HTTP server; a failed ping never raises."""

from __future__ import annotations

import logging
import socket
import threading
import time

import httpx
import pytest

from ingestctl.alerts.pings import Pinger
from tests.httpserver import LocalServer, Request, Response


def ok(req: Request) -> Response:
    return Response(200, b"OK")


def test_start_success_and_fail_reach_the_healthchecks_paths() -> None:
    with LocalServer(ok) as server, httpx.Client() as client:
        pinger = Pinger(client)
        check = server.url("/ping/0a1b2c")
        assert pinger.start(check) is True
        assert pinger.success(check) is True
        assert pinger.fail(check + "/", "transient: HTTP 503 from shop.example") is True
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/ping/0a1b2c/start"), ("GET", "/ping/0a1b2c"), ("POST", "/ping/0a1b2c/fail")]
    assert server.requests[0].body == b""
    assert server.requests[2].body == b"transient: HTTP 503 from shop.example"
    assert server.requests[2].headers["content-type"] == "text/plain; charset=utf-8"


def test_fail_message_is_trimmed() -> None:
    with LocalServer(ok) as server, httpx.Client() as client:
        assert Pinger(client).fail(server.url("/c"), "x" * 5000 + "\n") is True
    assert server.requests[0].body == b"x" * 1000


def test_error_status_returns_false_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with LocalServer(lambda req: Response(404, b"not found")) as server, \
            httpx.Client() as client, caplog.at_level(logging.WARNING, logger="ingestctl.ping"):
        assert Pinger(client).success(server.url("/secret-uuid")) is False
    assert [r.getMessage() for r in caplog.records] == [
        "ping success to http://127.0.0.1/... failed: HTTP 404"]
    assert "secret-uuid" not in caplog.text


def test_dead_server_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client() as client, caplog.at_level(logging.WARNING, logger="ingestctl.ping"):
        pinger = Pinger(client, timeout=0.2)
        url = f"http://127.0.0.1:{port}/abc"
        assert pinger.start(url) is False
        assert pinger.success(url) is False
        assert pinger.fail(url, "boom") is False
    assert len(caplog.records) == 3
    assert caplog.records[0].getMessage().startswith(
        "ping start to http://127.0.0.1/... failed: ConnectError")


def test_slow_server_times_out_quickly(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    def stuck(req: Request) -> Response:
        release.wait(10)  # answers only once the test is done with it
        return Response(200, b"OK")

    with LocalServer(stuck) as server, httpx.Client() as client, \
            caplog.at_level(logging.WARNING, logger="ingestctl.ping"):
        started = time.monotonic()
        assert Pinger(client, timeout=0.2).success(server.url("/x")) is False
        elapsed = time.monotonic() - started
        release.set()
    assert elapsed < 2
    assert caplog.records[0].getMessage().startswith(
        "ping success to http://127.0.0.1/... failed: ReadTimeout")


def test_not_an_http_url(caplog: pytest.LogCaptureFixture) -> None:
    with httpx.Client() as client, caplog.at_level(logging.WARNING, logger="ingestctl.ping"):
        assert Pinger(client).start("ftp://example.org/x") is False
        assert Pinger(client).success("") is False
    assert len(caplog.records) == 2
