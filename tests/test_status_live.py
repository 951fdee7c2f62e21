"""`status --watch` in a real pseudo-terminal, and a running import seen from another process."""

from __future__ import annotations

import json
import signal
import termios
import time
from pathlib import Path

import pytest

from tests.cli import run_cli, start_cli
from tests.monitoring_helpers import standard
from tests.sites import GeneratedSite
from tests.terminal import Terminal


@pytest.fixture
def busy_home(home: Path) -> Path:
    standard(home).store.close()
    return home


def test_watch_redraws_and_quits_on_q_restoring_the_terminal(busy_home: Path) -> None:
    term = Terminal(busy_home, "status", "--watch", "--interval", "200ms")
    try:
        term.read_until(b"Recent failures")
        first = term.output.count(b"ingestctl status")
        term.drain(1.0)  # five more ticks of 200 ms: Live redraws the frame in place
        assert term.output.count(b"ingestctl status") > first
        assert termios.tcgetattr(term.slave)[3] & termios.ICANON == 0  # cbreak while running
        term.type(b"q")
        assert term.wait() == 0
        assert termios.tcgetattr(term.slave) == term.before  # echo and line mode restored
        assert b"Traceback" not in term.output
        assert b"\x1b[?1049h" not in term.output  # no alternate screen: scrollback kept
    finally:
        term.close()


def test_watch_ends_cleanly_on_ctrl_c(busy_home: Path) -> None:
    term = Terminal(busy_home, "status", "--watch", "--interval", "1s", rows=50, cols=160)
    try:
        term.read_until(b"Dead letters")
        term.type(b"\x03")  # the terminal turns it into SIGINT for the foreground group
        assert term.wait() == 0
        assert termios.tcgetattr(term.slave) == term.before
        assert b"Traceback" not in term.output and b"KeyboardInterrupt" not in term.output
    finally:
        term.close()


def test_running_import_progress_seen_from_another_process(home: Path) -> None:
    site = GeneratedSite(children=12, per_child=300, delay=0.4)
    with site.server:
        proc = start_cli(home, "run", "sitemap", site.server.url("/index.xml"),
                         INGESTCTL_JOBS__HEARTBEAT="100ms")
        try:
            seen: dict[str, object] = {}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (home / "ingestctl.db").exists():
                    status = run_cli(home, "status", "--json")
                    assert status.returncode == 0, status.stderr
                    running = json.loads(status.stdout)["running"]
                    if running and running[0]["items"] > 0:
                        seen = running[0]
                        break
                time.sleep(0.1)
            assert seen, "the import never showed progress"
            assert seen["source"] == "sitemap" and seen["attempt"] == 1
            assert 0 < int(seen["items"]) < site.total  # type: ignore[call-overload]
            assert str(seen["current"]).startswith(site.server.url("/child-"))
            assert seen["files_total"] == site.children + 1
            assert seen["lease_expired"] is False
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def test_watch_refuses_a_pipe(home: Path) -> None:
    proc = run_cli(home, "status", "--watch")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("ingestctl: error: status --watch needs a terminal on stdout; use "
                           "`ingestctl status` for one screen or `ingestctl status --json` "
                           "for programs\n")
