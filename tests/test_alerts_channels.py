"""Alert channels in effect: `[alerts.email]` with `to` is on, and nobody is left unaware when
no channel is (config check, health), all through `ingestctl` as a process."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts_helpers import Collector, free_port, smtp_server
from tests.cli import run_cli
from tests.httpserver import LocalServer, Response

HOST = socket.gethostname()
NONE_ON = ("ingestctl: warning: no alert channel is on: alerts only reach the log; set "
           "[alerts.email] to = [...] or the environment variable INGESTCTL_WEBHOOK_URL\n")


@pytest.fixture
def missing() -> Iterator[LocalServer]:
    with LocalServer(lambda req: Response(404, b"not found")) as server:
        yield server


def _config(tmp_path: Path, email: str, url: str = "https://shop.example/sitemap.xml") -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(f'[jobs]\nmax_attempts = 1\n[alerts.email]\n{email}\n'
                    f'[[imports]]\nname = "shop"\nurl = "{url}"\n')
    return path


def test_an_email_section_without_enabled_delivers(home: Path, tmp_path: Path,
                                                  missing: LocalServer) -> None:
    collector, port = Collector(), free_port()
    config = _config(tmp_path, f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                               'from = "ingestctl@example.org"\nto = ["ops@example.org"]',
                     missing.url("/sitemap.xml"))
    controller = smtp_server(collector, port)
    try:
        proc = run_cli(home, "--config", str(config), "run", "shop")
    finally:
        controller.stop()
    assert proc.returncode == 1, proc.stderr
    assert [env.rcpt_tos for env in collector.envelopes] == [["ops@example.org"]]
    assert collector.messages[0]["Subject"] == f"[ingestctl][CRITICAL] shop failed on {HOST}"


def test_config_check_lists_the_channels_in_effect(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'smtp_host = "mail.example.org"\nsmtp_port = 587\n'
                               'security = "starttls"\nto = ["ops@example.org"]')
    proc = run_cli(home, "--config", str(config), "config", "check",
                   INGESTCTL_WEBHOOK_URL="https://hooks.example/T0/B0/s3cr3t")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == (f"config OK: {config}; 1 import(s)\nalerts: email to ops@example.org "
                           "via mail.example.org:587 starttls; webhook on (URL from "
                           "$INGESTCTL_WEBHOOK_URL)\n")
    assert "s3cr3t" not in proc.stdout


def test_enabled_false_turns_email_off_and_config_check_warns(home: Path, tmp_path: Path,
                                                              missing: LocalServer) -> None:
    collector, port = Collector(), free_port()
    config = _config(tmp_path, f'enabled = false\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\n'
                               'to = ["ops@example.org"]', missing.url("/sitemap.xml"))
    check = run_cli(home, "--config", str(config), "config", "check")
    assert (check.returncode, check.stderr) == (0, NONE_ON)
    assert check.stdout.endswith("\nalerts: email off (enabled = false); webhook off\n")
    controller = smtp_server(collector, port)
    try:
        assert run_cli(home, "--config", str(config), "run", "shop").returncode == 1
    finally:
        controller.stop()
    assert collector.envelopes == []


def test_enabled_without_recipients_is_a_config_error(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, "enabled = true")
    proc = run_cli(home, "--config", str(config), "config", "check")
    assert proc.returncode == 78
    assert proc.stderr == (f"ingestctl: error: config error: {config}: alerts.email.to: email "
                           "alerts are enabled but name no recipient; set to = "
                           '["ops@example.org"], or enabled = false\n')


def test_recipients_from_the_environment_turn_email_on(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    proc = run_cli(home, "--config", str(empty), "config", "check",
                   INGESTCTL_ALERTS__EMAIL__TO="ops@example.org")
    assert proc.stdout.endswith("alerts: email to ops@example.org via localhost:25 without "
                                "TLS; webhook off\n")


def _channels_check(home: Path, config: Path) -> tuple[int, dict[str, object]]:
    proc = run_cli(home, "--config", str(config), "health", "--format", "json")
    [check] = json.loads(proc.stdout)["checks"]["alerts:channels"]
    return proc.returncode, check


def test_health_warns_when_no_channel_is_on(home: Path, tmp_path: Path) -> None:
    assert run_cli(home, "jobs", "list").returncode == 0  # creates the store
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    code, check = _channels_check(home, empty)
    assert code == 1
    assert (check["status"], check["observedValue"], check["output"]) == (
        "warn", 0, "no alert channel is on: alerts only reach the log; set [alerts.email] to "
        "or the webhook URL variable")
    config = _config(tmp_path, 'to = ["ops@example.org"]')
    code, check = _channels_check(home, config)
    assert (check["status"], check["observedValue"]) == ("pass", 1)
