"""The JSON log: size rotation shared by several processes, logrotate mode, stderr for journald."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .cli import run_cli, spawn_env


def _config(tmp_path: Path, logging: str) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(f"[logging]\n{logging}\n")
    return path


def _writers(config: Path, home: Path, count: int, names: tuple[str, ...]) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.log_writer", str(config), str(home),
                               name, str(count)], env=spawn_env(home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert (proc.returncode, out, err) == (0, "", "")


def _lines(logs: Path) -> list[str]:
    found = []
    for path in sorted(logs.glob("ingestctl.jsonl*")):
        found += path.read_text(encoding="utf-8").splitlines()
    return found


def test_two_writers_share_a_size_rotated_log_without_losing_a_line(
        home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'max_bytes = "40KB"\nbackups = 50')
    count = 1500
    _writers(config, home, count, ("alpha", "beta"))
    logs = home / "logs"
    files = sorted(p.name for p in logs.glob("ingestctl.jsonl*"))
    assert len(files) > 10, files  # it rotated, many times, under both writers
    assert "ingestctl.jsonl.1" in files
    for path in logs.glob("ingestctl.jsonl*"):
        assert path.stat().st_size <= 40_000 + 400  # a file ends at the line that filled it
        assert path.stat().st_mode & 0o777 == 0o600
    seen: dict[str, list[int]] = {"alpha": [], "beta": []}
    for line in _lines(logs):
        entry = json.loads(line)  # an interleaved or torn line would not parse
        name, number, _ = entry["message"].split(" ")
        assert entry["job_id"] == int(number)
        seen[name].append(int(number))
    assert sorted(seen["alpha"]) == list(range(count))
    assert sorted(seen["beta"]) == list(range(count))
    # Within each writer the order survives rotation: newest file .1, oldest highest number.
    ordered = []
    for path in sorted(logs.glob("ingestctl.jsonl*"), key=lambda p: -int(
            p.suffix[1:]) if p.suffix[1:].isdigit() else 0):
        ordered += [json.loads(line)["message"].split(" ")[:2]
                    for line in path.read_text().splitlines()]
    alpha = [int(n) for name, n in ordered if name == "alpha"]
    assert alpha == list(range(count))


def test_backups_bound_the_disk_used(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'max_bytes = "20KB"\nbackups = 2')
    _writers(config, home, 1000, ("alpha",))
    files = sorted(p.name for p in (home / "logs").glob("ingestctl.jsonl*"))
    assert files == ["ingestctl.jsonl", "ingestctl.jsonl.1", "ingestctl.jsonl.2"]
    numbers = [int(json.loads(line)["message"].split(" ")[1])
               for line in (home / "logs" / "ingestctl.jsonl").read_text().splitlines()]
    assert numbers[-1] == 999  # the newest lines are in the live file


def test_logrotate_mode_reopens_a_moved_file(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'rotation = "logrotate"\nmax_bytes = "1KB"')
    script = (
        "import logging, os, sys\n"
        "from ingestctl.cli.state import AppState\n"
        "AppState(config_option=sys.argv[1], home_option=sys.argv[2]).setup_logging()\n"
        "log = logging.getLogger('ingestctl.test')\n"
        "path = os.path.join(sys.argv[2], 'logs', 'ingestctl.jsonl')\n"
        "for n in range(20): log.info('before %d', n)\n"
        "os.rename(path, path + '.1')  # what logrotate does (without copytruncate)\n"
        "for n in range(3): log.info('after %d', n)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(config), str(home)],
                          env=spawn_env(home), capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    live = (home / "logs" / "ingestctl.jsonl").read_text().splitlines()
    moved = (home / "logs" / "ingestctl.jsonl.1").read_text().splitlines()
    assert [json.loads(line)["message"] for line in live] == ["after 0", "after 1", "after 2"]
    assert len(moved) == 20  # max_bytes does not apply: logrotate decides
    assert (home / "logs" / "ingestctl.jsonl").stat().st_mode & 0o777 == 0o600


def test_output_stderr_writes_json_lines_and_no_file(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'output = "stderr"')
    proc = run_cli(home, "--config", str(config), "prune")
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stderr.splitlines()[-1])
    assert entry["level"] == "info" and entry["message"].startswith("pruned history older than")
    assert not (home / "logs" / "ingestctl.jsonl").exists()


def test_under_journald_lines_carry_the_syslog_priority(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 'output = "stderr"')
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        info = os.fstat(err.fileno())
        env = spawn_env(home, JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}")
        proc = subprocess.run([sys.executable, "-m", "ingestctl", "--config", str(config),
                               "prune", "--older-than", "1h"], env=env, stderr=err,
                              stdout=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2
    lines = err_path.read_text().splitlines()
    # The error as a journal entry of priority 3, then the line for people.
    assert lines[0].startswith('<3>{"ts": ')
    assert json.loads(lines[0][3:])["level"] == "error"
    assert lines[1].startswith("ingestctl: error: --older-than 1h is shorter than 1d")


CONTRIB = Path(__file__).resolve().parents[1] / "contrib" / "logrotate" / "ingestctl"


def test_the_shipped_logrotate_snippet_rotates_a_running_writer(home: Path,
                                                                tmp_path: Path) -> None:
    logrotate = shutil.which("logrotate")
    if logrotate is None:
        pytest.skip("LOUD SKIP: logrotate is not installed (apt-get install logrotate); the "
                    "shipped contrib/logrotate/ingestctl snippet was not exercised")
    config = _config(tmp_path, 'rotation = "logrotate"')
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    snippet = (CONTRIB.read_text().replace("/var/lib/ingestctl", str(home))
               .replace("ingest ingest", f"{user} {group}"))
    conf = tmp_path / "logrotate.conf"
    conf.write_text(snippet)
    conf.chmod(0o644)
    script = (
        "import logging, sys\n"
        "from ingestctl.cli.state import AppState\n"
        "AppState(config_option=sys.argv[1], home_option=sys.argv[2]).setup_logging()\n"
        "log = logging.getLogger('ingestctl.test')\n"
        "for n in range(5): log.info('before %d', n)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "for n in range(3): log.info('after %d', n)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(config), str(home)],
                              env=spawn_env(home), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    rotated = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    _, err = writer.communicate("go\n", timeout=60)
    assert (writer.returncode, err) == (0, "")
    logs = home / "logs"
    live = (logs / "ingestctl.jsonl").read_text().splitlines()
    moved = (logs / "ingestctl.jsonl.1").read_text().splitlines()  # delaycompress
    assert [json.loads(line)["message"] for line in moved] == [f"before {n}" for n in range(5)]
    assert [json.loads(line)["message"] for line in live] == [f"after {n}" for n in range(3)]
    assert (logs / "ingestctl.jsonl").stat().st_mode & 0o777 == 0o600
