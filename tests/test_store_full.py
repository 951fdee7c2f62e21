"""A store that cannot be written: a full disk, a full SQLite file, a read-only database.

``health`` must say CRITICAL, an import must fail its attempt once as ``transient`` with a
message that says the disk is full, and no job may stay ``processing``. The full filesystem is
a real tmpfs when this process may mount one (root); the SQLite layer's own "database or disk
is full" is injected everywhere else with a tiny ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import file_modes_bind, rows, run_cli, spawn_env
from tests.sites import urlset

# Imported by every subprocess whose PYTHONPATH starts with its directory: caps the database
# at its current size, so the next page it needs fails with SQLITE_FULL.
SITECUSTOMIZE = '''
import os
import sqlite3

_connect = sqlite3.connect


def _capped(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
    return conn


sqlite3.connect = _capped
'''


@pytest.fixture
def big_sitemap(tmp_path: Path) -> Path:
    path = tmp_path / "big.xml"
    path.write_bytes(urlset([f"https://example.com/p/{i}/a/longer/path/to/use/some/space"
                             for i in range(5000)]))
    return path


def capped_env(tmp_path: Path, home: Path) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": f"{hook}{os.pathsep}{spawn_env(home)['PYTHONPATH']}"}


def assert_failed_once_as_disk_full(home: Path, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 75, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert re.fullmatch(
        r"ingestctl: error: job 1 deferred until \S+ \(transient: store error: \S+ingestctl\.db: "
        r"the disk is full \(\S+ free\); free space on that filesystem or move --home; failed "
        r"jobs are retried later\); `ingestctl worker` or the scheduler retries it, or "
        r"`ingestctl retry 1` now\n", proc.stderr), proc.stderr
    assert "another process" not in proc.stderr
    assert rows(home, "SELECT status, attempts, error_class, error_type FROM jobs") == [
        ("retrying", 1, "transient", "StoreFullError")]
    assert rows(home, "SELECT number, outcome, error_class FROM attempts") == [
        (1, "failed", "transient")]


def test_an_import_on_a_full_store_fails_once_as_transient(home: Path, tmp_path: Path,
                                                            big_sitemap: Path) -> None:
    small = tmp_path / "small.xml"
    small.write_bytes(urlset(["https://example.com/"]))
    assert run_cli(home, "run", "sitemap", str(small)).returncode == 0  # the store exists
    with_cap = capped_env(tmp_path, home)
    proc = run_cli(home, "run", "sitemap", str(big_sitemap), **with_cap)
    assert proc.returncode == 75, proc.stderr
    assert "the disk is full" in proc.stderr and "another process" not in proc.stderr
    assert rows(home, "SELECT status, attempts, error_type FROM jobs WHERE id = 2") == [
        ("retrying", 1, "StoreFullError")]
    listed = run_cli(home, "jobs", "list", **with_cap)
    assert listed.returncode == 0 and listed.stderr == ""


def test_health_is_critical_below_min_free_space(home: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.xml"
    small.write_bytes(urlset(["https://example.com/"]))
    assert run_cli(home, "run", "sitemap", str(small)).returncode == 0
    ok = run_cli(home, "health", "--format", "nagios")
    # WARNING only for the missing alert channel (alerts:channels); the database is fine.
    assert ok.returncode == 1 and "'database:writable'=1" in ok.stdout, ok.stdout
    assert ok.stdout.startswith("INGESTCTL WARNING - no alert channel is on"), ok.stdout
    low = run_cli(home, "health", "--format", "nagios", INGESTCTL_HEALTH__MIN_FREE_SPACE="1000TB")
    assert low.returncode == 2, low.stdout
    assert re.match(rf"INGESTCTL CRITICAL - disk almost full: \S+ free on {re.escape(str(home))}, "
                    r"below min_free_space 1000.0TB; ", low.stdout), low.stdout
    assert "'database:writable'=0;;1:;0;1" in low.stdout
    # The probe really commits a row.
    assert rows(home, "SELECT id, pid > 0 FROM health_probe") == [(1, 1)]


def test_health_is_critical_on_a_read_only_database(home: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.xml"
    small.write_bytes(urlset(["https://example.com/"]))
    assert run_cli(home, "run", "sitemap", str(small)).returncode == 0
    (home / "ingestctl.db").chmod(0o444)
    proc = subprocess.run([*file_modes_bind(), sys.executable, "-m", "ingestctl",
                           "health", "--format", "nagios"], env=spawn_env(home),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith("INGESTCTL CRITICAL - database unreachable or not writable: "
                                  ), proc.stdout
    assert "readonly" in proc.stdout or "read-only" in proc.stdout, proc.stdout
    assert "'database:writable'=0" in proc.stdout


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, when this process may mount one (a new store with its 16 KB pages takes
    about 1 MB before any row)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the max_page_count tests cover it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_filesystem_is_critical_and_fails_the_import_once(
        tmpfs: Path, tmp_path: Path) -> None:
    home = tmpfs / "home"
    bigger = tmp_path / "bigger.xml"  # its rows do not fit in what the store leaves free
    bigger.write_bytes(urlset([f"https://example.com/p/{i}/a/longer/path/to/use/some/space"
                               for i in range(60_000)]))
    proc = run_cli(home, "run", "sitemap", str(bigger))
    assert_failed_once_as_disk_full(home, proc)
    health = run_cli(home, "health", "--format", "nagios")
    assert health.returncode == 2, health.stdout
    assert re.match(r"INGESTCTL CRITICAL - disk (almost )?full: \S+ free on ", health.stdout), \
        health.stdout
    listed = run_cli(home, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr + health.stderr + proc.stderr
