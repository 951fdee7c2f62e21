"""The scheduler's HTTP endpoints over real HTTP on 127.0.0.1, in process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import Config
from ingestctl.errors import IngestError, NotFoundError, UsageError
from ingestctl.events import EventBus
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import JobSpec
from ingestctl.paths import Home
from ingestctl.scheduler.http import Endpoints, StatusServer, parse_address
from ingestctl.store import Store
from ingestctl.store import scheduling as sched_store

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


class Served:
    """Endpoints on an ephemeral port, with switches for the running state and the config."""

    def __init__(self, root: Path) -> None:
        self.home = Home(root)
        self.config = Config()
        self.running = True
        self.clock = FakeClock(NOW)
        self.server = StatusServer(("127.0.0.1", 0), Endpoints(
            self.home, lambda: self.config, lambda: self.running, self.clock.now))

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.server.url + path, timeout=10) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "home")
    s.server.start()
    yield s
    s.server.stop()


def dead_letter(store: Store, clock: FakeClock, n: int) -> None:
    queue = JobQueue(store, Config().jobs, clock, EventBus(), "test:1:1")
    job, _ = queue.submit(JobSpec("sitemap", f"https://x.example/{n}.xml", ""))
    claimed = queue.claim(job.id)
    assert claimed is not None
    queue.fail(claimed, NotFoundError("HTTP 404"), None, AttemptReport())


def test_livez_answers_even_without_a_store(served: Served) -> None:
    served.home.database.mkdir(parents=True)  # a directory where the database should be
    assert served.get("/livez") == (200, "text/plain; charset=utf-8", "ok\n")
    status, _, body = served.get("/readyz")
    assert status == 503 and body.startswith("not ready: store unreachable: store error: ")
    status, kind, body = served.get("/healthz")
    assert (status, kind) == (503, "application/health+json")
    assert json.loads(body)["status"] == "fail"


def test_readyz_follows_the_scheduler_state(served: Served) -> None:
    Store(served.home.database).close()
    assert served.get("/readyz") == (200, "text/plain; charset=utf-8", "ready\n")
    served.running = False
    assert served.get("/readyz") == (503, "text/plain; charset=utf-8",
                                     "not ready: scheduler not running\n")


def test_healthz_turns_503_when_dead_letters_pass_the_critical_level(served: Served) -> None:
    served.config.health.dead_letters_warning = 1
    served.config.health.dead_letters_critical = 2
    # Only the dead-letter check is under test: failed jobs also lower the success rate.
    served.config.health.min_success_rate = served.config.health.critical_success_rate = 0.0
    served.config.alerts.email.to = ["ops@example.org"]  # no alert channel would warn
    with Store(served.home.database) as store:
        sched_store.write_heartbeat(store, NOW)
        status, _, body = served.get("/healthz")
        assert status == 200 and json.loads(body)["status"] == "pass", body
        dead_letter(store, served.clock, 1)
        status, _, body = served.get("/healthz")
        assert status == 200 and json.loads(body)["status"] == "warn"  # warn is still 200
        dead_letter(store, served.clock, 2)
        status, kind, body = served.get("/healthz")
    assert (status, kind) == (503, "application/health+json")
    doc = json.loads(body)
    assert doc["status"] == "fail"
    assert doc["checks"]["dead_letters:count"][0]["status"] == "fail"
    assert doc["checks"]["dead_letters:count"][0]["observedValue"] == 2


def test_healthz_fails_on_a_stale_heartbeat_when_a_scheduler_is_expected(
        served: Served) -> None:
    served.config.health.scheduler_expected = True
    with Store(served.home.database) as store:
        sched_store.write_heartbeat(store, NOW)
        assert served.get("/healthz")[0] == 200
        served.clock.advance(600)  # heartbeat 10 minutes old, stale after 120 s
        status, _, body = served.get("/healthz")
    assert status == 503
    assert json.loads(body)["checks"]["scheduler:heartbeat"][0]["status"] == "fail"


def test_metrics_is_the_prometheus_exposition(served: Served) -> None:
    with Store(served.home.database) as store:
        sched_store.write_heartbeat(store, NOW)
        dead_letter(store, served.clock, 1)
    status, kind, body = served.get("/metrics")
    assert status == 200
    assert kind == "text/plain; version=0.0.4; charset=utf-8"
    assert "\ningestctl_dead_letters 1.0\n" in body
    assert "\ningestctl_scheduler_heartbeat_timestamp_seconds 1.7676144e+09\n" in body
    assert served.get("/metrics?x=1")[0] == 200
    assert served.get("/other")[0] == 404


@pytest.mark.parametrize(("text", "expected"), [
    ("9464", ("127.0.0.1", 9464)),
    (":9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:9464", ("0.0.0.0", 9464)),
    ("localhost:80", ("localhost", 80)),
    ("[::1]:9464", ("::1", 9464)),
])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:http", "70000", "[::1]"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_address(text)


def test_a_busy_port_is_one_error_line(served: Served) -> None:
    port = int(served.server.url.rsplit(":", 1)[1])
    endpoints = Endpoints(served.home, Config, lambda: True, served.clock.now)
    with pytest.raises(IngestError) as caught:
        StatusServer(("127.0.0.1", port), endpoints)
    assert str(caught.value) == (f"cannot listen on 127.0.0.1:{port}: Address already in use; "
                                 "pick another --http address or stop what uses it")
