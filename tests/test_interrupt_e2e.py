"""SIGINT and SIGTERM to real `run` and `worker` processes: stop in 2 s, lose nothing, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import rows, run_cli, start_cli, wait_until
from tests.stalling import SilentServer, StallingSite
from tests.terminal import Terminal

CONFIG = """
[http]
timeout = "60s"
"""
RESUME = ("job 1 is queued again and keeps what it finished; resume it with `ingestctl retry "
          "1` (`ingestctl worker` or the scheduler also picks it up)")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _stop(proc: subprocess.Popen[str], signum: signal.Signals) -> tuple[float, str]:
    """Send ``signum``; the seconds until the process exited, and its stderr."""
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    return time.monotonic() - sent, err


def _files_done(home: Path) -> int:
    return rows(home, "SELECT count(*) FROM sitemap_files WHERE status = 'ok' "
                      "AND url LIKE '%child-%'")[0][0]


def _attempts(home: Path) -> list[tuple[object, ...]]:
    return rows(home, "SELECT number, outcome, error_message FROM attempts ORDER BY number")


def _left(home: Path) -> int:
    [(attempts, most)] = rows(home, "SELECT attempts, max_attempts FROM jobs")
    return int(most) - int(attempts)


def _wait_for_phase(home: Path, site: StallingSite, phase: str, requests: int) -> None:
    """Until the misbehaving child is being read: stalled, or mid-parse with rows written."""
    child = f"/child-{site.stall if phase == 'stall' else site.trickle}.xml"
    wait_until(lambda: site.server.paths().count(child) >= requests and _files_done(home) == 5,
               timeout=60)
    if phase == "parse":
        wait_until(lambda: rows(home, "SELECT count(*) FROM sitemap_urls WHERE url LIKE "
                                      f"'%/c{site.trickle}/%'")[0][0] >= 2000, timeout=60)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", ["stall", "parse"])
def test_run_and_worker_stop_in_2s_and_resume_fetches_only_missing_files(
        home: Path, tmp_path: Path, signum: signal.Signals, phase: str) -> None:
    config = str(_config(tmp_path))
    code = {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    # More URLs than one staging file holds, so rows are merged while the child still trickles.
    site = StallingSite(children=6, stall=5 if phase == "stall" else None,
                        trickle=5 if phase == "parse" else None, trickle_urls=45_000)
    with site:
        run = start_cli(home, "--config", config, "run", "sitemap", site.server.url("/index.xml"))
        _wait_for_phase(home, site, phase, requests=1)
        assert _left(home) == 2  # 3 by default, one of them running
        took, err = _stop(run, signum)
        assert (run.returncode, err) == (code, f"ingestctl: interrupted by {signum.name}: "
                                               f"{RESUME}\n")
        assert took < 2.0
        assert rows(home, "SELECT status, attempts FROM jobs") == [("retrying", 1)]
        assert _attempts(home) == [(1, "interrupted", f"interrupted by {signum.name}")]
        assert _left(home) == 3  # the interrupted attempt used up none

        worker = start_cli(home, "--config", config, "worker")
        _wait_for_phase(home, site, phase, requests=2)
        took, err = _stop(worker, signum)
        assert (worker.returncode, err) == (code, f"ingestctl: interrupted by {signum.name}: "
                                                  f"{RESUME}\n")
        assert took < 2.0
        assert [a[1] for a in _attempts(home)] == ["interrupted", "interrupted"]
        assert _left(home) == 3
        assert rows(home, "SELECT count(*) FROM alerts") == [(0,)]

        site.heal()
        site.server.requests.clear()
        resumed = run_cli(home, "--config", config, "worker", "--once")
        assert resumed.returncode == 0, resumed.stderr
        assert site.server.paths() == [f"/child-{5}.xml"]  # the finished files are kept
    assert rows(home, "SELECT status, attempts FROM jobs") == [("completed", 3)]
    assert rows(home, "SELECT count(*), count(DISTINCT url) FROM sitemap_urls") == [
        (site.total, site.total)]
    result = json.loads(run_cli(home, "jobs", "show", "1", "--json").stdout)["result"]
    assert (result["files"], result["resumed_files"]) == (1, 6)


def test_ctrl_c_pressed_repeatedly_never_prints_a_traceback(home: Path) -> None:
    with SilentServer() as server:
        term = Terminal(home, "run", "sitemap", server.url("/sitemap.xml"))
        try:
            wait_until(lambda: bool(server.accepted) and rows(
                home, "SELECT status FROM jobs") == [("processing",)])
            sent = time.monotonic()
            for _ in range(4):
                term.type(b"\x03")  # Ctrl-C, typed: SIGINT to the foreground process group
            code = term.wait()
            took = time.monotonic() - sent
        finally:
            term.close()
    text = term.output.decode(errors="replace")
    assert code == 130
    assert took < 2.0
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert f"ingestctl: interrupted by SIGINT: {RESUME}" in text.replace("\r\n", "")
    assert _attempts(home) == [(1, "interrupted", "interrupted by SIGINT")]


def test_a_request_waiting_a_few_seconds_is_named_under_the_progress_bar(home: Path) -> None:
    with SilentServer() as server:
        url = server.url("/sitemap.xml")
        term = Terminal(home, "run", "sitemap", url, cols=200)
        try:
            term.read_until(f"waiting 3 s for {url}".encode())
            term.type(b"\x03")
            assert term.wait() == 130
        finally:
            term.close()


@pytest.mark.parametrize("command", [("retry", "1"), ("dlq", "retry", "1")])
def test_retry_and_dlq_retry_stop_on_sigterm(home: Path, tmp_path: Path,
                                             command: tuple[str, ...]) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[jobs]\nmax_attempts = 1\n[retry]\nattempts = 1\n[http]\ntimeout = "60s"\n',
                      encoding="utf-8")
    with SilentServer() as server:
        url = server.url("/sitemap.xml")
        # Dead-lettered first: a one-second deadline ends the only attempt.
        failed = run_cli(home, "--config", str(config), "run", "sitemap", url,
                         INGESTCTL_HTTP__REQUEST_DEADLINE="1s")
        assert failed.returncode == 1, failed.stderr
        again = start_cli(home, "--config", str(config), *command)
        wait_until(lambda: rows(home, "SELECT status FROM jobs") == [("processing",)]
                   and len(server.accepted) >= 2)
        took, err = _stop(again, signal.SIGTERM)
    assert (again.returncode, err) == (143, f"ingestctl: interrupted by SIGTERM: {RESUME}\n")
    assert took < 2.0
    assert [a[1] for a in _attempts(home)] == ["failed", "interrupted"]
    assert rows(home, "SELECT status, attempts, max_attempts FROM jobs") == [("retrying", 2, 3)]
