"""``status --watch`` in a real terminal: tmux at 80x24 and 200x50, keys typed, screens captured.

Each captured screen is written to ``$INGESTCTL_TEST_SCREENS`` (or the test's tmp dir) and shown
when an assertion fails. Without tmux these tests skip with a loud reason, except under CI
(``CI`` set), where a missing tmux is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli import spawn_env
from tests.listing_helpers import SPAN, config_file, listing_home

TMUX = shutil.which("tmux")
if TMUX is None:
    reason = ("TMUX IS NOT INSTALLED: the live dashboard (status --watch) is NOT tested; "
              "apt-get install tmux")
    if os.environ.get("CI"):
        raise RuntimeError(reason + " (CI must run these tests)")
    pytestmark = pytest.mark.skip(reason=reason)


class Pane:
    """One tmux server (its own socket) running one command in a window of a fixed size."""

    def __init__(self, tmp: Path, command: list[str], env: dict[str, str], cols: int,
                 rows: int) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.screens = Path(os.environ.get("INGESTCTL_TEST_SCREENS") or tmp)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # COLUMNS and LINES may come from the process that started tmux: the size is tmux's.
        shell = f"env -u COLUMNS -u LINES {exports} {shlex.join(command)}; echo EXIT=$?; sleep 60"
        self.tmux("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows), shell)
        self.cols, self.rows = cols, rows

    def tmux(self, *args: str) -> str:
        """Run a tmux command on this server."""
        assert TMUX is not None
        return subprocess.run([TMUX, "-S", self.socket, "-f", "/dev/null", *args], check=True,
                              capture_output=True, text=True, timeout=20).stdout

    def screen(self) -> list[str]:
        """The visible screen, one string a row (trailing spaces kept off)."""
        return self.tmux("capture-pane", "-p", "-t", "t").split("\n")[:self.rows]

    def wait_for(self, predicate: Callable[[str], bool], what: str,
                 timeout: float = 30) -> list[str]:
        """Poll the screen until ``predicate(text)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate("\n".join(lines)):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not seen; screen:\n" + "\n".join(lines))
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names such as Enter, Escape, Down)."""
        self.tmux("send-keys", "-t", "t", *keys)

    def save(self, name: str, lines: list[str]) -> Path:
        """Write a captured screen where the test run keeps them."""
        self.screens.mkdir(parents=True, exist_ok=True)
        path = self.screens / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def close(self) -> None:
        """Stop this test's tmux server (and the command in it)."""
        subprocess.run([TMUX or "tmux", "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=20)


@pytest.fixture
def dashboard(home: Path, tmp_path: Path) -> Iterator[Callable[[int, int], Pane]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SPAN)
    listing_home(home, start).store.close()
    env = spawn_env(home, INGESTCTL_CONFIG=str(config_file(tmp_path)), TERM="xterm-256color")
    env = {k: v for k, v in env.items() if k.startswith(("INGESTCTL_", "PYTHON", "PATH", "TERM",
                                                         "HOME", "LANG", "LC_"))}
    env.setdefault("LANG", "C.UTF-8")
    panes: list[Pane] = []

    def open_pane(cols: int, rows: int) -> Pane:
        pane = Pane(tmp_path, [sys.executable, "-m", "ingestctl", "status", "--watch",
                               "--interval", "300ms"], env, cols, rows)
        panes.append(pane)
        return pane

    yield open_pane
    for pane in panes:
        pane.close()


def footer_ready(text: str) -> bool:
    return "q quit" in text and "ingestctl status" in text


def test_80x24_fills_the_screen_with_urgent_sections_and_key_hints(
        dashboard: Callable[[int, int], Pane]) -> None:
    pane = dashboard(80, 24)
    lines = pane.wait_for(lambda t: footer_ready(t) and "Running" in t, "the first frame")
    saved = pane.save("dashboard-80x24", lines)
    shown = "\n".join(lines)
    assert len(lines) == 24, shown
    assert all(len(line) <= 80 for line in lines), shown
    assert lines[0].startswith("ingestctl status  ") and " UTC  " in lines[0], shown
    assert lines[-2].startswith("q quit  p pause"), f"footer not on the last line ({saved})"
    order = [name for name in ("Running", "Recent failures", "Dead letters", "Retry queue",
                               "Circuit breakers") if name in shown]
    assert order == ["Running", "Recent failures", "Dead letters", "Retry queue",
                     "Circuit breakers"], shown
    assert [shown.index(name) for name in order] == sorted(shown.index(n) for n in order)
    assert "1,200" in shown and "[7/30] https://news.example.com/s-7.x" in shown
    assert "sitemap:https…/sitemap-3.xml" in shown  # names keep their ends
    assert "sitemap:shop.example.com  " in shown and "open" in shown


def test_keys_open_a_job_go_back_pause_filter_and_quit(
        dashboard: Callable[[int, int], Pane]) -> None:
    pane = dashboard(80, 24)
    pane.wait_for(footer_ready, "the first frame")
    pane.keys("j", "j")  # the second selectable row: the first failed attempt (job 3)
    pane.keys("Enter")
    job = pane.wait_for(lambda t: "what to run" in t, "the job screen")
    pane.save("dashboard-job", job)
    text = "\n".join(job)
    assert "job 3" in text and "retrying" in text and "ingestctl retry 3" in text
    assert "transient: HTTP 503 Service Unavailable" in text
    assert job[-2].startswith("q quit  esc/b back"), text
    pane.keys("Escape")
    pane.wait_for(lambda t: "Recent failures" in t and "what to run" not in t, "the way back")
    pane.keys("p")
    paused = pane.wait_for(lambda t: "[PAUSED]" in t, "the pause note")
    pane.save("dashboard-paused", paused)
    pane.keys("p", "s")  # resume; filter by the first source in order: merchant
    only = pane.wait_for(lambda t: "[source=merchant]" in t and "[PAUSED]" not in t,
                         "the source filter")
    assert "news" not in "\n".join(only[1:-2]), "\n".join(only)
    pane.keys("Escape", "f")
    failing = pane.wait_for(lambda t: "[status=failing]" in t, "the status filter")
    assert "Running: nothing" in "\n".join(failing)
    pane.keys("q")
    pane.wait_for(lambda t: "EXIT=0" in t, "a clean exit")


def test_200x50_uses_two_columns_and_the_whole_height(
        dashboard: Callable[[int, int], Pane]) -> None:
    pane = dashboard(200, 50)
    lines = pane.wait_for(lambda t: footer_ready(t) and "Running" in t and "Recent failures"
                          in t.split("\n")[1], "a frame in two columns")
    pane.save("dashboard-200x50", lines)
    shown = "\n".join(lines)
    assert len(lines) == 50 and all(len(line) <= 200 for line in lines), shown
    assert any(line.startswith("Running ") and "Recent failures" in line for line in lines), shown
    assert max(len(line.rstrip()) for line in lines) > 150, shown  # the right half is used
    assert lines[-2].startswith("q quit"), shown
    assert "last 24h by hour" in shown  # room for the sources and their sparklines
