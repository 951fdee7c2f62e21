"""Alerts end to end: the real CLI in a subprocess, a real SMTP server (aiosmtpd), a webhook."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.httpserver import LocalServer, Request, Response

from .alerts_helpers import Collector, Tls, free_port, make_tls, smtp_server

HOST = socket.gethostname()


@pytest.fixture
def missing() -> Iterator[LocalServer]:
    """A sitemap server answering 404 to everything."""
    with LocalServer(lambda req: Response(404, b"not found")) as server:
        yield server


def write_config(tmp_path: Path, url: str, port: int, **email: str) -> Path:
    extra = "".join(f'{key} = "{value}"\n' for key, value in email.items())
    path = tmp_path / "ingestctl.toml"
    path.write_text(f"""
[retry]
attempts = 1
[jobs]
max_attempts = 1
[alerts.email]
enabled = true
smtp_host = "127.0.0.1"
smtp_port = {port}
timeout = "5s"
from = "ingestctl@example.com"
to = ["ops@example.com"]
{extra}
[[imports]]
name = "shop-sitemap"
url = "{url}"
schedule = "0 2 * * *"
""")
    return path


def assert_dead_letter_mail(collector: Collector, url: str) -> None:
    assert len(collector.envelopes) == 1
    assert collector.envelopes[0].rcpt_tos == ["ops@example.com"]
    msg = collector.messages[0]
    assert msg["Subject"] == f"[ingestctl][CRITICAL] shop-sitemap failed on {HOST}"
    lines = msg.get_content().splitlines()
    for expected in [
        "Import shop-sitemap failed and job 1 is in the dead-letter queue.",
        "Job:     1", "Import:  shop-sitemap", "Source:  sitemap", f"Target:  {url}",
        f"  #1 [not_found] NotFoundError: HTTP 404 Not Found for {url}; check the URL",
        "Last success:        never", "Dead letters total:  1",
        "  ingestctl jobs show 1", "  ingestctl retry 1",
    ]:
        assert expected in lines, (expected, lines)
    assert any(line.startswith("Next scheduled run:  20") and line.endswith("T02:00:00Z")
               for line in lines)


def run_failing(home: Path, config: Path, **env: str) -> None:
    proc = run_cli(home, "--config", str(config), "run", "shop-sitemap", **env)
    assert proc.returncode == 1, proc.stderr
    # The alert goes to the channels and the log file, never as an extra stderr line.
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
        "ingestctl: error: job 1 failed after 1 attempt(s): not_found:"), proc.stderr


def test_dead_letter_mails_exactly_once_over_plain_smtp(home: Path, tmp_path: Path,
                                                        missing: LocalServer) -> None:
    collector, port = Collector(), free_port()
    controller = smtp_server(collector, port)
    try:
        url = missing.url("/sitemap.xml")
        run_failing(home, write_config(tmp_path, url, port))
        assert_dead_letter_mail(collector, url)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def tls() -> Tls:
    return make_tls()


def test_dead_letter_mails_over_starttls_trusting_the_configured_ca(
        home: Path, tmp_path: Path, missing: LocalServer, tls: Tls) -> None:
    ca_file = tmp_path / "ca.pem"
    tls.ca.cert_pem.write_to_path(str(ca_file))
    collector, port = Collector(), free_port()
    controller = smtp_server(collector, port, tls_context=tls.server, require_starttls=True)
    try:
        url = missing.url("/sitemap.xml")
        config = write_config(tmp_path, url, port, security="starttls", ca_file=str(ca_file))
        run_failing(home, config)
        assert_dead_letter_mail(collector, url)
    finally:
        controller.stop()


def alerts_json(home: Path, config: Path) -> list[dict[str, Any]]:
    proc = run_cli(home, "--config", str(config), "alerts", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data


def test_smtp_down_keeps_the_alert_until_flush_delivers_it_once(
        home: Path, tmp_path: Path, missing: LocalServer) -> None:
    port = free_port()
    config = write_config(tmp_path, missing.url("/sitemap.xml"), port)
    run_failing(home, config)
    [stored] = alerts_json(home, config)
    [delivery] = stored["deliveries"]
    assert (stored["severity"], delivery["channel"], delivery["state"], delivery["attempts"]) == (
        "critical", "email", "waiting", 1)
    assert delivery["last_error"] == ("alert delivery by email failed: cannot connect to "
                                      f"127.0.0.1:{port}: connection refused")
    down = run_cli(home, "--config", str(config), "alerts", "flush")
    assert down.returncode == 1
    assert down.stdout == "alerts flush: 0 delivered, 1 failed, 1 still undelivered\n"
    assert down.stderr == ("ingestctl: error: 1 alert(s) wait for email; last error: alert "
                           f"delivery by email failed: cannot connect to 127.0.0.1:{port}: "
                           "connection refused\n")
    collector = Collector()
    controller = smtp_server(collector, port)
    try:
        first = run_cli(home, "--config", str(config), "alerts", "flush")
        assert (first.returncode, first.stdout) == (
            0, "alerts flush: 1 delivered, 0 failed, 0 still undelivered\n")
        second = run_cli(home, "--config", str(config), "alerts", "flush")
        assert (second.returncode, second.stdout) == (
            0, "alerts flush: 0 delivered, 0 failed, 0 still undelivered\n")
        assert_dead_letter_mail(collector, missing.url("/sitemap.xml"))
    finally:
        controller.stop()
    [stored] = alerts_json(home, config)
    assert [(d["state"], d["attempts"]) for d in stored["deliveries"]] == [("sent", 2)]
    metrics_ok = run_cli(home, "--config", str(config), "alerts", "list")
    assert "email sent" in metrics_ok.stdout


class Hook:
    """A webhook receiver; answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        return Response(self.status, b"ok" if self.status == 200 else b"boom")

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.server.requests if r.method == "POST"]


def test_webhook_receives_the_alert_json(home: Path, tmp_path: Path,
                                         missing: LocalServer) -> None:
    hook = Hook()
    with hook.server:
        config = tmp_path / "ingestctl.toml"
        config.write_text(f'[retry]\nattempts = 1\n[jobs]\nmax_attempts = 1\n[[imports]]\n'
                          f'name = "shop-sitemap"\nurl = "{missing.url("/sitemap.xml")}"\n')
        url = hook.server.url("/hooks/T000/B000/s3cr3t")
        run_failing(home, config, INGESTCTL_WEBHOOK_URL=url)
        [payload] = hook.payloads()
    subject = f"[ingestctl][CRITICAL] shop-sitemap failed on {HOST}"
    assert payload["text"].startswith(f"*{subject}*\nImport shop-sitemap failed and job 1 ")
    alert = payload["alert"]
    assert (alert["key"], alert["kind"], alert["severity"], alert["subject"]) == (
        "dead_letter:shop-sitemap", "job_dead_lettered", "critical", subject)
    assert (alert["fields"]["job_id"], alert["fields"]["dead_letters_total"]) == (1, 1)
    assert alert["fields"]["attempts"] == 1
    assert alert["fields"]["attempt_history"][0]["error_class"] == "not_found"


def test_alerts_test_reports_each_channel(home: Path, tmp_path: Path,
                                          missing: LocalServer) -> None:
    hook, collector, port = Hook(), Collector(), free_port()
    controller = smtp_server(collector, port)
    try:
        with hook.server:
            config = write_config(tmp_path, missing.url("/sitemap.xml"), port)
            env = {"INGESTCTL_WEBHOOK_URL": hook.server.url("/hook")}
            ok = run_cli(home, "--config", str(config), "alerts", "test", **env)
            assert (ok.returncode, ok.stdout, ok.stderr) == (0, "email: sent\nwebhook: sent\n",
                                                             "")
            assert collector.messages[0]["Subject"] == \
                f"[ingestctl][INFO] test alert from {HOST}"
            assert hook.payloads()[0]["alert"]["kind"] == "test"
            hook.status = 500
            bad = run_cli(home, "--config", str(config), "alerts", "test", **env)
            assert (bad.returncode, bad.stdout) == (
                1, "email: sent\nwebhook: FAILED: alert delivery by webhook failed: "
                   "the webhook answered HTTP 500: boom\n")
    finally:
        controller.stop()
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    none = run_cli(home, "--config", str(empty), "alerts", "test")
    assert none.returncode == 1
    assert none.stderr == ("ingestctl: error: no alert channel is configured: alerts only reach "
                           "the log; set [alerts.email] to = [...] or the environment variable "
                           "INGESTCTL_WEBHOOK_URL\n")


def test_config_check_rejects_a_missing_ca_file(home: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "https://example.com/s.xml", 25, ca_file="/nope/ca.pem")
    proc = run_cli(home, "--config", str(config), "config", "check")
    assert proc.returncode == 78
    assert proc.stderr == (f"ingestctl: error: config error: {config}: alerts.email.ca_file: "
                           "file not found: /nope/ca.pem\n")


def test_worker_retries_due_deliveries(home: Path, tmp_path: Path,
                                       missing: LocalServer) -> None:
    port = free_port()
    config = write_config(tmp_path, missing.url("/sitemap.xml"), port)
    run_failing(home, config)
    # The first retry is due 30 s after the failed try; make it due now instead of waiting.
    with sqlite3.connect(home / "ingestctl.db") as conn:
        conn.execute("UPDATE alert_deliveries SET next_try_at = '2000-01-01T00:00:00.000000Z'")
    collector = Collector()
    controller = smtp_server(collector, port)
    try:
        proc = run_cli(home, "--config", str(config), "worker", "--once")
        assert proc.returncode == 0, proc.stderr
        assert_dead_letter_mail(collector, missing.url("/sitemap.xml"))
    finally:
        controller.stop()
