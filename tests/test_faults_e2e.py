"""Every fault of a remote source, end to end through ``ingestctl run`` and the runner.

The CLI runs in-process with the system clock replaced by a FakeClock, so request backoffs
and job retry waits are recorded instead of slept; the server is real HTTP on 127.0.0.1.
Exact request-level jitter is asserted by driving a Runner with a fixed ``rng``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import ingestctl.clock
from ingestctl.clock import FakeClock
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store
from tests.cli import invoke
from tests.faults import Faults, closed_port
from tests.httpserver import LocalServer


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock every ingestctl object built by the CLI uses."""
    fake = FakeClock()
    monkeypatch.setattr(ingestctl.clock, "SYSTEM", fake)
    return fake


@pytest.fixture
def served(clock: FakeClock) -> Iterator[tuple[Faults, LocalServer]]:
    faults = Faults(clock=clock, stall=0.5)
    with LocalServer(faults) as server:
        yield faults, server


def db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "ingestctl.db")
    conn.row_factory = sqlite3.Row
    return conn


def attempt_classes(home: Path, job_id: int = 1) -> list[str | None]:
    with db(home) as conn:
        return [r["error_class"] for r in conn.execute(
            "SELECT error_class FROM attempts WHERE job_id = ? ORDER BY number", (job_id,))]


def job_row(home: Path, job_id: int = 1) -> sqlite3.Row:
    with db(home) as conn:
        row: sqlite3.Row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row


def letters(home: Path) -> list[tuple[int, str, int, int]]:
    with db(home) as conn:
        return [(r["job_id"], r["error_class"], r["attempts"], r["active"]) for r in
                conn.execute("SELECT * FROM dead_letters ORDER BY id")]


def counter(home: Path, name: str) -> dict[str, float]:
    with db(home) as conn:
        return {r["labels"]: r["value"] for r in conn.execute(
            "SELECT labels, value FROM counters WHERE name = ?", (name,))}


@dataclass
class Fault:
    """One fault: the path served, and where the job must end up."""

    path: str
    error_class: str
    hits: int                     # requests the server saw
    attempts: int                 # job attempts made
    message: str                  # part of the one error line
    env: dict[str, str] = field(default_factory=dict)
    job_waits: list[float] = field(default_factory=lambda: [5.0, 10.0])


def transient(path: str, message: str, env: dict[str, str] | None = None) -> Fault:
    """Retried: 3 requests in each of 3 attempts, then dead-lettered."""
    return Fault(path, "transient", 9, 3, message, env or {})


def permanent(path: str, error_class: str, message: str, hits: int = 1) -> Fault:
    """Not retried: one attempt, dead-lettered at once."""
    return Fault(path, error_class, hits, 1, message, job_waits=[])


FAULTS = [
    transient("/status/500", "HTTP 500 Internal Server Error from "),
    transient("/status/502", "HTTP 502 Bad Gateway from "),
    transient("/status/503", "HTTP 503 Service Unavailable from "),
    transient("/status/504", "HTTP 504 Gateway Timeout from "),
    transient("/reset", "connection broken fetching "),
    transient("/stall", "read timeout fetching ", {"INGESTCTL_HTTP__TIMEOUT": "100ms"}),
    transient("/truncated", "peer closed connection without sending complete message body"),
    transient("/truncated-encoding", "truncated gzip body from "),
    # The whole (cut) .gz file arrived: the server holds a broken file, not a flaky link.
    permanent("/truncated-gzip", "data", "/truncated-gzip"),
    permanent("/malformed-xml", "data", "/malformed-xml"),
    permanent("/status/404", "not_found", "HTTP 404 Not Found for "),
    permanent("/status/401", "auth", "HTTP 401 Unauthorized from "),
    permanent("/status/403", "auth", "HTTP 403 Forbidden from "),
    permanent("/redirect-loop", "not_found", "too many redirects", hits=11),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.path for f in FAULTS])
def test_fault_ends_where_it_should(home: Path, clock: FakeClock,
                                    served: tuple[Faults, LocalServer], fault: Fault) -> None:
    faults, server = served
    url = server.url(fault.path)
    result = invoke("run", "sitemap", url, env=fault.env)
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    prefix = f"ingestctl: error: job 1 failed after {fault.attempts} attempt(s): " \
             f"{fault.error_class}: "
    assert result.stderr.startswith(prefix), result.stderr
    assert fault.message in result.stderr
    assert result.stderr.endswith("; it is in the dead-letter queue (`ingestctl jobs show 1`, "
                                  "`ingestctl retry 1`)\n")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert attempt_classes(home) == [fault.error_class] * fault.attempts
    assert faults.hits[fault.path] == fault.hits
    assert job_row(home)["status"] == "failed"
    assert letters(home) == [(1, fault.error_class, fault.attempts, 1)]
    # Job-level waits are exact; request-level ones are full jitter within their ceilings.
    job_waits = [w for w in clock.sleeps if w >= 5.0]
    assert job_waits == fault.job_waits
    requests_per_attempt = fault.hits // fault.attempts
    assert len(clock.sleeps) == len(fault.job_waits) + fault.attempts * (
        requests_per_attempt - 1 if fault.error_class == "transient" else 0)
    # The traceback of every attempt is kept for `dlq show`.
    shown = json.loads(invoke("dlq", "show", "1", "--json").stdout)
    history = shown["attempt_history"]
    assert [a["error"]["class"] for a in history] == [fault.error_class] * fault.attempts
    assert all(a["traceback"].startswith("Traceback") for a in shown["attempt_history"])
    assert shown["attempts"] == fault.attempts  # a count, as in `dlq list --json`


def test_429_retry_after_seconds_is_waited_exactly(home: Path, clock: FakeClock,
                                                   served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    result = invoke("run", "sitemap", server.url("/retry-after/7"))
    assert result.exit_code == 1
    assert result.stderr.startswith("ingestctl: error: job 1 failed after 3 attempt(s): "
                                    "rate_limited: HTTP 429 Too Many Requests from ")
    assert faults.hits["/retry-after/7"] == 9
    # Two request retries of 7 s per attempt; the job waits max(5 s, 7 s), then 10 s.
    assert clock.sleeps == [7.0, 7.0, 7.0, 7.0, 7.0, 10.0, 7.0, 7.0]
    assert attempt_classes(home) == ["rate_limited"] * 3
    assert job_row(home)["status"] == "failed"
    assert letters(home) == [(1, "rate_limited", 3, 1)]
    assert counter(home, "retries_total") == {
        '{"error_class":"rate_limited","source":"sitemap"}': 6.0}
    assert counter(home, "api_requests_total") == {'{"api":"sitemap","code":"429"}': 9.0}


def test_429_retry_after_http_date_is_waited_exactly(home: Path, clock: FakeClock,
                                                     served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    result = invoke("run", "sitemap", server.url("/retry-after-date/7"))
    assert result.exit_code == 1
    assert "rate_limited: HTTP 429 Too Many Requests" in result.stderr
    assert faults.hits["/retry-after-date/7"] == 9
    assert clock.sleeps == [7.0, 7.0, 7.0, 7.0, 7.0, 10.0, 7.0, 7.0]
    assert attempt_classes(home) == ["rate_limited"] * 3
    assert letters(home) == [(1, "rate_limited", 3, 1)]


def test_retry_after_is_capped(home: Path, clock: FakeClock,
                               served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    result = invoke("run", "sitemap", server.url("/retry-after/600"), "--no-wait",
                    env={"INGESTCTL_RETRY__RETRY_AFTER_CAP": "30s"})
    assert result.exit_code == 75
    assert clock.sleeps == [30.0, 30.0]  # request retries wait the cap, not 10 minutes
    job = job_row(home)
    assert (job["status"], job["attempts"], job["error_class"]) == ("retrying", 1,
                                                                   "rate_limited")
    assert letters(home) == []


def test_connection_refused(home: Path, clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{closed_port()}/sitemap.xml"
    result = invoke("run", "sitemap", url)
    assert result.exit_code == 1
    assert result.stderr.startswith("ingestctl: error: job 1 failed after 3 attempt(s): "
                                    f"transient: cannot connect to {url}: ")
    assert "Traceback" not in result.stderr
    assert attempt_classes(home) == ["transient"] * 3
    # Nobody listens, so the client's own count is the number of requests tried.
    assert counter(home, "api_requests_total") == {'{"api":"sitemap","code":"transient"}': 9.0}
    assert job_row(home)["status"] == "failed"
    assert letters(home) == [(1, "transient", 3, 1)]
    assert [w for w in clock.sleeps if w >= 5] == [5.0, 10.0]


def test_no_wait_leaves_a_transient_failure_retrying_with_exit_75(
        home: Path, clock: FakeClock, served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    result = invoke("run", "sitemap", server.url("/status/503"), "--no-wait")
    assert result.exit_code == 75
    assert result.stderr.startswith("ingestctl: error: job 1 deferred until "
                                    "2026-01-01T00:00:0")
    assert "`ingestctl retry 1` now" in result.stderr
    assert faults.hits["/status/503"] == 3
    job = job_row(home)
    assert (job["status"], job["attempts"]) == ("retrying", 1)
    assert letters(home) == []


def test_server_failing_twice_completes_on_its_own_with_job_waits(
        home: Path, clock: FakeClock, served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    result = invoke("run", "sitemap", server.url("/flaky/2"),
                    env={"INGESTCTL_RETRY__ATTEMPTS": "1"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("job 1 completed with warnings: 50 URLs from ")
    assert result.stdout.endswith("in 3 attempt(s); quality: off_host_url_share (50 of 50)\n")
    assert clock.sleeps == [5.0, 10.0]
    assert faults.hits["/flaky/2"] == 3
    assert attempt_classes(home) == ["transient", "transient", None]
    assert letters(home) == []


# The runner driven directly, for exact request-level jitter (a fixed rng).

def make_runner(tmp_path: Path, clock: FakeClock, config: Config | None = None) -> Runner:
    return Runner(Store(tmp_path / "runner.db"), config or Config(), clock, EventBus(),
                  rng=lambda: 0.5)


def test_server_failing_twice_is_absorbed_by_request_retries_with_exact_jitter(
        tmp_path: Path, served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    clock = FakeClock()
    runner = make_runner(tmp_path, clock)
    job = runner.submit_and_run(JobSpec("sitemap", server.url("/flaky/2")))
    assert (job.status, job.attempts, job.items) == (JobStatus.COMPLETED, 1, 50)
    assert clock.sleeps == [0.5, 1.0]  # half of 1 s, then half of 2 s
    assert faults.hits["/flaky/2"] == 3
    assert job_store.attempts_of(runner.store, job.id)[0].requests == 3


def test_503_waits_are_exact_at_both_levels(tmp_path: Path,
                                            served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    clock = FakeClock()
    runner = make_runner(tmp_path, clock)
    job = runner.submit_and_run(JobSpec("sitemap", server.url("/status/503")))
    assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
    assert clock.sleeps == [0.5, 1.0, 5.0, 0.5, 1.0, 10.0, 0.5, 1.0]
    assert faults.hits["/status/503"] == 9
    [letter] = dl_store.list_letters(runner.store, dl_store.LetterFilter())
    assert (letter.job_id, letter.error_class, letter.attempts) == (job.id, "transient", 3)


def test_backoff_is_capped_by_max_delay(tmp_path: Path,
                                        served: tuple[Faults, LocalServer]) -> None:
    faults, server = served
    clock = FakeClock()
    config = Config()
    config.retry.attempts = 6
    config.retry.max_delay = 3.0
    config.jobs.max_attempts = 1
    runner = make_runner(tmp_path, clock, config)
    job = runner.submit_and_run(JobSpec("sitemap", server.url("/status/500")))
    assert job.status is JobStatus.FAILED
    # ceilings 1, 2, 4->3, 8->3, 16->3 seconds, each halved by the fixed rng
    assert clock.sleeps == [0.5, 1.0, 1.5, 1.5, 1.5]
    assert faults.hits["/status/500"] == 6
