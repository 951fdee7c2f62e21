"""The dead-letter queue end to end: ``dlq list/show/retry/purge`` and ``retry JOB_ID``.

The CLI runs in-process on a FakeClock (no real waits) against a real HTTP server that is
switched down and up again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import ingestctl.clock
from ingestctl.clock import FakeClock
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.dead_letters import DeadLetterQueue, RetryItem, RetryOutcome
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.store import Store
from ingestctl.store.dead_letters import LetterFilter
from tests.cli import invoke, rows
from tests.faults import SITEMAP
from tests.httpserver import LocalServer, Request, Response

NO_BREAKER = {"INGESTCTL_BREAKER__FAILURE_THRESHOLD": "1000"}


class Switch:
    """A site that answers 503 while ``down``, else a 50-URL sitemap on every path."""

    def __init__(self) -> None:
        self.down = True
        self.hits = 0
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self.lock:
            self.hits += 1
        if self.down:
            return Response(503, b"down for maintenance")
        return Response(200, SITEMAP, {"Content-Type": "application/xml"})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ingestctl.clock, "SYSTEM", fake)
    return fake


@pytest.fixture
def site(clock: FakeClock) -> Iterator[tuple[Switch, LocalServer]]:
    switch = Switch()
    with LocalServer(switch) as server:
        yield switch, server




def test_round_trip_dead_lettered_while_down_completes_once_back(
        home: Path, clock: FakeClock, site: tuple[Switch, LocalServer]) -> None:
    switch, server = site
    urls = [server.url(f"/{name}.xml") for name in ("a", "b", "c")]
    for n, url in enumerate(urls, 1):
        failed = invoke("run", "sitemap", url, env=NO_BREAKER)
        assert failed.exit_code == 1
        assert failed.stderr.startswith(f"ingestctl: error: job {n} failed after 3 attempt(s): "
                                        "transient: HTTP 503 Service Unavailable from ")
    assert switch.hits == 27
    listed = json.loads(invoke("dlq", "list", "--json").stdout)
    assert [(d["id"], d["job_id"], d["error"]["class"], d["attempts"], d["target"])
            for d in listed] == [(1, 1, "transient", 3, urls[0]), (2, 2, "transient", 3, urls[1]),
                                 (3, 3, "transient", 3, urls[2])]

    switch.down = False
    by_job = invoke("retry", "1")
    assert by_job.exit_code == 0, by_job.stderr
    assert by_job.stdout == (f"job 1 completed with warnings: 50 URLs from {urls[0]} "
                             f"(sitemap:{urls[0]}) in 4 attempt(s); quality: off_host_url_share "
                             "(50 of 50)\n")
    by_entry = invoke("dlq", "retry", "2")
    assert by_entry.exit_code == 0, by_entry.stderr
    assert by_entry.stdout.startswith("job 2 completed with warnings: 50 URLs from ")
    every = invoke("dlq", "retry", "--all")
    assert every.exit_code == 0, every.stderr
    assert every.stdout == "dlq retry: 1 entry: 1 completed\n"
    assert switch.hits == 30

    assert json.loads(invoke("dlq", "list", "--json").stdout) == []
    assert rows(home, "SELECT id, status, attempts, max_attempts FROM jobs ORDER BY id") == [
        (1, "completed", 4, 4), (2, "completed", 4, 4), (3, "completed", 4, 4)]
    assert rows(home, "SELECT job_id, active, requeue_count FROM dead_letters ORDER BY id") == [
        (1, 0, 1), (2, 0, 1), (3, 0, 1)]
    # No duplicate rows, and an import run again upserts the same 50.
    assert invoke("run", "sitemap", urls[0]).exit_code == 0
    assert rows(home, "SELECT count(*), count(DISTINCT import_id || ' ' || url) "
                      "FROM sitemap_urls") == [(150, 150)]

    stale = invoke("dlq", "retry", "1")
    assert stale.exit_code == 1
    assert stale.stderr.startswith("ingestctl: error: dead-letter entry 1 is not waiting: its "
                                   "job 1 is completed (requeued at 2026-01-01T00:")
    assert stale.stderr.endswith("Z); see `ingestctl jobs show 1`\n")


def test_list_filters_show_and_usage_errors(home: Path, clock: FakeClock,
                                            site: tuple[Switch, LocalServer]) -> None:
    switch, server = site
    assert invoke("run", "sitemap", server.url("/t.xml"), env=NO_BREAKER).exit_code == 1
    switch.down = False
    bad = home.parent / "bad.xml"
    bad.write_text("<urlset><url><loc>x</url></urlset>")
    assert invoke("run", "sitemap", str(bad)).exit_code == 1

    def ids(*args: str) -> list[int]:
        result = invoke("dlq", "list", "--json", *args)
        assert result.exit_code == 0, result.stderr
        return [d["id"] for d in json.loads(result.stdout)]

    assert ids() == [1, 2]
    assert ids("--error-class", "data") == [2]
    assert ids("--error-class", "transient", "--source", "sitemap") == [1]
    assert ids("--source", "merchant") == []
    assert ids("--since", "1h") == [1, 2]
    clock.advance(7200)
    assert ids("--since", "1h") == []
    table = invoke("dlq", "list", env={"COLUMNS": "400"})
    assert table.stdout.split("\n")[0].split() == ["ID", "JOB", "NAME", "SOURCE", "TARGET",
                                                   "CLASS", "ATTEMPTS", "SINCE", "(UTC)",
                                                   "ERROR"]

    shown = invoke("dlq", "show", "1")
    assert shown.exit_code == 0
    text = shown.stdout
    assert "entry       1" in text and "job         1 (failed)" in text
    for n in (1, 2, 3):
        assert f"attempt {n} (failed, " in text
    assert text.count("Traceback (most recent call last):") == 3
    detail = json.loads(invoke("dlq", "show", "2", "--json").stdout)
    assert (detail["id"], detail["job"]["id"], detail["job"]["status"]) == (2, 2, "failed")
    assert [a["error"]["class"] for a in detail["attempt_history"]] == ["data"]
    assert detail["attempts"] == 1 and detail["job"]["attempts"] == 1

    for args, code, line in [
        (("show", "9"), 1, "no dead-letter entry with id 9; see `ingestctl dlq list`; "
                           "`ingestctl retry JOB_ID` takes a job id"),
        (("retry",), 2, "dlq retry: give an entry ID or --all (not both)"),
        (("retry", "1", "--all"), 2, "dlq retry: give an entry ID or --all (not both)"),
        (("retry", "1", "--source", "sitemap"), 2,
         "dlq retry: --source, --error-class and --since go with --all"),
        (("purge", "--older-than", "soon"), 2,
         "--older-than 'soon': expected a duration such as \"500ms\", \"30s\", \"10m\", "
         "\"4h\" or \"30d\""),
    ]:
        result = invoke("dlq", *args)
        assert (result.exit_code, result.stderr) == (code, f"ingestctl: error: {line}\n"), args


def test_retry_all_reports_what_it_cannot_requeue_and_dry_run_changes_nothing(
        home: Path, clock: FakeClock, site: tuple[Switch, LocalServer]) -> None:
    switch, server = site
    one, two = server.url("/one.xml"), server.url("/two.xml")
    assert invoke("run", "sitemap", one, env=NO_BREAKER).exit_code == 1
    assert invoke("run", "sitemap", two, env=NO_BREAKER).exit_code == 1
    # The same import as entry 1 is waiting for a retry as job 3: entry 1 cannot be requeued.
    assert invoke("run", "sitemap", one, "--no-wait", env=NO_BREAKER).exit_code == 75
    before = rows(home, "SELECT id, status, next_attempt_at FROM jobs ORDER BY id")

    dry = invoke("dlq", "retry", "--all", "--dry-run")
    assert dry.exit_code == 1
    assert dry.stdout == (f"would requeue entry 2 (job 2): {two}\n"
                          "dlq retry: 2 entries: 1 would requeue, 1 skipped\n")
    assert dry.stderr == (f"ingestctl: error: entry 1 (job 1) not requeued: import "
                          f"sitemap:{one} is already running as job 3 (retrying); see "
                          "`ingestctl jobs show 3`\n")
    assert rows(home, "SELECT id, status, next_attempt_at FROM jobs ORDER BY id") == before

    switch.down = False
    real = invoke("dlq", "retry", "--all")
    assert real.exit_code == 1
    assert real.stdout == "dlq retry: 2 entries: 1 completed, 1 skipped\n"
    assert real.stderr == dry.stderr
    assert rows(home, "SELECT id, status FROM jobs ORDER BY id") == [
        (1, "failed"), (2, "completed"),
                                                        (3, "retrying")]


def test_retry_all_no_run_requeues_for_the_worker(home: Path, clock: FakeClock,
                                                  site: tuple[Switch, LocalServer]) -> None:
    switch, server = site
    for name in ("p", "q"):
        assert invoke("run", "sitemap", server.url(f"/{name}.xml"), env=NO_BREAKER
                      ).exit_code == 1
    hits = switch.hits
    queued = invoke("dlq", "retry", "--all", "--no-run", "--error-class", "transient")
    assert queued.exit_code == 0, queued.stderr
    assert queued.stdout == "dlq retry: 2 entries: 2 requeued\n"
    assert switch.hits == hits
    assert rows(home, "SELECT status, next_attempt_at IS NOT NULL FROM jobs ORDER BY id") == [
        ("retrying", 1), ("retrying", 1)]
    switch.down = False
    worker = invoke("worker", "--once")
    assert worker.exit_code == 0, worker.stderr
    assert worker.stdout == "worker: 2 attempt(s) run, 0 failed, 0 still retrying\n"


def test_retry_all_failing_again_and_deferred_exit_codes(home: Path, clock: FakeClock,
                                                         site: tuple[Switch, LocalServer]) -> None:
    switch, server = site
    assert invoke("run", "sitemap", server.url("/f.xml"), env=NO_BREAKER).exit_code == 1
    again = invoke("dlq", "retry", "--all", env=NO_BREAKER)
    assert again.exit_code == 1
    assert again.stdout == "dlq retry: 1 entry: 1 failed\n"
    assert again.stderr == ("ingestctl: error: entry 1 (job 1) failed again: transient: HTTP 503 "
                            f"Service Unavailable from {server.url('/f.xml')}; it is back in the "
                            "dead-letter queue\n")
    assert rows(home, "SELECT job_id, active, requeue_count FROM dead_letters ORDER BY id"
                ) == [(1, 1, 1)]
    # With the host's breaker open the requeued job is deferred, no request made: exit 75.
    key = f"sitemap:127.0.0.1:{server.port}"
    (home / "breakers.json").write_text(json.dumps({"version": 1, "breakers": {key: {
        "state": "open", "failures": 5, "open_until": "2026-01-01T01:00:00Z"}}}))
    hits = switch.hits
    deferred = invoke("dlq", "retry", "--all")
    assert deferred.exit_code == 75, deferred.stderr
    assert deferred.stdout == (f"entry 1 (job 1) deferred: circuit_open: circuit breaker {key} "
                               "is open until 2026-01-01T01:00:00+00:00; the job is deferred; "
                               "`ingestctl breaker reset KEY` closes it by hand\n"
                               "dlq retry: 1 entry: 1 deferred\n")
    assert switch.hits == hits
    assert rows(home, "SELECT status, attempts, next_attempt_at FROM jobs ORDER BY id") == [
        ("retrying", 4, "2026-01-01T01:00:00.000000Z")]


def test_purge_older_than(home: Path, clock: FakeClock, site: tuple[Switch, LocalServer]) -> None:
    _, server = site
    assert invoke("run", "sitemap", server.url("/old.xml"), env=NO_BREAKER).exit_code == 1
    clock.advance(20 * 86400)
    assert invoke("run", "sitemap", server.url("/new.xml"), env=NO_BREAKER).exit_code == 1
    clock.advance(11 * 86400)
    none = invoke("dlq", "purge", "--older-than", "40d")
    assert (none.exit_code, none.stdout) == (0, "purged 0 dead-letter entries older than 40d\n")
    one = invoke("dlq", "purge", "--older-than", "30d")
    assert (one.exit_code, one.stdout) == (0, "purged 1 dead-letter entry older than 30d\n")
    assert [d["target"] for d in json.loads(invoke("dlq", "list", "--json").stdout)] == [
        server.url("/new.xml")]
    assert rows(home, "SELECT id, status FROM jobs ORDER BY id") == [(1, "failed"), (2, "failed")]


def test_requeue_matching_works_in_batches_with_progress(tmp_path: Path) -> None:
    switch = Switch()
    clock = FakeClock()
    config = Config()
    config.retry.attempts = 1
    config.jobs.max_attempts = 1
    config.breaker.failure_threshold = 1000
    runner = Runner(Store(tmp_path / "db"), config, clock, EventBus())
    with LocalServer(switch) as server:
        for n in range(5):
            job = runner.submit_and_run(JobSpec("sitemap", server.url(f"/{n}.xml")))
            assert job.status is JobStatus.FAILED
        switch.down = False
        seen: list[tuple[int, int, int, str]] = []

        def progress(done: int, total: int, item: RetryItem) -> None:
            seen.append((done, total, item.letter_id, item.outcome.value))

        dlq = DeadLetterQueue(runner.store, runner=runner)
        report = dlq.retry_matching(LetterFilter(), batch_size=2, on_progress=progress)
    assert seen == [(n, 5, n, "completed") for n in range(1, 6)]
    assert report.exit_code == 0 and report.count(RetryOutcome.COMPLETED) == 5
    assert dlq.list(LetterFilter()) == []
