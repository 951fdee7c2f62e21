"""Events -> alerts through the real runner, store and outbox, driven by an injected clock."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestctl.alerts.dispatch import Alerting
from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config, ImportConfig
from ingestctl.events import EventBus
from ingestctl.jobs.queue import JobQueue
from ingestctl.jobs.runner import Runner
from ingestctl.jobs.spec import spec_for_config
from ingestctl.models.alerts import QuotaFacts
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.resilience.breaker import BreakerBoard
from ingestctl.store import Store
from ingestctl.store import jobs as job_store
from tests.alerts_helpers import quota_level_event, schedule_missed_event
from tests.httpserver import LocalServer, Request, Response

from .test_alerts_outbox import FakeChannel

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
HOUR = 3600.0


class Site:
    """Serves /sitemap.xml: a 404, a 503, or a urlset of pages on this server."""

    def __init__(self) -> None:
        self.status = 404
        self.pages = 5
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        if self.status != 200:
            return Response(self.status, b"nope")
        base = self.server.base
        body = "".join(f"<url><loc>{base}/p{i}</loc><lastmod>2026-01-0{1 + i % 9}</lastmod>"
                       "</url>" for i in range(self.pages))
        return Response(200, ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                              f'schemas/sitemap/0.9">{body}</urlset>').encode())


@dataclass
class World:
    store: Store
    clock: FakeClock
    config: Config
    events: EventBus
    email: FakeChannel
    webhook: FakeChannel
    alerting: Alerting
    site: Site

    def runner(self, breakers: BreakerBoard | None = None) -> Runner:
        return Runner(self.store, self.config, self.clock, self.events, breakers=breakers)

    def run(self, breakers: BreakerBoard | None = None) -> JobStatus:
        spec = spec_for_config(self.config.imports[0])
        return self.runner(breakers).submit_and_run(spec, inline_wait=False).status

    def subjects(self) -> list[str]:
        return [a.subject for a in self.email.sent]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    site = Site()
    with site.server, Store(tmp_path / "ingestctl.db") as store:
        config = Config()
        config.retry.attempts = 1
        config.jobs.max_attempts = 1
        config.imports = [ImportConfig(name="shop-sitemap", url=site.server.url("/sitemap.xml"),
                                       schedule="0 2 * * *")]
        clock = FakeClock(START)
        events = EventBus()
        email, webhook = FakeChannel("email"), FakeChannel("webhook")
        alerting = Alerting(store, config, clock, host="host1", channels=[email, webhook])
        alerting.subscribe(events)
        yield World(store, clock, config, events, email, webhook, alerting, site)


def test_dead_letter_alert_has_everything_to_act_on(world: World) -> None:
    assert world.run() is JobStatus.FAILED
    [alert] = world.email.sent
    assert alert.subject == "[ingestctl][CRITICAL] shop-sitemap failed on host1"
    assert world.webhook.sent == [alert]
    url = world.site.server.url("/sitemap.xml")
    lines = alert.body.splitlines()
    for expected in [
        "Job:     1", "Import:  shop-sitemap", "Source:  sitemap", f"Target:  {url}",
        "Attempts (1):",
        f"  #1 [not_found] NotFoundError: HTTP 404 Not Found for {url}; check the URL",
        "Last success:        never", "Next scheduled run:  2026-03-02T02:00:00Z",
        "Dead letters total:  1", "  ingestctl jobs show 1", "  ingestctl retry 1",
    ]:
        assert expected in lines, (expected, alert.body)
    assert alert.fields["attempts"] == 1
    assert alert.fields["attempt_history"][0]["error_class"] == "not_found"


def test_same_import_is_not_alerted_again_within_4h_then_resolved_once(world: World) -> None:
    assert world.run() is JobStatus.FAILED
    world.clock.advance(1 * HOUR)
    assert world.run() is JobStatus.FAILED
    assert len(world.email.sent) == 1  # deduplicated: same key within the repeat interval
    world.clock.advance(3 * HOUR + 1)
    assert world.run() is JobStatus.FAILED  # 4 h after the first alert: repeated
    assert world.subjects() == ["[ingestctl][CRITICAL] shop-sitemap failed on host1"] * 2
    assert "Dead letters total:  3" in world.email.sent[1].body.splitlines()
    world.site.status = 200
    world.clock.advance(60)
    assert world.run() is JobStatus.COMPLETED
    assert world.subjects()[2:] == ["[ingestctl][RESOLVED] shop-sitemap succeeded again on host1"]
    assert world.email.sent[2].key == "dead_letter:shop-sitemap"
    world.clock.advance(60)
    assert world.run() is JobStatus.COMPLETED
    assert len(world.email.sent) == 3  # nothing left to resolve
    world.site.status = 404
    world.clock.advance(60)
    assert world.run() is JobStatus.FAILED  # fires again at once after it was resolved
    assert len(world.email.sent) == 4
    assert "Last success:        2026-03-01T14:02:01Z" in world.email.sent[3].body.splitlines()


def test_breaker_opened_warns_and_closing_resolves(world: World, tmp_path: Path) -> None:
    world.config.breaker.failure_threshold = 2
    world.config.breaker.success_threshold = 1
    board = BreakerBoard(tmp_path / "breakers.json", world.config.breaker, world.clock)
    world.site.status = 503
    assert world.run(board) is JobStatus.FAILED
    world.clock.advance(60)
    assert world.run(board) is JobStatus.FAILED
    key = f"sitemap:127.0.0.1:{world.site.server.port}"
    opened = [a for a in world.email.sent if a.key == f"breaker:{key}"]
    assert [a.subject for a in opened] == [
        f"[ingestctl][WARNING] circuit breaker {key} opened on host1"]
    assert f"  ingestctl breaker reset {key}" in opened[0].body.splitlines()
    world.site.status = 200
    world.clock.advance(world.config.breaker.reset_timeout + 1)
    assert world.run(board) is JobStatus.COMPLETED
    closed = [a for a in world.email.sent if a.key == f"breaker:{key}"]
    assert [a.subject for a in closed][1:] == [
        f"[ingestctl][RESOLVED] circuit breaker {key} closed on host1"]


def test_recovered_job_warns(world: World) -> None:
    world.config.jobs.max_attempts = 3
    queue = JobQueue(world.store, world.config.jobs, world.clock, world.events, "me:1:1")
    job, _ = queue.submit(JobSpec("sitemap", world.site.server.url("/x.xml"), "other"))
    dead_owner = f"{socket.gethostname()}:999999999:1"
    job_store.claim(world.store, job.id, dead_owner, to_iso(START) or "", to_iso(START) or "")
    queue.recover()
    [alert] = world.email.sent
    assert alert.subject == "[ingestctl][WARNING] other recovered after a crash on host1"
    assert f"running in {dead_owner}, which died" in alert.body
    assert "It will be retried at 2026-03-01T10:00:00Z." in alert.body


def test_quota_levels_warn_escalate_and_resolve(world: World) -> None:
    at = START
    world.events.emit(quota_level_event(at, "merchant", "account 42", 850, 1000, "warning", 0.8))
    world.events.emit(quota_level_event(at, "merchant", "account 42", 860, 1000, "warning", 0.8))
    world.events.emit(quota_level_event(at, "merchant", "account 42", 960, 1000, "critical",
                                        0.95))
    world.events.emit(quota_level_event(at, "merchant", "account 42", 0, 1000, "ok", 0.8))
    assert world.subjects() == [
        "[ingestctl][WARNING] merchant quota account 42 at 85% on host1",
        "[ingestctl][CRITICAL] merchant quota account 42 at 96% on host1",
        "[ingestctl][RESOLVED] merchant quota account 42 back to normal on host1"]
    # The hook the quota tracker can call directly, instead of emitting the event.
    result = world.alerting.quota(QuotaFacts("search-console", "site", 81, 100), level="warning",
                                  threshold=0.8)
    assert result.decision.send and len(world.email.sent) == 4


def test_missed_schedule_warns_and_next_success_resolves(world: World) -> None:
    slot = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    world.events.emit(schedule_missed_event(START, "shop-sitemap", slot))
    assert world.subjects() == ["[ingestctl][WARNING] shop-sitemap missed its schedule on host1"]
    assert "Import shop-sitemap was due at 2026-03-01T02:00:00Z and has not run." in \
        world.email.sent[0].body
    world.site.status = 200
    assert world.run() is JobStatus.COMPLETED
    assert world.email.sent[1].key == "schedule:shop-sitemap"
    assert world.email.sent[1].subject.startswith("[ingestctl][RESOLVED]")


def test_failing_channel_alerts_through_the_other_after_an_hour(world: World) -> None:
    world.email.fail = "127.0.0.1:25: connection refused"
    assert world.run() is JobStatus.FAILED
    assert world.email.sent == [] and len(world.webhook.sent) == 1
    world.clock.advance(HOUR + 1)
    world.alerting.flush()
    failing = [a for a in world.webhook.sent if a.key == "delivery:email"]
    assert [a.subject for a in failing] == [
        "[ingestctl][WARNING] alert delivery by email failing on host1"]
    world.email.fail = None
    world.alerting.flush(force=True)
    assert [a.key for a in world.email.sent] == ["dead_letter:shop-sitemap"]
    assert [a.subject for a in world.webhook.sent][-1] == \
        "[ingestctl][RESOLVED] alert delivery by email works again on host1"


def test_quality_violation_alerts_with_its_severity(world: World) -> None:
    world.config.quality.fail_on = "never"  # the quality alert alone, no dead letter
    world.site.status = 200
    world.site.pages = 0
    assert world.run() is JobStatus.COMPLETED
    [alert] = world.email.sent
    assert alert.subject == "[ingestctl][CRITICAL] shop-sitemap quality zero_items (error) on host1"
    world.site.pages = 5
    world.clock.advance(60)
    assert world.run() is JobStatus.COMPLETED
    assert [a.subject for a in world.email.sent][1:] == [
        "[ingestctl][RESOLVED] shop-sitemap quality zero_items passes again on host1"]
