"""Four `ingestctl worker` processes on four "hosts" (separate homes, one PostgreSQL URL)
drain 1,000 jobs: each runs exactly once, none is lost, and `kill -9` of one worker mid-job
loses nothing (a survivor recovers its job once the lease expires)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from ingestctl.clock import SYSTEM
from ingestctl.config import JobsConfig
from ingestctl.events import EventBus
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import JobSpec
from ingestctl.store import Store
from tests.cli import start_cli, wait_until
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset

JOBS = 1000
WORKERS = 4


def _sitemap(req: Request) -> Response:
    time.sleep(0.005)  # a little network time, so a kill lands inside an attempt
    return Response(200, urlset([f"https://shop.example{req.path}/item"]))


def _scalar(url: str, sql: str) -> int:
    with Store(url) as store:
        return int(store.scalar(sql) or 0)


def _freeze_holding_a_job(proc: subprocess.Popen[str], url: str) -> None:
    """SIGSTOP ``proc`` at a moment it holds a job (its jobs take milliseconds: a check before
    the kill would race with it finishing). Stopped, it changes nothing more; a statement it
    sent just before lands within the pause."""
    holding = ("SELECT count(*) FROM jobs WHERE status = 'processing' AND lease_owner LIKE "
               f"'host-0:{proc.pid}:%'")
    deadline = time.monotonic() + 30
    while True:
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        if _scalar(url, holding) == 1:
            return
        proc.send_signal(signal.SIGCONT)
        assert time.monotonic() < deadline, "the worker never held a job"
        time.sleep(0.01)


def test_four_workers_drain_a_thousand_jobs_once_each_through_a_kill_9(
        tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[jobs]\nlease = "3s"\nheartbeat = "1s"\n[retry]\nattempts = 1\n')
    with LocalServer(_sitemap) as server:
        # Idle workers first: they wait on LISTEN (a 60 s cap), so a prompt start below
        # shows the notification woke them.
        workers = [start_cli(tmp_path / f"home{i}", "--config", str(config), "worker",
                             INGESTCTL_DB_URL=pg_url, INGESTCTL_HOSTNAME=f"host-{i}")
                   for i in range(WORKERS)]
        try:
            wait_until(lambda: _scalar(pg_url, "SELECT count(*) FROM pg_stat_activity "
                                               "WHERE query LIKE 'LISTEN%'") == WORKERS,
                       timeout=30)
            with Store(pg_url) as store:
                queue = JobQueue(store, JobsConfig(), SYSTEM, EventBus(), owner="test:0")
                for i in range(JOBS):
                    queue.submit(JobSpec("sitemap", server.url(f"/s{i}.xml")))
            wait_until(lambda: _scalar(pg_url, "SELECT count(*) FROM jobs WHERE status = "
                                               "'completed'") > 0, timeout=10)

            # kill -9 the first worker while it holds a job.
            victim = workers[0]
            _freeze_holding_a_job(victim, pg_url)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            wait_until(lambda: _scalar(pg_url, "SELECT count(*) FROM jobs WHERE status = "
                                               "'completed'") == JOBS, timeout=240)
        finally:
            for proc in workers[1:]:
                proc.send_signal(signal.SIGTERM)
            for proc in workers[1:]:
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    with Store(pg_url) as store:
        assert store.query("SELECT status, count(*) FROM jobs GROUP BY status") == [
            ("completed", JOBS)]
        # Exactly one completed attempt per job; the one crashed attempt is the killed one.
        outcomes = Counter((row["outcome"]) for row in store.query(
            "SELECT outcome FROM attempts"))
        assert outcomes == {"completed": JOBS, "crashed": 1}
        assert store.query("SELECT job_id FROM attempts WHERE outcome = 'completed' "
                           "GROUP BY job_id HAVING count(*) > 1") == []
        [crashed] = store.query("SELECT job_id, owner FROM attempts WHERE outcome = 'crashed'")
        assert str(crashed["owner"]).startswith("host-0:")
        # Every import stored its URL once; all four workers took a share of the queue.
        assert store.scalar("SELECT count(*) FROM sitemap_urls") == JOBS
        hosts = Counter(str(row["owner"]).split(":")[0] for row in store.query(
            "SELECT owner FROM attempts WHERE outcome = 'completed'"))
        assert set(hosts) >= {"host-1", "host-2", "host-3"}
    # The killed attempt fetched its sitemap at most once more than the others.
    fetched = Counter(req.path for req in server.requests)
    assert len(fetched) == JOBS and sum(fetched.values()) - JOBS <= 1
