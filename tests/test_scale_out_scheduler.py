"""Three `ingestctl scheduler` processes on three "hosts" share one PostgreSQL database:
one leads, a standby takes over within seconds of a `kill -9`, and no slot runs twice."""

from __future__ import annotations

import re
import select
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.store import Store
from tests.cli import start_cli, wait_until
from tests.httpserver import LocalServer, Response
from tests.sites import urlset

START = re.compile(r"^ingestctl scheduler: started \(pid (\d+), home .+\): 1 scheduled "
                   r"import\(s\); serving (http://127\.0\.0\.1:\d+)(; standing by while another "
                   r"scheduler leads)?$")


class Scheduler:
    """One scheduler process with its own home and host name, serving /readyz."""

    def __init__(self, home: Path, config: Path, url: str, host: str) -> None:
        self.host = host
        self.proc = start_cli(home, "--config", str(config), "scheduler", "--http", "0",
                              INGESTCTL_DB_URL=url, INGESTCTL_HOSTNAME=host)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        assert ready, "the scheduler printed no start line"
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().rstrip("\n")
        match = START.match(line)
        assert match, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.pid, self.url = int(match.group(1)), match.group(2)
        self.started_standing_by = bool(match.group(3))

    def readyz(self) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=10) as resp:
                return resp.status, resp.headers["X-Ingestctl-Role"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["X-Ingestctl-Role"], exc.read().decode()

    def leading(self) -> bool:
        return self.readyz()[1] == "leader"


@pytest.fixture
def pages() -> Iterator[LocalServer]:
    body = urlset([f"https://pages.example/p{i}" for i in range(3)])
    with LocalServer(lambda req: Response(200, body)) as server:
        yield server


def _count(url: str, sql: str) -> int:
    with Store(url) as store:
        return int(store.scalar(sql) or 0)


def test_one_leader_runs_each_slot_and_a_standby_takes_over_after_kill_9(
        tmp_path: Path, pg_url: str, pages: LocalServer) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(f"""
[scheduler]
poll_interval = "0.3s"
shutdown_grace = "5s"
[jobs]
lease = "3s"
heartbeat = "1s"
retry_delays = ["1s"]
[retry]
attempts = 1
[[imports]]
name = "pages"
url = "{pages.url('/sitemap.xml')}"
schedule = "every 1s"
""")
    runs = "SELECT count(*) FROM schedule_slots WHERE outcome = 'run'"
    first = Scheduler(tmp_path / "home1", config, pg_url, "host-1")
    schedulers = [first]
    try:
        assert not first.started_standing_by
        schedulers += [Scheduler(tmp_path / f"home{i}", config, pg_url, f"host-{i}")
                       for i in (2, 3)]
        assert [s.started_standing_by for s in schedulers[1:]] == [True, True]
        wait_until(lambda: _count(pg_url, runs) >= 3, timeout=30)
        roles = [s.readyz() for s in schedulers]
        assert [r[:2] for r in roles] == [(200, "leader"), (200, "standby"), (200, "standby")]
        assert roles[0][2] == "ready; leading\n"
        assert roles[1][2].startswith("ready; standing by (leader: host-1:")

        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        killed_at = time.monotonic()
        wait_until(lambda: any(s.leading() for s in schedulers[1:]), timeout=10)
        takeover = time.monotonic() - killed_at
        assert takeover < 3.0  # the lock goes with the dead session; a standby tries each step
        leaders = [s.host for s in schedulers[1:] if s.leading()]
        assert len(leaders) == 1
        before = _count(pg_url, runs)
        wait_until(lambda: _count(pg_url, runs) >= before + 3, timeout=30)
    finally:
        for s in schedulers[1:]:
            s.proc.send_signal(signal.SIGTERM)
        for s in schedulers[1:]:
            s.proc.communicate(timeout=30)
    assert [s.proc.returncode for s in schedulers[1:]] == [0, 0]

    with Store(pg_url) as store:
        # Each run slot made its own job, and no job (so no import run) serves two slots.
        slots = store.query("SELECT slot_at, job_id FROM schedule_slots WHERE outcome = 'run' "
                            "ORDER BY slot_at")
        jobs = [row["job_id"] for row in slots if row["job_id"] is not None]
        assert len(jobs) == len(set(jobs))
        assert int(store.scalar("SELECT count(*) FROM jobs")) == len(jobs)
        # The other jobs completed; a job the kill interrupted is recovered by a survivor once
        # its lease (3s) expired, since another host cannot see the dead process.
        unfinished = store.query("SELECT status, lease_owner FROM jobs "
                                 "WHERE status <> 'completed'")
        assert all(row["status"] == "retrying" or str(row["lease_owner"]).startswith("host-1:")
                   for row in unfinished), unfinished
        owners = {str(row[0]).split(":")[0] for row in store.query(
            "SELECT DISTINCT owner FROM attempts")}
        assert "host-1" in owners and owners & {"host-2", "host-3"}
