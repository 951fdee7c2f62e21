"""systemd: sd_notify from a real scheduler, the shipped unit, `schedule systemd` timers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestctl.scheduler.sdnotify import Notifier
from ingestctl.scheduler.spec import parse_schedule
from ingestctl.scheduler.systemd import exec_line, on_calendar

from .cli import invoke, start_cli

CONTRIB = Path(__file__).resolve().parents[1] / "contrib" / "systemd"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("LOUD SKIP: systemd-analyze is not installed (apt-get install systemd); "
                    "the unit files were NOT verified")
    return found


class NotifySocket:
    """A datagram socket standing in for systemd's notification socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path
        self.received: list[tuple[float, dict[str, str]]] = []

    def until(self, key: str, value: str = "1", timeout: float = 20) -> dict[str, str]:
        """Read messages until one sets ``key``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                break
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.received.append((time.monotonic(), fields))
            if fields.get(key) == value:
                return fields
        raise AssertionError(f"no {key}={value} in time; got {self.received}")

    def close(self) -> None:
        self.sock.close()


def test_the_scheduler_notifies_ready_watchdog_reload_and_stopping(
        home: Path, tmp_path: Path) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[scheduler]\npoll_interval = "0.5s"\n[retention]\nenabled = false\n'
                      '[[imports]]\nname = "nightly"\nurl = "https://e.example/s.xml"\n'
                      'schedule = "0 2 * * *"\n')
    notify = NotifySocket(tmp_path / "notify.sock")
    daemon = start_cli(home, "--config", str(config), "-q", "scheduler",
                       NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000")
    try:
        ready = notify.until("READY")
        assert ready["STATUS"] == "1 scheduled import(s), 0 running"
        assert ready["MAINPID"] == str(daemon.pid)
        for _ in range(3):
            notify.until("WATCHDOG")
        beats = [at for at, fields in notify.received if "WATCHDOG" in fields]
        # Every half of WATCHDOG_USEC (0.5 s), never more often.
        assert all(later - earlier >= 0.45 for earlier, later in zip(beats, beats[1:],
                                                                     strict=False))
        daemon.send_signal(signal.SIGHUP)
        reloading = notify.until("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        assert notify.until("READY")["STATUS"] == "1 scheduled import(s), 0 running"
        daemon.send_signal(signal.SIGTERM)
        stopping = notify.until("STOPPING")
        assert stopping["STATUS"] == "stopping (SIGTERM): 0 import(s) running"
        out, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
        notify.close()
    assert (daemon.returncode, out, err) == (0, "", "")
    kinds = [next(iter(fields)) for _, fields in notify.received]
    assert kinds[0] == "READY" and kinds[-1] == "STOPPING"


def test_without_notify_socket_nothing_is_sent_and_the_abstract_namespace_works() -> None:
    assert not Notifier({}).enabled
    assert Notifier({}).send("READY=1") is False
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    name = f"ingestctl-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        ticks = iter([100.0, 100.0, 100.2, 100.5])
        notifier = Notifier({"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "1000000",
                             "WATCHDOG_PID": str(os.getpid())}, monotonic=lambda: next(ticks))
        assert notifier.watchdog_interval == 0.5
        notifier.ready("up")
        notifier.keepalive()  # 0.0 s later: not yet
        notifier.keepalive()  # 0.2 s
        notifier.keepalive()  # 0.5 s: due
        sock.settimeout(5)
        assert sock.recv(4096).decode().split("\n")[:2] == ["READY=1", "STATUS=up"]
        assert sock.recv(4096) == b"WATCHDOG=1"
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)


def test_a_notify_socket_that_is_gone_is_logged_once(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.send("READY=1") is False
    assert notifier.send("WATCHDOG=1") is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "ingestctl.scheduler"]
    assert len(warnings) == 1 and warnings[0].startswith("cannot notify systemd at ")


def test_the_shipped_scheduler_unit_verifies(tmp_path: Path) -> None:
    analyze = _analyze()
    text = (CONTRIB / "ingestctl-scheduler.service").read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text and "Restart=on-failure" in text
    program = shutil.which("ingestctl") or sys.executable
    unit = tmp_path / "ingestctl-scheduler.service"
    unit.write_text(text.replace("/usr/local/bin/ingestctl", program))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


CONFIG = """
[[imports]]
name = "shop"
url = "https://shop.example/100%-sitemap.xml"
schedule = "0 2 * * *"
timezone = "Europe/Berlin"
jitter = "5m"
[[imports]]
name = "either"
url = "https://e.example/s.xml"
schedule = "0 6 1 * mon"
[[imports]]
name = "odd"
source = "merchant"
account = "1"
schedule = "every 7m"
[[imports]]
name = "manual"
url = "https://m.example/s.xml"
"""


def test_schedule_systemd_writes_units_that_verify(home: Path, tmp_path: Path) -> None:
    analyze = _analyze()
    config = tmp_path / "dir with space" / "ingestctl.toml"
    config.parent.mkdir()
    config.write_text(CONFIG)
    out = tmp_path / "units"
    result = invoke("--config", str(config), "schedule", "systemd", "--output-dir", str(out))
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"ingestctl-{n}.{kind}" for n in ("import-shop", "import-either",
                                                              "import-odd", "prune")
                           for kind in ("service", "timer"))
    assert result.stdout.splitlines()[-1] == (
        "then: systemctl daemon-reload && systemctl enable --now ingestctl-import-shop.timer "
        "ingestctl-import-either.timer ingestctl-import-odd.timer ingestctl-prune.timer")
    proc = subprocess.run([analyze, "verify", *sorted(str(p) for p in out.iterdir())],
                          capture_output=True, text=True, timeout=60, cwd=out)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    service = (out / "ingestctl-import-shop.service").read_text()
    assert f'"--config" "{config}"' not in service
    assert f'--config "{config}" run shop -q' in service
    assert f"Environment=INGESTCTL_HOME={home.resolve()}" in service
    assert "SuccessExitStatus=75" in service and "ProtectSystem=full" in service
    shop = (out / "ingestctl-import-shop.timer").read_text()
    assert "OnCalendar=*-*-* 02:00:00 Europe/Berlin\n" in shop
    assert "RandomizedDelaySec=300s\n" in shop and "Persistent=true\n" in shop
    either = (out / "ingestctl-import-either.timer").read_text()
    assert re.findall(r"^OnCalendar=.*$", either, re.M) == [
        "OnCalendar=*-*-01 06:00:00 UTC", "OnCalendar=Mon *-*-* 06:00:00 UTC"]
    odd = (out / "ingestctl-import-odd.timer").read_text()
    assert "OnUnitActiveSec=420s\n" in odd and "not from the Unix epoch" in odd
    prune = (out / "ingestctl-prune.timer").read_text()
    assert "OnCalendar=*-*-* 03:30:00\n" in prune  # host time, as cron


def test_schedule_systemd_prints_user_units(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(CONFIG + '[retention]\nenabled = false\n')
    result = invoke("--config", str(config), "schedule", "systemd", "--user")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "# ~/.config/systemd/user/ingestctl-import-shop.service\n[Unit]\n" in text
    assert "User=" not in text and "ProtectSystem" not in text and "prune" not in text
    assert text.endswith("# then: systemctl --user daemon-reload && systemctl --user enable "
                         "--now ingestctl-import-shop.timer ingestctl-import-either.timer "
                         "ingestctl-import-odd.timer\n")
    nothing = tmp_path / "none.toml"
    nothing.write_text('[[imports]]\nname = "m"\nurl = "https://e.example/s.xml"\n')
    result = invoke("--config", str(nothing), "schedule", "systemd")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"ingestctl: error: no import in {nothing} has a schedule")


def test_exec_lines_escape_what_systemd_would_expand() -> None:
    assert exec_line(["/usr/bin/ingestctl", "--config", "/etc/a b/c.toml", "run", "x%y",
                      "$HOME", 'q"t']) == (
        '/usr/bin/ingestctl --config "/etc/a b/c.toml" run x%%y $$HOME "q\\"t"')


@pytest.mark.parametrize(("text", "zone"), [
    ("0 2 * * *", "UTC"), ("*/15 * * * *", "UTC"), ("30 9 * * 1-5", "UTC"),
    ("0 0 1 * 1", "UTC"), ("5,10,15 8-17 */2 jan,jul *", "UTC"), ("0 0 */2 * 1", "UTC"),
    ("0 12 * * 0,6", "America/New_York"), ("@monthly", "UTC"), ("every 15m", "UTC"),
    ("every 30s", "UTC"), ("every 6h", "UTC"), ("every 1d", "UTC"), ("every 1w", "UTC"),
])
def test_timer_calendars_fire_when_the_scheduler_does(text: str, zone: str) -> None:
    """`systemd-analyze calendar` computes the same next runs as the scheduler."""
    analyze = _analyze()
    schedule = parse_schedule(text, zone)
    base = datetime(2026, 1, 13, 10, 7, 3, tzinfo=UTC)  # no daylight-saving change near
    expected = [m.astimezone(UTC) for m in schedule.next_runs(base, 6)]
    found: list[datetime] = []
    for expression in on_calendar(schedule):
        proc = subprocess.run(
            [analyze, "calendar", "--iterations=6", "--base-time=2026-01-13 10:07:03 UTC",
             expression], capture_output=True, text=True, timeout=30, env={**os.environ,
                                                                          "TZ": "UTC"})
        assert proc.returncode == 0, proc.stderr
        assert "Normalized form" in proc.stdout
        found += [datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for m in
                  re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC", proc.stdout)]
    assert sorted(set(found))[:6] == expected
