"""Secrets in sitemap, webhook and ping URLs never reach a surface a person or system sees.

A real sitemap server that requires the user info and the token, a real SMTP server, a webhook
and a cron monitor that record what they receive, every command as a subprocess, and a real
``ingestctl scheduler --http``: the passwords and tokens must appear nowhere but the store.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import rows, run_cli, start_cli, wait_until
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset
from tests.test_scheduler_daemon import Daemon

from .alerts_helpers import Collector, free_port, smtp_server

PASSWORD = "PASSWORDq7x"
TOKEN = "TOKENz9k"
PARTNER = "PARTNERv5w"  # a parameter name redacted only because the config lists it
HOOK_TOKEN = "HOOKTOKENm4"
PING_TOKEN = "PINGTOKENp2"
SECRETS = (PASSWORD, TOKEN, PARTNER, HOOK_TOKEN, PING_TOKEN)
AUTH = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()


class Site:
    """A sitemap server that answers only requests carrying the password and the token."""

    def __init__(self) -> None:
        self.server = LocalServer(self.handle)
        self.release = threading.Event()

    def url(self, path: str) -> str:
        return (f"http://bob:{PASSWORD}@127.0.0.1:{self.server.port}{path}"
                f"?access_token={TOKEN}&partner={PARTNER}")

    def handle(self, req: Request) -> Response:
        if req.headers.get("authorization") != AUTH or f"access_token={TOKEN}" not in req.path:
            return Response(401, b"who are you")
        path = req.path.split("?")[0]
        if path == "/ok.xml":
            return Response(200, urlset([f"{self.server.base}/p{i}" for i in range(3)]))
        if path == "/index.xml":  # a child whose own URL carries a signature
            child = f"{self.server.base}/child.xml?sig={TOKEN}&amp;access_token={TOKEN}"
            return Response(200, (
                '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                f'sitemap/0.9"><sitemap><loc>{child}</loc></sitemap></sitemapindex>').encode())
        if path == "/child.xml":
            return Response(200, b"<urlset><url><loc>broken")
        if path == "/flaky.xml":
            return Response(503, b"try later")
        if path == "/slow.xml":  # stays running until the test has looked at it
            body = urlset([f"{self.server.base}/s{i}" for i in range(3)])
            return Response(200, chunks=self._slowly(body))
        return Response(404, b"not found")


    def _slowly(self, body: bytes) -> Iterator[bytes]:
        yield body[:60]
        self.release.wait(60)
        yield body[60:]


class Recorder:
    """A webhook or cron monitor: records every request; the webhook answers 500 and echoes
    the path and query it was called with, as some services do."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        return Response(self.status, f"no hook at {req.path}".encode()
                        if self.status >= 400 else b"OK")

    def texts(self) -> list[str]:
        """What was sent to the URL (its own token, in the request line, is no leak)."""
        return [r.body.decode("utf-8", "replace") for r in self.server.requests]


@pytest.fixture
def servers() -> Iterator[tuple[Site, Recorder, Recorder]]:
    site, hook, monitor = Site(), Recorder(500), Recorder(200)
    with site.server, hook.server, monitor.server:
        yield site, hook, monitor


def write_config(tmp_path: Path, site: Site, monitor: Recorder, smtp_port: int) -> Path:
    ping = f"{monitor.server.base}/ping/shop?api_key={PING_TOKEN}"
    config = tmp_path / "ingestctl.toml"
    config.write_text(f"""
[retry]
attempts = 1
[jobs]
max_attempts = 2
retry_delays = ["1h"]
heartbeat = "0.1s"
[breaker]
failure_threshold = 1
[security]
redact_query_params = ["partner"]
[alerts.email]
to = ["ops@example.org"]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
timeout = "5s"
[[imports]]
name = "shop"
url = "{site.url('/ok.xml')}"
schedule = "0 2 * * *"
ping_url = "{ping}"
[[imports]]
name = "gone"
url = "{site.url('/sitemap.xml')}"
schedule = "0 3 * * *"
ping_url = "{ping}"
""")
    return config


def leaks(surfaces: dict[str, str]) -> list[tuple[str, str, str]]:
    found = []
    for where, text in surfaces.items():
        for secret in SECRETS:
            index = text.find(secret)
            if index >= 0:
                found.append((where, secret, text[max(0, index - 120):index + 20]))
    return found


def test_no_secret_reaches_any_output_surface(home: Path, tmp_path: Path,
                                               servers: tuple[Site, Recorder, Recorder]) -> None:
    site, hook, monitor = servers
    collector, smtp_port = Collector(), free_port()
    controller = smtp_server(collector, smtp_port)
    config = write_config(tmp_path, site, monitor, smtp_port)
    env = {"INGESTCTL_WEBHOOK_URL": f"{hook.server.base}/hook?token={HOOK_TOKEN}"}
    surfaces: dict[str, str] = {}
    codes: dict[str, int] = {}

    def cli(*args: str) -> str:
        proc = run_cli(home, "--config", str(config), *args, **env)
        name = " ".join(args)
        surfaces[f"{name} (stdout)"] = proc.stdout
        surfaces[f"{name} (stderr)"] = proc.stderr
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        codes[name] = proc.returncode
        return proc.stdout

    textfile = tmp_path / "ingestctl.prom"
    try:
        cli("run", "shop")
        cli("run", "gone")
        cli("run", "sitemap", site.url("/ok.xml"))
        cli("run", "sitemap", site.url("/sitemap.xml"))
        cli("run", "sitemap", site.url("/index.xml"))
        slow = start_cli(home, "--config", str(config), "run", "sitemap", site.url("/slow.xml"))
        try:
            wait_until(lambda: bool(rows(home, "SELECT 1 FROM jobs WHERE status = 'processing'")))
            for args in (["status"], ["status", "--json"], ["jobs", "list", "--json"]):
                cli(*args)
                surfaces[f"while running: {' '.join(args)}"] = surfaces.pop(
                    f"{' '.join(args)} (stdout)")
            assert "/slow.xml" in surfaces["while running: status --json"]
        finally:
            site.release.set()
            out, err = slow.communicate(timeout=60)
        surfaces["run slow (stdout)"], surfaces["run slow (stderr)"] = out, err
        assert slow.returncode == 0, err
        # Last: with failure_threshold 1 this opens the breaker of the site's host.
        cli("run", "sitemap", site.url("/flaky.xml"), "--no-wait")
        assert (codes["run shop"], codes["run gone"]) == (0, 1)
        assert codes[f"run sitemap {site.url('/flaky.xml')} --no-wait"] == 75
        # Every fetch of a URL given with user info used the real URL from the store.
        given = [r for r in site.server.requests if not r.path.startswith("/child.xml")]
        assert given and all(r.headers.get("authorization") == AUTH for r in given), [
            (r.path, r.headers.get("authorization")) for r in site.server.requests]
        for args in (["jobs", "list"], ["jobs", "list", "--json"], ["dlq", "list"],
                     ["dlq", "list", "--json"], ["status"], ["status", "--json"], ["health"],
                     ["health", "--format", "nagios"], ["health", "--format", "json"],
                     ["metrics"], ["metrics", "--textfile", str(textfile)], ["breaker", "list"],
                     ["breaker", "list", "--json"], ["alerts", "list"],
                     ["alerts", "list", "--json"], ["alerts", "flush"], ["alerts", "test"],
                     ["config", "show"], ["config", "show", "--json"], ["config", "check"],
                     ["schedule", "list"], ["schedule", "list", "--json"],
                     ["schedule", "crontab"], ["worker", "--once"]):
            cli(*args)
        for job in json.loads(surfaces["jobs list --json (stdout)"]):
            cli("jobs", "show", str(job["id"]))
            cli("jobs", "show", str(job["id"]), "--json")
        for entry in json.loads(surfaces["dlq list --json (stdout)"]):
            cli("dlq", "show", str(entry["id"]))
            cli("dlq", "show", str(entry["id"]), "--json")
        cli("dlq", "retry", "1")
        cli("retry", "4")
        assert codes["alerts test"] == codes["alerts flush"] == 1  # the webhook answers 500
        surfaces["textfile metrics"] = textfile.read_text()

        daemon = Daemon(home, config, "--http", "0")
        try:
            for path in ("/metrics", "/healthz", "/readyz", "/livez"):
                surfaces[f"scheduler {path}"] = daemon.get(path)[2]
        finally:
            code, out, err = daemon.stop()
        surfaces["scheduler (stdout)"], surfaces["scheduler (stderr)"] = out, err
    finally:
        controller.stop()

    for log in (home / "logs").iterdir():
        surfaces[f"log {log.name}"] = log.read_text()
    for n, message in enumerate(collector.messages):
        surfaces[f"mail {n}"] = message.as_string() + message.get_content()
    for n, text in enumerate(hook.texts()):
        surfaces[f"webhook request {n}"] = text
    for n, text in enumerate(monitor.texts()):
        surfaces[f"ping request {n}"] = text

    found = leaks(surfaces)
    assert not found, "\n".join(f"{where}: {secret} in ...{context!r}"
                                 for where, secret, context in found)

    # The surfaces were really there, with the redacted forms in place of the secrets.
    port = site.server.port
    adhoc_ok = f"sitemap:http://127.0.0.1:{port}/ok.xml?access_token=REDACTED&partner=REDACTED"
    assert f'import="{adhoc_ok}"' in surfaces["metrics (stdout)"]
    assert f'import="{adhoc_ok}"' in surfaces["scheduler /metrics"]
    assert f'import="{adhoc_ok}"' in surfaces["textfile metrics"]
    assert adhoc_ok in surfaces["jobs list --json (stdout)"]
    assert "quality:errors" in surfaces["scheduler /healthz"]
    subjects = [m["Subject"] for m in collector.messages]
    assert any("sitemap:http://127.0.0.1" in s and "failed" in s for s in subjects), subjects
    assert any("gone failed" in s for s in subjects), subjects
    assert len(hook.texts()) >= 3 and len(monitor.texts()) >= 3
    # A ping URL with a query gets /start and /fail on its path, not inside its query.
    pings = monitor.server.paths()
    assert f"/ping/shop/start?api_key={PING_TOKEN}" in pings
    assert f"/ping/shop/fail?api_key={PING_TOKEN}" in pings
    assert "webhook: FAILED" in surfaces["alerts test (stdout)"]
    assert "no hook at <path>?token=REDACTED" in surfaces["alerts list --json (stdout)"]

    # The store keeps the real URL, in a file only its owner can read.
    targets = {t for (t,) in rows(home, "SELECT target FROM jobs")}
    assert site.url("/ok.xml") in targets
    assert stat.S_IMODE(os.stat(home / "ingestctl.db").st_mode) == 0o600
