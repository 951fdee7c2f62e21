"""Sentry: `ingestctl` processes send dead letters, bugs and Crons check-ins to a local endpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import REPO, rows, run_cli, spawn_env, start_cli, wait_until
from tests.fakes.sentry import SentryServer
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset

SECRET_PASSWORD = "hunter2pass"
SECRET_TOKEN = "s3cr3ttok"


@pytest.fixture
def sentry() -> Iterator[SentryServer]:
    with SentryServer() as server:
        yield server


@pytest.fixture
def site() -> Iterator[LocalServer]:
    body = urlset([f"https://shop.example/p{i}" for i in range(3)])

    def handle(req: Request) -> Response:
        if req.path.startswith("/gone"):
            return Response(404, b"not here")
        return Response(200, body)

    with LocalServer(handle) as server:
        yield server


def write_config(tmp_path: Path, url: str, schedule: str = "0 2 * * *",
                 extra: str = "") -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(f"""
[sentry]
dsn_env = "TEST_SENTRY_DSN"
environment = "test"
[jobs]
max_attempts = 1
[retry]
attempts = 1
[scheduler]
poll_interval = "0.5s"
{extra}
[[imports]]
name = "shop"
url = "{url}"
schedule = "{schedule}"
timezone = "Europe/Berlin"
misfire_grace = "10m"
""")
    return path


def secret_url(site: LocalServer, path: str) -> str:
    return (f"http://ingest:{SECRET_PASSWORD}@127.0.0.1:{site.port}{path}"
            f"?access_token={SECRET_TOKEN}&page=1")


def test_a_dead_letter_is_one_event_with_tags_commands_and_no_secret(
        home: Path, tmp_path: Path, sentry: SentryServer, site: LocalServer) -> None:
    config = write_config(tmp_path, secret_url(site, "/gone/sitemap.xml"))
    proc = run_cli(home, "--config", str(config), "run", "shop", TEST_SENTRY_DSN=sentry.dsn)
    assert proc.returncode == 1, proc.stderr
    events = sentry.items("event")
    assert len(events) == 1, events
    event = events[0]
    assert event["level"] == "error"
    assert event["environment"] == "test"
    assert event["release"].startswith("ingestctl@")
    assert event["tags"] == {"import": "shop", "source": "sitemap", "error_class": "not_found",
                             "error_type": "NotFoundError", "job_id": "1", "attempt": "1"}
    assert event["fingerprint"] == ["ingestctl", "dead-letter", "shop", "not_found"]
    context = event["contexts"]["ingestctl"]
    assert context["inspect"] == "ingestctl jobs show 1"
    assert context["retry"] == "ingestctl retry 1"
    assert context["dead_letters"] == "ingestctl dlq list"
    message = event["logentry"]["message"] if "logentry" in event else event["message"]
    assert message.startswith("shop: job 1 dead-lettered: not_found: ")
    # The URL with its password and token was in the error and in the log breadcrumbs.
    assert "127.0.0.1" in sentry.text()
    assert SECRET_PASSWORD not in sentry.text() and SECRET_TOKEN not in sentry.text()
    assert "access_token=REDACTED" in sentry.text()
    # The import has a schedule: its run is a Crons check-in, in progress then error.
    checkins = sentry.items("check_in")
    assert [c["status"] for c in checkins] == ["in_progress", "error"]
    assert checkins[0]["check_in_id"] == checkins[1]["check_in_id"]
    assert {c["monitor_slug"] for c in checkins} == {"shop"}
    assert checkins[0]["monitor_config"] == {
        "schedule": {"type": "crontab", "value": "0 2 * * *"}, "timezone": "Europe/Berlin",
        "checkin_margin": 10, "max_runtime": 60}
    assert sentry.refused == []


def test_a_bug_in_an_import_is_sent_with_its_traceback(
        home: Path, tmp_path: Path, sentry: SentryServer, site: LocalServer) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    # Loaded at interpreter start (site's sitecustomize hook): every source now divides by 0.
    (inject / "sitecustomize.py").write_text(
        "import ingestctl.jobs.runner\n"
        "class Broken:\n"
        "    def run(self, ctx):\n"
        "        return 1 / 0\n"
        "ingestctl.jobs.runner.get_source = lambda name: Broken()\n")
    config = write_config(tmp_path, site.url("/sitemap.xml"))
    proc = run_cli(home, "--config", str(config), "run", "shop", TEST_SENTRY_DSN=sentry.dsn,
                   PYTHONPATH=f"{inject}:{REPO}")
    assert proc.returncode == 1, proc.stderr
    events = sentry.items("event")
    bugs = [e for e in events if "exception" in e]
    assert len(bugs) == 1, events
    bug = bugs[0]
    exception = bug["exception"]["values"][-1]
    assert exception["type"] == "ZeroDivisionError"
    assert exception["stacktrace"]["frames"][-1]["function"] == "run"
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])
    assert bug["fingerprint"] == ["ingestctl", "unexpected", "shop", "ZeroDivisionError"]
    assert bug["tags"]["job_id"] == "1" and bug["tags"]["error_class"] == "transient"
    assert bug["contexts"]["ingestctl"]["inspect"] == "ingestctl jobs show 1"
    # max_attempts = 1: the job is dead-lettered as well, one more event.
    assert [e["fingerprint"] for e in events if "exception" not in e] == [
        ["ingestctl", "dead-letter", "shop", "transient"]]


def test_the_scheduler_reports_check_ins_for_each_run(
        home: Path, tmp_path: Path, sentry: SentryServer, site: LocalServer) -> None:
    config = write_config(tmp_path, site.url("/sitemap.xml"), schedule="every 1s")
    daemon = start_cli(home, "--config", str(config), "scheduler",
                       TEST_SENTRY_DSN=sentry.dsn)
    try:
        wait_until(lambda: [c["status"] for c in sentry.items("check_in")].count("ok") >= 2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    checkins = sentry.items("check_in")
    by_id: dict[str, list[str]] = {}
    for checkin in checkins:
        by_id.setdefault(checkin["check_in_id"], []).append(checkin["status"])
        assert checkin["monitor_slug"] == "shop"
        assert checkin["monitor_config"]["schedule"] == {"type": "interval", "value": 1,
                                                         "unit": "minute"}
    finished = [statuses for statuses in by_id.values() if statuses[-1] == "ok"]
    assert len(finished) >= 2
    assert all(statuses == ["in_progress", "ok"] for statuses in finished)
    done = int(rows(home, "SELECT count(*) FROM jobs WHERE status = 'completed'")[0][0])
    assert len(finished) == done
    assert sentry.items("event") == []


def test_dsn_env_without_the_sdk_is_a_config_error(
        home: Path, tmp_path: Path, site: LocalServer) -> None:
    missing = tmp_path / "missing"
    (missing / "sentry_sdk").mkdir(parents=True)
    (missing / "sentry_sdk" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'sentry_sdk'\", name='sentry_sdk')\n")
    config = write_config(tmp_path, site.url("/sitemap.xml"))
    for command in (("run", "shop"), ("config", "check")):
        proc = run_cli(home, "--config", str(config), *command,
                       TEST_SENTRY_DSN="http://k@127.0.0.1:9/1", PYTHONPATH=f"{missing}:{REPO}")
        assert (proc.returncode, proc.stdout) == (78, ""), proc.stderr
        assert proc.stderr == (f"ingestctl: error: config error: {config}: sentry.dsn_env: is "
                               "set but sentry-sdk is not installed; pip install "
                               "'ingestctl[sentry]', or set dsn_env = \"\"\n")
    assert not (home / "ingestctl.db").exists() or rows(home, "SELECT count(*) FROM jobs") == \
        [(0,)]


def test_dsn_env_naming_an_unset_variable_is_a_config_error(
        home: Path, tmp_path: Path, site: LocalServer) -> None:
    config = write_config(tmp_path, site.url("/sitemap.xml"))
    proc = run_cli(home, "--config", str(config), "run", "shop")
    assert (proc.returncode, proc.stdout) == (78, "")
    assert proc.stderr == (f"ingestctl: error: config error: {config}: sentry.dsn_env: names "
                           "the environment variable TEST_SENTRY_DSN, which is not set; export "
                           "TEST_SENTRY_DSN=https://<key>@<sentry host>/<project>, or set "
                           "dsn_env = \"\"\n")


def test_logged_errors_are_sent_only_with_an_unexpected_exception(
        home: Path, tmp_path: Path, sentry: SentryServer, site: LocalServer) -> None:
    config = write_config(tmp_path, site.url("/sitemap.xml"))
    script = (
        "import logging, sys\n"
        "from ingestctl.cli.state import AppState\n"
        "from ingestctl.errors import TransientError\n"
        "st = AppState(config_option=sys.argv[1])\n"
        "st.setup_logging()\n"
        "st.events\n"
        "log = logging.getLogger('ingestctl.scheduler')\n"
        "for error in (KeyError('hook state'), TransientError('database is locked')):\n"
        "    try:\n"
        "        raise error\n"
        "    except Exception:\n"
        "        log.exception('scheduler hook failed')\n"
        "log.error('a plain error line')\n"
        "st.close()\n")
    proc = subprocess.run([sys.executable, "-c", script, str(config)], capture_output=True,
                          text=True, timeout=60,
                          env=spawn_env(home, TEST_SENTRY_DSN=sentry.dsn))
    assert proc.returncode == 0, proc.stderr
    events = sentry.items("event")
    assert [e["exception"]["values"][-1]["type"] for e in events] == ["KeyError"]
    assert events[0]["logger"] == "ingestctl.scheduler"
