"""Real processes: kill -9 mid-import loses nothing; the same import never runs twice."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.cli import jobs_json, rows, run_cli, start_cli, wait_until
from tests.sites import GeneratedSite


def test_kill_9_mid_import_is_recovered_and_completed_without_duplicates(home: Path) -> None:
    site = GeneratedSite(children=20, per_child=500, delay=0.15)
    with site.server:
        url = site.server.url("/index.xml")
        proc = start_cli(home, "run", "sitemap", url)
        try:
            wait_until(timeout=60, predicate=lambda: (home / "ingestctl.db").exists() and rows(
                home, "SELECT count(*) FROM sitemap_urls")[0][0] >= 1500)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        imported_before = rows(home, "SELECT count(*) FROM sitemap_urls")[0][0]
        assert 1500 <= imported_before < site.total

        jobs = jobs_json(home)
        assert [(j["id"], j["status"], j["attempts"]) for j in jobs] == [(1, "retrying", 1)]
        assert jobs[0]["error"]["class"] == "crashed"
        shown = json.loads(run_cli(home, "jobs", "show", "1", "--json").stdout)
        history = shown["attempt_history"]
        assert [(a["number"], a["outcome"], a["error"]["class"]) for a in history] == [
            (1, "crashed", "crashed")]
        assert shown["attempts"] == 1  # a count, as in `jobs list --json`

        worker = run_cli(home, "worker", "--once")
        assert worker.returncode == 0, worker.stderr
        assert worker.stdout == "worker: 1 attempt(s) run, 0 failed, 0 still retrying\n"

    job = jobs_json(home)[0]
    assert (job["status"], job["attempts"], job["items"]) == ("completed", 2, site.total)
    assert rows(home, "SELECT count(*), count(DISTINCT url) FROM sitemap_urls")[0] == (
        site.total, site.total)


def test_killed_import_can_be_retried_by_hand(home: Path) -> None:
    site = GeneratedSite(children=10, per_child=200, delay=0.15)
    with site.server:
        proc = start_cli(home, "run", "sitemap", site.server.url("/index.xml"))
        try:
            wait_until(timeout=60, predicate=lambda: (home / "ingestctl.db").exists() and rows(
                home, "SELECT count(*) FROM sitemap_urls")[0][0] >= 400)
        finally:
            proc.kill()
            proc.wait()
        retried = run_cli(home, "retry", "1")
        assert retried.returncode == 0, retried.stderr
    assert rows(home, "SELECT status, items FROM jobs") == [("completed", site.total)]
    assert rows(home, "SELECT count(DISTINCT url), count(*) FROM sitemap_urls")[0] == (
        site.total, site.total)


def test_two_concurrent_runs_of_the_same_import_one_exits_75(home: Path) -> None:
    site = GeneratedSite(children=6, per_child=100, delay=0.2)
    with site.server:
        url = site.server.url("/index.xml")
        assert run_cli(home, "jobs", "list").returncode == 0  # create the store first
        first = start_cli(home, "run", "sitemap", url)
        second = start_cli(home, "run", "sitemap", url)
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
    codes = sorted([first.returncode, second.returncode])
    assert codes == [0, 75], (err1, err2)
    loser = err1 if first.returncode == 75 else err2
    assert loser.startswith(f"ingestctl: error: import sitemap:{url} is already running as job 1 (")
    assert loser.rstrip().endswith("see `ingestctl jobs show 1`")
    assert rows(home, "SELECT id, status, attempts, items FROM jobs") == [
        (1, "completed", 1, site.total)]
