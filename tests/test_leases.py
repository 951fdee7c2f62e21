"""The lease keeper, interrupted attempts and the cancellation token, in one process."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config, JobsConfig
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.interrupt import Cancellation, Interrupted, deferred, raise_in_main
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.lease import LeaseKeeper
from ingestctl.jobs.queue import JobQueue
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.store import Store
from ingestctl.store import jobs as job_store
from tests.cli import wait_until
from tests.httpserver import LocalServer, Request, Response
from tests.sitemap_import_helpers import index
from tests.sites import urlset

SPEC = JobSpec("sitemap", "https://shop.example/sitemap.xml", "shop")
OWNER = "host-a:1:1"


@pytest.fixture
def claimed(tmp_path: Path) -> tuple[Store, FakeClock, JobQueue, int]:
    store = Store(tmp_path / "ingestctl.db")
    clock = FakeClock()
    queue = JobQueue(store, JobsConfig(), clock, EventBus(), owner=OWNER)
    job, _ = queue.submit(SPEC)
    assert queue.claim(job.id) is not None
    return store, clock, queue, job.id


def _keeper(store: Store, clock: FakeClock, job_id: int, lease: float = 60.0) -> LeaseKeeper:
    cfg = JobsConfig()
    cfg.lease, cfg.heartbeat = lease, 10.0
    return LeaseKeeper(store.path, job_id, OWNER, cfg, clock)


def _hold_write_lock(path: Path) -> tuple[threading.Event, threading.Event]:
    """A thread that holds the write lock from ``held`` until ``release`` is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(5)
    return held, release


def test_renewal_extends_the_lease_and_publishes_progress(claimed) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, job_id = claimed
    keeper = _keeper(store, clock, job_id)
    clock.advance(45)
    keeper.publish({"items": 7, "current": "https://shop.example/s-1.xml"})
    assert keeper.renew()
    job = job_store.get_job(store, job_id)
    assert job is not None
    assert (job.lease_expires_at, job.heartbeat_at) == (to_iso(clock.now() + timedelta(seconds=60)),
                                                       to_iso(clock.now()))
    assert job.progress == {"items": 7, "current": "https://shop.example/s-1.xml"}
    assert (keeper.renewals, keeper.failures, keeper.lost) == (1, 0, False)
    keeper.stop()


def test_a_renewal_never_waits_longer_than_its_busy_timeout(claimed) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, job_id = claimed
    keeper = _keeper(store, clock, job_id, lease=0.5)  # busy timeout: a tenth of the lease
    assert keeper.busy_timeout == pytest.approx(0.05)
    _, release = _hold_write_lock(store.path)
    try:
        assert not keeper.renew()  # the import's transaction holds the lock: try again soon
    finally:
        release.set()
    assert (keeper.renewals, keeper.failures) == (0, 1)
    wait_until(keeper.renew, timeout=5)
    assert keeper.renewals == 1
    keeper.stop()


def test_the_timer_renews_without_any_progress(claimed) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, job_id = claimed
    keeper = _keeper(store, clock, job_id, lease=0.3)  # renews every 0.1 s
    keeper.start()
    try:
        wait_until(lambda: keeper.renewals >= 3, timeout=10)
    finally:
        keeper.stop()
    assert not keeper.lost


def test_a_job_taken_over_is_reported_lost_and_no_longer_renewed(claimed) -> None:  # type: ignore[no-untyped-def]
    store, clock, _, job_id = claimed
    lost: list[bool] = []
    keeper = _keeper(store, clock, job_id)
    keeper.on_lost = lambda: lost.append(True)
    with store.write() as conn:
        conn.execute("UPDATE jobs SET lease_owner = 'host-b:2:2' WHERE id = ?", (job_id,))
    assert keeper.renew()
    assert (keeper.lost, lost) == (True, [True])
    job = job_store.get_job(store, job_id)
    assert job is not None and job.lease_owner == "host-b:2:2"


def test_an_interrupted_attempt_is_kept_but_uses_up_no_attempt(claimed) -> None:  # type: ignore[no-untyped-def]
    store, clock, queue, job_id = claimed
    seen: list[Event] = []
    queue.events.subscribe(seen.append)
    job = queue.get(job_id)
    assert (job.attempts, job.max_attempts) == (1, 3)
    clock.advance(5)
    done = queue.interrupt(job, "SIGTERM", AttemptReport(items=12, requests=3))
    assert (done.status, done.attempts, done.max_attempts) == (JobStatus.RETRYING, 1, 4)
    assert done.next_attempt_at == to_iso(clock.now())  # due again at once
    assert done.error is None and done.lease_owner is None
    [attempt] = job_store.attempts_of(store, job_id)
    assert (attempt.outcome.value, attempt.note, attempt.error, attempt.items) == (
        "interrupted", "interrupted by SIGTERM", None, 12)
    assert [e.kind for e in seen] == [EventKind.JOB_INTERRUPTED]  # no alerting event
    # Three interruptions in a row never dead-letter the job.
    for _ in range(3):
        again = queue.claim(job_id)
        assert again is not None
        done = queue.interrupt(again, "SIGINT", AttemptReport())
    assert (done.status, done.attempts, done.max_attempts) == (JobStatus.RETRYING, 4, 7)


def test_cancelling_a_runner_mid_import_records_an_interrupted_attempt(
        tmp_path: Path) -> None:
    cancel = Cancellation()
    children = 4

    def handle(req: Request) -> Response:
        base = server.base
        if req.path == "/index.xml":
            return Response(200, index([f"{base}/c{n}.xml" for n in range(children)]))
        if req.path == "/c3.xml":
            cancel.cancel("SIGTERM")  # as the signal relay does, while this request waits
            return Response(200, urlset([f"{base}/late"]))
        return Response(200, urlset([f"{base}{req.path}/page"]))

    server = LocalServer(handle)
    config = Config()
    config.sitemap.concurrency = 1
    config.sitemap.parse_processes = 0
    store = Store(tmp_path / "ingestctl.db")
    runner = Runner(store, config, FakeClock(), EventBus(), owner=OWNER, cancel=cancel)
    with server, pytest.raises(Interrupted) as caught:
        runner.submit_and_run(JobSpec("sitemap", server.url("/index.xml")))
    assert (caught.value.signal_name, caught.value.job_id) == ("SIGTERM", 1)
    job = runner.queue.get(1)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.RETRYING, 1, 4)
    assert [a.outcome.value for a in job_store.attempts_of(store, 1)] == ["interrupted"]


def test_an_interruption_waits_for_the_transaction_to_end() -> None:
    order: list[str] = []
    with pytest.raises(Interrupted), deferred():
        raise_in_main(Interrupted("SIGINT"))  # as the handler does, mid-transaction
        order.append("committed")
    assert order == ["committed"]


def test_cancelled_sleep_ends_at_once_and_test_clocks_record_the_wait() -> None:
    cancel = Cancellation()
    clock = FakeClock()
    sleep = cancel.sleeper(clock)
    sleep(5)
    assert clock.sleeps == [5]
    cancel.cancel("SIGINT")
    with pytest.raises(Interrupted):
        sleep(5)
    aborted: list[str] = []
    cancel.on_cancel(lambda: aborted.append("late"))  # registered after: runs at once
    assert aborted == ["late"]
