"""`ingestctl scheduler` as a real subprocess against local sitemap servers.

Interval schedules of a second or two; every wait polls the store with a deadline.
"""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import rows, run_cli, start_cli, wait_until
from tests.httpserver import LocalServer, Request, Response
from tests.sites import GeneratedSite, urlset

START = re.compile(r"^ingestctl scheduler: started \(pid (\d+), home (.+)\): (\d+) scheduled "
                   r"import\(s\)(?:; serving (http://127\.0\.0\.1:\d+))?$")






def write_config(path: Path, imports: str, extra: str = "", grace: str = "10s") -> Path:
    path.write_text(f"""
[scheduler]
poll_interval = "0.5s"
shutdown_grace = "{grace}"
[jobs]
retry_delays = ["1s"]
[retry]
attempts = 1
{extra}
{imports}
""")
    return path


def sitemap_import(name: str, url: str, schedule: str = "every 1s") -> str:
    return f'[[imports]]\nname = "{name}"\nurl = "{url}"\nschedule = "{schedule}"\n'


class Daemon:
    """A running `ingestctl scheduler` and its start line."""

    def __init__(self, home: Path, config: Path, *args: str) -> None:
        self.proc = start_cli(home, "--config", str(config), "scheduler", *args)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert ready, "the scheduler printed no start line"
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().rstrip("\n")
        match = START.match(line)
        assert match, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.pid = int(match.group(1))
        self.url = match.group(4) or ""

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


@pytest.fixture
def pages() -> Iterator[LocalServer]:
    body = urlset([f"https://pages.example/p{i}" for i in range(3)])
    with LocalServer(lambda req: Response(200, body)) as server:
        yield server


def completed(home: Path, name: str) -> int:
    return int(rows(home, f"SELECT count(*) FROM jobs WHERE name = '{name}' "
                          "AND status = 'completed'")[0][0])


def test_runs_repeatedly_serves_http_refuses_a_second_and_stops_on_sigterm(
        home: Path, tmp_path: Path, pages: LocalServer) -> None:
    monitor = LocalServer(lambda req: Response(200, b"OK"))
    config = write_config(tmp_path / "ingestctl.toml",
                          sitemap_import("pages", pages.url("/sitemap.xml"))
                          + f'ping_url = "{monitor.url("/ping/pages")}"\n')
    monitor.__enter__()
    daemon = Daemon(home, config, "--http", "0")
    try:
        wait_until(lambda: completed(home, "pages") >= 2)

        second = run_cli(home, "--config", str(config), "scheduler", timeout=30)
        assert second.returncode == 75
        assert re.fullmatch(
            rf"ingestctl: error: a scheduler is already running for {re.escape(str(home))} "
            rf"\(pid {daemon.pid} on {re.escape(socket.gethostname())}, started \S+\); stop it "
            rf"first \(kill -TERM {daemon.pid}\) or use another --home\n", second.stderr), \
            second.stderr
        assert second.stdout == ""

        assert daemon.get("/livez") == (200, "text/plain; charset=utf-8", "ok\n")
        assert daemon.get("/readyz") == (200, "text/plain; charset=utf-8", "ready\n")
        status, kind, body = daemon.get("/healthz")
        assert (status, kind) == (200, "application/health+json")
        assert json.loads(body)["status"] in ("pass", "warn")
        status, kind, body = daemon.get("/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        assert "\ningestctl_dead_letters 0.0\n" in body
        assert daemon.get("/nope")[0] == 404
    finally:
        code, out, err = daemon.stop()
        monitor.__exit__()
    assert code == 0, err
    assert out.splitlines()[-1] == "ingestctl scheduler: stopped (SIGTERM)"
    # Every second is a slot; on a busy machine an import can outlast one, and the daemon
    # says so. Nothing else reaches stderr.
    assert [line for line in err.splitlines() if not re.fullmatch(
        r"ingestctl: warning: import pages is still running; its slot \S+ is skipped",
        line)] == []
    pings = monitor.paths()
    assert pings[:2] == ["/ping/pages/start", "/ping/pages"]
    assert pings.count("/ping/pages") == completed(home, "pages") >= 2
    statuses = rows(home, "SELECT DISTINCT status FROM jobs")
    assert statuses == [("completed",)]
    runs = rows(home, "SELECT count(*) FROM schedule_slots WHERE import_name = 'pages' "
                      "AND outcome = 'run' AND job_id IS NOT NULL")[0][0]
    assert isinstance(runs, int) and runs >= 2
    assert rows(home, "SELECT count(*), count(DISTINCT url) FROM sitemap_urls") == [(3, 3)]
    assert rows(home, "SELECT key FROM scheduler_state WHERE key = 'heartbeat'") == [
        ("heartbeat",)]


def test_a_failing_import_is_retried_by_the_daemon(home: Path, tmp_path: Path) -> None:
    failures = {"left": 1}

    def flaky(req: Request) -> Response:
        if failures["left"] > 0:
            failures["left"] -= 1
            return Response(503, b"busy")
        return Response(200, urlset(["https://flaky.example/a", "https://flaky.example/b"]))

    with LocalServer(flaky) as server:
        config = write_config(tmp_path / "ingestctl.toml",
                              sitemap_import("flaky", server.url("/sitemap.xml"), "every 2s"))
        daemon = Daemon(home, config)
        try:
            wait_until(lambda: rows(home, "SELECT status FROM jobs WHERE id = 1") == [
                ("completed",)])
        finally:
            code, _, err = daemon.stop()
    assert code == 0, err
    assert rows(home, "SELECT number, outcome, error_class FROM attempts WHERE job_id = 1 "
                      "ORDER BY number") == [(1, "failed", "transient"), (2, "completed", None)]
    assert rows(home, "SELECT count(*) FROM dead_letters") == [(0,)]


def slow_site() -> GeneratedSite:
    return GeneratedSite(children=8, per_child=100, delay=0.25)


def slow_config(tmp_path: Path, site: GeneratedSite, grace: str) -> Path:
    return write_config(tmp_path / "ingestctl.toml",
                        sitemap_import("slow", site.server.url("/index.xml")),
                        "[sitemap]\nconcurrency = 1\n", grace=grace)


def test_sigterm_mid_import_releases_the_job_for_retry_and_loses_nothing(
        home: Path, tmp_path: Path) -> None:
    site = slow_site()
    with site.server:
        config = slow_config(tmp_path, site, "0.5s")
        daemon = Daemon(home, config)
        try:
            wait_until(lambda: rows(home, "SELECT count(*) FROM sitemap_urls")[0][0] >= 100)
        finally:
            started = time.monotonic()
            code, out, err = daemon.stop()
        assert time.monotonic() - started < 10
        assert code == 0, err
        assert out.splitlines()[-1] == ("ingestctl scheduler: stopped (SIGTERM); interrupted "
                                        "job(s) 1 will be retried")
        # Stopped, not crashed: no attempt used up, no crash alert.
        assert rows(home, "SELECT id, status, attempts, max_attempts, error_class FROM jobs") \
            == [(1, "retrying", 1, 4, None)]
        assert rows(home, "SELECT outcome, error_message FROM attempts") == [
            ("interrupted", "interrupted by SIGTERM")]
        count, distinct = rows(home, "SELECT count(*), count(DISTINCT url) FROM sitemap_urls")[0]
        assert count == distinct and 100 <= int(str(count)) < site.total

        worker = run_cli(home, "--config", str(config), "worker", "--once", timeout=60)
        assert worker.returncode == 0, worker.stderr
    assert rows(home, "SELECT id, status, attempts, items FROM jobs") == [
        (1, "completed", 2, site.total)]
    assert rows(home, "SELECT count(*), count(DISTINCT url) FROM sitemap_urls") == [
        (site.total, site.total)]


def test_sigterm_lets_a_running_import_finish_within_the_grace(home: Path,
                                                              tmp_path: Path) -> None:
    site = slow_site()
    with site.server:
        config = slow_config(tmp_path, site, "20s")
        daemon = Daemon(home, config)
        try:
            wait_until(lambda: rows(home, "SELECT count(*) FROM sitemap_urls")[0][0] >= 100)
        finally:
            code, out, err = daemon.stop()
    assert code == 0, err
    assert out.splitlines()[-1] == "ingestctl scheduler: stopped (SIGTERM)"
    assert rows(home, "SELECT id, status, attempts, items FROM jobs") == [
        (1, "completed", 1, site.total)]


def test_sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_bad(
        home: Path, tmp_path: Path, pages: LocalServer) -> None:
    path = tmp_path / "ingestctl.toml"
    first = sitemap_import("first", pages.url("/a.xml"))
    config = write_config(path, first)
    daemon = Daemon(home, config)
    try:
        wait_until(lambda: completed(home, "first") >= 1)
        assert completed(home, "second") == 0
        write_config(path, first + sitemap_import("second", pages.url("/b.xml")))
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: completed(home, "second") >= 1)

        write_config(path, first + sitemap_import("second", pages.url("/b.xml"), "every 7x"))
        daemon.proc.send_signal(signal.SIGHUP)
        log = home / "logs" / "ingestctl.jsonl"
        wait_until(lambda: "config reload failed" in log.read_text())
        before = completed(home, "second")
        wait_until(lambda: completed(home, "second") > before)  # the old config still runs
    finally:
        code, _, err = daemon.stop()
    assert code == 0
    failed = [json.loads(line) for line in log.read_text().splitlines()
              if "config reload failed" in line]
    assert failed[0]["message"] == (
        f"config reload failed; keeping the running config: config error: {path}: "
        'imports[1].schedule: schedule "every 7x": unknown unit "x" (expected s, m, h, d or w)')
    # The reload error went to the log and stderr, the daemon kept running and exited 0.
    assert "config reload failed" in err


def test_scheduler_with_a_bad_schedule_exits_78(home: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "ingestctl.toml",
                          sitemap_import("bad", "https://x.example/s.xml", "61 * * * *"))
    proc = run_cli(home, "--config", str(config), "scheduler", timeout=30)
    assert proc.returncode == 78
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"ingestctl: error: config error: {config}: "
                                  "imports[0].schedule: ")
    bad_http = run_cli(home, "--config", str(config), "scheduler", "--http", "x:y", timeout=30)
    assert (bad_http.returncode, bad_http.stderr) == (
        2, "ingestctl: error: --http 'x:y': expected HOST:PORT or PORT, e.g. "
           "127.0.0.1:9464\n")

