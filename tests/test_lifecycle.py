"""The job lifecycle driven by an injected clock: retries, dead letters, leases, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config
from ingestctl.errors import ImportAlreadyRunning, JobStateError
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.store import Store, counters
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset


class Flaky:
    """Answers ``failures`` 503s, then a urlset of three URLs."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status

    def __call__(self, req: Request) -> Response:
        if self.failures > 0:
            self.failures -= 1
            return Response(self.status, b"down")
        return Response(200, urlset(["https://a.example/1", "https://a.example/2",
                                     "https://a.example/3"]))


@pytest.fixture
def env(store: Store) -> tuple[Store, FakeClock, EventBus, list[Event]]:
    """Each test runs on SQLite and on PostgreSQL (the ``store`` fixture)."""
    events = EventBus()
    seen: list[Event] = []
    events.subscribe(seen.append)
    return store, FakeClock(), events, seen


def runner_for(env: tuple[Store, FakeClock, EventBus, list[Event]], config: Config | None = None,
               owner: str | None = None) -> Runner:
    store, clock, events, _ = env
    if config is None:
        config = Config()
        config.retry.attempts = 1  # these tests are about job-level retries
    return Runner(store, config, clock, events, owner=owner)


def test_transient_failures_wait_5_then_10_seconds_inline_and_complete(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, seen = env
    with LocalServer(Flaky(2)) as server:
        job = runner_for(env).submit_and_run(JobSpec("sitemap", server.url("/s.xml")))
    assert (job.status, job.attempts, job.items) == (JobStatus.COMPLETED, 3, 3)
    assert clock.sleeps == [5.0, 10.0]
    attempts = job_store.attempts_of(store, job.id)
    assert [(a.outcome.value, a.error.error_class if a.error else None) for a in attempts] == [
        ("failed", "transient"), ("failed", "transient"), ("completed", None)]
    assert [e.kind for e in seen if e.kind not in (EventKind.JOB_STARTED,
                                                   EventKind.QUALITY_VIOLATION)] == [
        EventKind.JOB_RETRYING, EventKind.JOB_RETRYING, EventKind.JOB_COMPLETED]


def test_attempts_exhausted_dead_letters_exactly_once(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, seen = env
    with LocalServer(Flaky(10)) as server:
        job = runner_for(env).submit_and_run(JobSpec("sitemap", server.url("/s.xml")))
        assert (job.status, job.attempts) == (JobStatus.FAILED, 3)
        assert clock.sleeps == [5.0, 10.0]
        letters = dl_store.list_letters(store, dl_store.LetterFilter())
        assert [(d.job_id, d.error_class, d.attempts) for d in letters] == [(job.id, "transient",
                                                                             3)]
        assert [e.kind for e in seen].count(EventKind.JOB_DEAD_LETTERED) == 1
        # A manual retry that fails again keeps a single dead-letter entry.
        runner = runner_for(env)
        again = runner.run_to_end(runner.queue.requeue(job.id), inline_wait=False)
    assert (again.status, again.attempts, again.max_attempts) == (JobStatus.FAILED, 4, 4)
    assert store.scalar("SELECT count(*) FROM dead_letters WHERE job_id = ?", (job.id,)) == 1


def test_permanent_error_is_not_retried(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, _ = env
    with LocalServer(Flaky(5, status=404)) as server:
        job = runner_for(env).submit_and_run(JobSpec("sitemap", server.url("/s.xml")))
        assert len(server.requests) == 1
    assert (job.status, job.attempts, job.error and job.error.error_class) == (
        JobStatus.FAILED, 1, "not_found")
    assert clock.sleeps == []


def test_long_wait_leaves_job_retrying_and_worker_runs_it_when_due(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, _ = env
    config = Config()
    config.retry.attempts = 1
    config.jobs.retry_delays = [120.0]
    with LocalServer(Flaky(1)) as server:
        runner = runner_for(env, config)
        job = runner.submit_and_run(JobSpec("sitemap", server.url("/s.xml")))
        assert job.status is JobStatus.RETRYING
        assert job.next_attempt_at == to_iso(clock.now() + timedelta(seconds=120))
        assert runner.run_due() == []  # not due yet
        clock.advance(120)
        [done] = runner.run_due()
    assert (done.status, done.attempts, done.items) == (JobStatus.COMPLETED, 2, 3)
    assert clock.sleeps == []


def test_request_retries_absorb_short_outages_within_one_attempt(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, _ = env
    with LocalServer(Flaky(2)) as server:
        job = runner_for(env, Config()).submit_and_run(JobSpec("sitemap", server.url("/s.xml")))
        assert len(server.requests) == 3
    assert (job.status, job.attempts, job.items) == (JobStatus.COMPLETED, 1, 3)
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 1 and 0 <= clock.sleeps[1] <= 2
    assert job_store.attempts_of(store, job.id)[0].requests == 3
    assert dict(((k["error_class"]), v) for k, v in counters.read(store, "retries_total")) == {
        "transient": 2}
    assert sorted((k["code"], v) for k, v in counters.read(store, "api_requests_total")) == [
        ("200", 1), ("503", 2)]


def test_no_wait_returns_at_once(env) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, _ = env
    with LocalServer(Flaky(1)) as server:
        job = runner_for(env).submit_and_run(JobSpec("sitemap", server.url("/s.xml")),
                                             inline_wait=False)
    assert job.status is JobStatus.RETRYING and clock.sleeps == []


def test_claim_is_exclusive_and_overlap_is_refused(env) -> None:  # type: ignore[no-untyped-def]
    first = runner_for(env, owner="host-a:1:1")
    second = runner_for(env, owner="host-b:2:2")
    job, created = first.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    again, created_again = second.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    assert created and not created_again and again.id == job.id
    assert first.queue.claim(job.id) is not None
    assert second.queue.claim(job.id) is None
    with pytest.raises(ImportAlreadyRunning) as info:
        second.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    assert str(info.value) == ("import sitemap:https://x.example/s.xml is already running as "
                               "job 1 (host-a:1:1); see `ingestctl jobs show 1`")


def test_other_host_job_is_recovered_only_after_its_lease_expires(env) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, seen = env
    other = runner_for(env, owner="elsewhere:123:456")
    job, _ = other.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    other.queue.claim(job.id)
    local = runner_for(env)
    clock.advance(59)
    assert local.queue.recover() == []
    clock.advance(2)
    [recovered] = local.queue.recover()
    assert (recovered.status, recovered.attempts) == (JobStatus.RETRYING, 1)
    assert recovered.error is not None and recovered.error.error_class == "crashed"
    assert recovered.next_attempt_at == to_iso(clock.now())
    assert EventKind.JOB_RECOVERED in [e.kind for e in seen]


def test_heartbeat_extends_the_lease(env) -> None:  # type: ignore[no-untyped-def]
    _, clock, _, _ = env
    other = runner_for(env, owner="elsewhere:1:1")
    job, _ = other.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    claimed = other.queue.claim(job.id)
    assert claimed is not None
    clock.advance(50)
    assert other.queue.heartbeat(claimed, {"items": 10})
    clock.advance(50)
    assert runner_for(env).queue.recover() == []


def test_completed_or_processing_job_cannot_be_retried(env) -> None:  # type: ignore[no-untyped-def]
    runner = runner_for(env, owner="elsewhere:1:1")
    job, _ = runner.queue.submit(JobSpec("sitemap", "https://x.example/s.xml"))
    runner.queue.claim(job.id)
    with pytest.raises(JobStateError) as info:
        runner.queue.requeue(job.id)
    assert str(info.value) == ("cannot retry job 1: it is processing; wait for it to finish "
                               "(`ingestctl jobs show 1`)")
