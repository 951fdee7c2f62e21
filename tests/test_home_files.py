"""Files in the home directory that are corrupt, unreadable or shared: never a traceback.

A broken ``breakers.json`` is warned about once and rewritten; ``--home`` leaves the mode of an
existing directory alone; permission problems are one line with a documented exit code.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import file_modes_bind, run_cli, spawn_env

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sitemap.xml"
ONE = '{"version": 1, "breakers": {"sitemap:shop.example": %s}}'
CORRUPT = {
    "year one with an offset": ONE % '{"state": "open", "failures": 5, '
                                      '"open_until": "0001-01-01T00:00:00+01:00"}',
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "a 5,001-digit counter": ONE % ('{"state": "closed", "failures": 1' + "0" * 5000 + "}"),
    "an object as probe_owner": ONE % '{"state": "half_open", "failures": 5, "probe_owner": '
                                       '{"pid": 1}, "probe_until": "2030-01-01T00:00:00Z"}',
    "truncated": '{"version": 1, "breakers": {"sitemap:shop.example": {"state": "op',
    "not UTF-8": b'{"version": 1, "breakers": {"\xff\xfe": {}}}',
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_breaker_file_is_warned_about_once_and_rewritten(home: Path,
                                                                    case: str) -> None:
    home.mkdir(parents=True)
    content = CORRUPT[case]
    path = home / "breakers.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    errors = []
    for args in (["status"], ["breaker", "list"], ["run", "sitemap", str(SAMPLE)],
                 ["worker", "--once"], ["status", "--json"], ["breaker", "list", "--json"]):
        proc = run_cli(home, *args)
        assert proc.returncode == 0, (args, proc.stderr[-3000:])
        errors.append(proc.stderr)
    warned = "".join(errors).splitlines()
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"ingestctl: warning: circuit breaker file {path} ")
    assert warned[0].endswith(f"; the breakers it cannot read are treated as closed; the file "
                              f"is rewritten and the old one kept as {path}.corrupt")
    assert errors[0] == warned[0] + "\n"  # the first command that read it
    data = json.loads(path.read_text())
    assert data == {"version": 1, "breakers": {}} or set(data) == {"version", "breakers"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = Path(f"{path}.corrupt")
    assert kept.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_home_keeps_the_mode_of_an_existing_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    proc = run_cli(shared, "run", "sitemap", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "logs").stat().st_mode) == 0o700  # created: private
    assert stat.S_IMODE((shared / "ingestctl.db").stat().st_mode) == 0o600
    fresh = tmp_path / "new" / "home"
    assert run_cli(fresh, "jobs", "list").returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def run_unprivileged(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*file_modes_bind(), sys.executable, "-m", "ingestctl", *args],
                          env=spawn_env(home, **env), capture_output=True, text=True,
                          timeout=60)


def test_an_unreadable_config_directory_is_one_config_error(home: Path, tmp_path: Path) -> None:
    config_dir = tmp_path / "xdg" / "ingestctl"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text("")
    config_dir.chmod(0)
    try:
        proc = run_unprivileged(home, "jobs", "list", XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    finally:
        config_dir.chmod(0o700)
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr == (f"ingestctl: error: config error: {config_dir / 'config.toml'}: "
                           "cannot read: Permission denied; make it readable by this user or "
                           "pass --config PATH\n")


UNWRITABLE = {  # what is made read-only -> exit code of `run`
    "home": ("", 1),
    "database": ("ingestctl.db", 1),
    "breaker lock": ("breakers.json.lock", 1),
    "log file": ("logs/ingestctl.jsonl", 0),
}


@pytest.mark.parametrize("what", list(UNWRITABLE))
def test_an_unwritable_home_file_is_one_line(home: Path, what: str) -> None:
    assert run_cli(home, "run", "sitemap", str(SAMPLE)).returncode == 0
    name, code = UNWRITABLE[what]
    target = home / name
    target.touch(exist_ok=True)
    before = stat.S_IMODE(target.stat().st_mode)
    target.chmod(0o500 if target.is_dir() else 0o400)
    try:
        proc = run_unprivileged(home, "run", "sitemap", str(SAMPLE))
        listed = run_unprivileged(home, "jobs", "list")
    finally:
        target.chmod(before)
    for result in (proc, listed):
        assert "Traceback" not in result.stderr, result.stderr
        assert "Logging error" not in result.stderr, result.stderr
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    kind = "error" if code else "warning"
    assert proc.stderr.startswith(f"ingestctl: {kind}: "), proc.stderr
    assert "Permission denied" in proc.stderr or "read-only" in proc.stderr, proc.stderr
