"""Real processes: a live import keeps its job past its lease; a dead one loses it at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from ingestctl.clock import SYSTEM, from_iso, to_iso
from ingestctl.jobs.queue import _process_start
from tests.cli import jobs_json, rows, run_cli, start_cli, wait_until
from tests.stalling import SilentServer

SHORT_LEASE = """
[jobs]
lease = "2s"
heartbeat = "500ms"

[http]
timeout = "60s"
"""


def _config(tmp_path: Path, text: str = SHORT_LEASE) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _processing(home: Path) -> bool:
    return rows(home, "SELECT status FROM jobs") == [("processing",)]


def test_live_import_keeps_its_job_well_past_the_lease(home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path)
    with SilentServer() as server:
        proc = start_cli(home, "--config", str(config), "run", "sitemap",
                         server.url("/sitemap.xml"))
        try:
            wait_until(lambda: _processing(home) and bool(server.accepted))
            [(started, owner)] = rows(home, "SELECT started_at, lease_owner FROM jobs")
            assert owner.split(":")[:2] == [socket.gethostname(), str(proc.pid)]
            # Renewed by the timer although no byte arrived: two leases later it is still ours.
            two_leases_later = to_iso(from_iso(started) + timedelta(seconds=4))
            wait_until(lambda: rows(home, "SELECT heartbeat_at FROM jobs")[0][0] >=
                       two_leases_later, timeout=30)
            beside = [run_cli(home, "--config", str(config), *args) for args in
                      (("jobs", "list", "--json"), ("status", "--json"))]
            assert [p.returncode for p in beside] == [0, 0], [p.stderr for p in beside]
            assert json.loads(beside[0].stdout)[0]["status"] == "processing"
            assert [r["id"] for r in json.loads(beside[1].stdout)["running"]] == [1]
            began = time.monotonic()
            worker = run_cli(home, "--config", str(config), "worker", "--once")
            took = time.monotonic() - began
            assert (worker.returncode, worker.stdout) == (
                0, "worker: 0 attempt(s) run, 0 failed, 0 still retrying\n"), worker.stderr
            assert took < 10  # no lease to wait out, no second attempt to run
            assert all("recover" not in p.stderr for p in [*beside, worker])
            assert rows(home, "SELECT status, attempts, lease_owner FROM jobs") == [
                ("processing", 1, owner)]
            assert rows(home, "SELECT number, outcome FROM attempts") == [(1, "running")]
            assert rows(home, "SELECT count(*) FROM alerts") == [(0,)]
            assert proc.poll() is None
        finally:
            proc.kill()
            proc.wait()


def test_killed_owner_is_recovered_by_the_next_command_at_once(home: Path) -> None:
    # The default 60 s lease is far from expired: only the dead process frees the job.
    with SilentServer() as server:
        proc = start_cli(home, "run", "sitemap", server.url("/sitemap.xml"))
        try:
            wait_until(lambda: _processing(home) and bool(server.accepted))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        [(expires,)] = rows(home, "SELECT lease_expires_at FROM jobs")
        assert expires > to_iso(SYSTEM.now())
        jobs = jobs_json(home)
    assert [(j["status"], j["attempts"], j["error"]["class"]) for j in jobs] == [
        ("retrying", 1, "crashed")]
    assert rows(home, "SELECT number, outcome FROM attempts") == [(1, "crashed")]
    assert rows(home, "SELECT kind FROM alerts") == [("job_recovered",)]


def _craft_processing_job(home: Path, owner: str, lease_seconds: float = 3600) -> None:
    assert run_cli(home, "jobs", "list").returncode == 0  # creates the store
    now = SYSTEM.now()
    lease = to_iso(now + timedelta(seconds=lease_seconds))
    with sqlite3.connect(home / "ingestctl.db") as conn:
        conn.execute("INSERT INTO imports (key, name, source, target, created_at) VALUES "
                     "('shop', 'shop', 'sitemap', 'https://shop.example/s.xml', ?)",
                     (to_iso(now),))
        conn.execute("INSERT INTO jobs (import_id, import_key, name, source, target, status, "
                     "attempts, max_attempts, created_at, started_at, lease_owner, "
                     "lease_expires_at, heartbeat_at) VALUES (1, 'shop', 'shop', 'sitemap', "
                     "'https://shop.example/s.xml', 'processing', 1, 3, ?, ?, ?, ?, ?)",
                     (to_iso(now), to_iso(now), owner, lease, to_iso(now)))
        conn.execute("INSERT INTO attempts (job_id, number, owner, started_at, outcome) "
                     "VALUES (1, 1, ?, ?, 'running')", (owner, to_iso(now)))


def test_a_reused_pid_is_not_taken_for_the_owner(home: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = _process_start(other.pid)
        assert start
        # The pid runs, but it is not the process that claimed the job: another start time.
        _craft_processing_job(home, f"{socket.gethostname()}:{other.pid}:{int(start) - 1}")
        jobs = jobs_json(home)
        assert [(j["status"], j["error"]["class"]) for j in jobs] == [("retrying", "crashed")]
    finally:
        other.kill()
        other.wait()


def test_a_live_owner_on_this_host_keeps_its_job_whatever_its_lease(home: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = f"{socket.gethostname()}:{other.pid}:{_process_start(other.pid)}"
        _craft_processing_job(home, owner, lease_seconds=-600)  # expired ten minutes ago
        assert [j["status"] for j in jobs_json(home)] == ["processing"]
    finally:
        other.kill()
        other.wait()
    assert [j["status"] for j in jobs_json(home)] == ["retrying"]  # now it is gone


def test_another_hosts_job_is_recovered_only_after_its_lease(home: Path) -> None:
    _craft_processing_job(home, "elsewhere.example:4242:777", lease_seconds=3600)
    assert [j["status"] for j in jobs_json(home)] == ["processing"]
    with sqlite3.connect(home / "ingestctl.db") as conn:
        conn.execute("UPDATE jobs SET lease_expires_at = ?", (to_iso(SYSTEM.now()),))
    assert [j["status"] for j in jobs_json(home)] == ["retrying"]


def test_pid_of_this_process_with_its_start_time_is_alive() -> None:
    from ingestctl.jobs.queue import owner_is_dead, process_owner

    assert not owner_is_dead(process_owner())
    host, pid, start = process_owner().split(":")
    assert owner_is_dead(f"{host}:{pid}:{int(start) + 1}")
    assert not owner_is_dead(f"{host}:{pid}:")  # an owner written without a start time
    assert not owner_is_dead(f"other-host.example:{os.getpid()}:1")
