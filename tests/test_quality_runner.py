"""Data-quality rules on crafted imports through the real runner, store and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import Config, ImportConfig
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.runner import Runner
from ingestctl.jobs.spec import spec_for_config
from ingestctl.models.jobs import Job, JobStatus
from ingestctl.quality.catalog import DEFAULT_RULES, rules_table
from ingestctl.store import Store, counters
from ingestctl.store import dead_letters as dl_store
from tests.cli import invoke
from tests.httpserver import LocalServer, Request, Response

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Feed:
    """Serves /sitemap.xml listing ``entries`` (loc, lastmod); locs may use {base}."""

    entries: list[tuple[str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = LocalServer(self.handle)

    def pages(self, n: int, lastmod: str | None = None) -> None:
        self.entries = [("{base}/p" + str(i), lastmod or f"2026-01-{1 + i % 28:02d}")
                        for i in range(n)]

    def handle(self, req: Request) -> Response:
        base = self.server.base
        body = "".join(f"<url><loc>{loc.replace('{base}', base)}</loc>"
                       + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>"
                       for loc, mod in self.entries)
        return Response(200, ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
                              f'schemas/sitemap/0.9">{body}</urlset>').encode())


@dataclass
class Env:
    store: Store
    config: Config
    clock: FakeClock
    events: EventBus
    seen: list[Event]
    feed: Feed

    def run(self) -> Job:
        runner = Runner(self.store, self.config, self.clock, self.events)
        job = runner.submit_and_run(spec_for_config(self.config.imports[0]), inline_wait=False)
        self.clock.advance(3600)
        return job

    def rules(self, job: Job) -> list[tuple[str, str]]:
        return [(v["rule"], v["severity"]) for v in job.result["quality"]]


@pytest.fixture
def env(home: Path) -> Iterator[Env]:
    feed = Feed()
    with feed.server, Store(home / "ingestctl.db") as store:
        config = Config()
        config.retry.attempts = 1
        config.imports = [ImportConfig(name="shop", url=feed.server.url("/sitemap.xml"))]
        events = EventBus()
        seen: list[Event] = []
        events.subscribe(seen.append, [EventKind.QUALITY_VIOLATION])
        yield Env(store, config, FakeClock(datetime(2026, 3, 1, tzinfo=UTC)), events, seen, feed)


def test_a_clean_import_passes(env: Env) -> None:
    env.feed.pages(20)
    job = env.run()
    assert (job.status, job.items, job.result["quality"]) == (JobStatus.COMPLETED, 20, [])
    assert env.seen == []


def test_zero_items_is_an_error_recorded_counted_and_announced(env: Env) -> None:
    job = env.run()
    assert job.status is JobStatus.FAILED  # fail_on = "error" by default
    assert job.result["quality"] == [{
        "rule": "zero_items", "severity": "error", "message": "the import produced no items; error",
        "observed": 0, "threshold": None, "details": {"previous_items": None}}]
    assert counters.read(env.store, "quality_violations_total") == [
        ({"rule": "zero_items", "severity": "error"}, 1.0)]
    [event] = env.seen
    assert (event.job_id, event.import_key, event.data["rule"], event.data["severity"]) == (
        job.id, "shop", "zero_items", "error")


def test_volume_drop_across_imports_of_the_same_import(env: Env) -> None:
    env.config.quality.fail_on = "never"  # every run completes, so each is the next baseline
    env.feed.pages(100)
    assert env.rules(env.run()) == []
    env.feed.pages(70)
    second = env.run()
    assert env.rules(second) == [("volume_drop_warning", "warning")]
    assert second.result["quality"][0]["message"] == (
        "70 items, down 30 % from 100 in the previous completed run; "
        "warning at a drop of 20 %")
    env.feed.pages(30)
    assert env.rules(env.run()) == [("volume_drop_error", "error")]  # against 70: -57 %
    env.feed.pages(100)
    assert env.rules(env.run()) == [("volume_spike", "warning")]  # against 30: +233 %


def test_invalid_url_share(env: Env) -> None:
    env.feed.pages(48)
    env.feed.entries += [("not a url", "2026-01-05"), ("ftp://{base}/file", "2026-01-06")]
    job = env.run()
    assert env.rules(job) == [("invalid_url_share", "warning")]
    found = job.result["quality"][0]
    assert (found["observed"], found["details"]["count"], found["details"]["total"]) == (
        0.04, 2, 50)
    assert found["details"]["examples"][0] == "not a url (not an absolute http(s) URL)"


def test_every_url_with_the_same_lastmod(env: Env) -> None:
    env.feed.pages(12, lastmod="2026-02-01")
    job = env.run()
    assert env.rules(job) == [("same_lastmod", "warning")]


def test_future_lastmod_and_off_host_urls(env: Env) -> None:
    env.feed.pages(10)
    env.feed.entries += [("{base}/future", "2027-01-01"), ("https://elsewhere.example/x", None)]
    assert env.rules(env.run()) == [("future_lastmod_share", "warning"),
                                    ("off_host_url_share", "warning")]


def test_per_import_override_turns_a_rule_off_or_up(env: Env) -> None:
    env.feed.pages(12, lastmod="2026-02-01")
    env.config.imports[0].quality = {"same_lastmod": False}
    assert env.rules(env.run()) == []
    env.config.imports[0].quality = {"same_lastmod": "error"}
    assert env.rules(env.run()) == [("same_lastmod", "error")]


def test_fail_on_error_fails_the_job_into_the_dead_letter_queue(env: Env) -> None:
    job = env.run()  # fail_on = "error" is the default
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)  # data: not retried
    assert job.error is not None
    assert (job.error.error_class, job.error.type, job.error.message) == (
        "data", "QualityFailedError", "data quality: the import produced no items; error; fix "
        "the source, or override the rule in the import's quality table")
    assert [v["rule"] for v in job.result["quality"]] == ["zero_items"]
    [letter] = dl_store.list_letters(env.store, dl_store.LetterFilter())
    assert (letter.job_id, letter.error_class) == (job.id, "data")
    # Warnings alone never fail it.
    env.feed.pages(12, lastmod="2026-02-01")
    assert env.run().status is JobStatus.COMPLETED


def test_fail_on_never_records_errors_and_completes(env: Env) -> None:
    env.config.quality.fail_on = "never"
    job = env.run()
    assert (job.status, env.rules(job)) == (JobStatus.COMPLETED, [("zero_items", "error")])
    assert dl_store.list_letters(env.store, dl_store.LetterFilter()) == []


def test_jobs_show_text_and_json_show_the_quality_results(env: Env) -> None:
    env.feed.pages(12, lastmod="2026-02-01")
    job = env.run()
    env.store.close()
    shown = invoke("jobs", "show", str(job.id), "--json")
    assert shown.exit_code == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    assert [v["rule"] for v in data["quality"]] == ["same_lastmod"]
    text = invoke("jobs", "show", str(job.id))
    lines = text.stdout.splitlines()
    assert ["quality", "0", "error(s),", "1", "warning(s)"] in [line.split() for line in lines]
    assert any(line.split()[:2] == ["same_lastmod", "warning"] for line in lines), text.stdout


def test_config_check_validates_quality_overrides(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[[imports]]\nname = "shop"\nurl = "https://example.com/s.xml"\n'
                      'quality = { same_lastmd = false }\n')
    result = invoke("--config", str(config), "config", "check")
    assert result.exit_code == 78
    assert result.stderr == (f"ingestctl: error: config error: {config}: "
                             "imports[0].quality.same_lastmd: unknown data-quality rule; "
                             "did you mean same_lastmod?\n")


def test_quality_guide_lists_every_rule_with_its_default() -> None:
    readme = (ROOT / "docs" / "guide" / "quality.md").read_text()
    for row in rules_table():
        assert f"| `{row.name}` | {row.source} | {row.severity} | {row.threshold} |" in readme, \
            row.name
    assert set(DEFAULT_RULES) == {row.name for row in rules_table()}


def test_status_shows_the_violations_of_each_imports_last_run(env: Env, home: Path) -> None:
    from ingestctl.monitoring import snapshots as sq
    from tests.test_dashboard import draw

    env.feed.pages(12, lastmod="2026-02-01")
    job = env.run()
    snap = sq.status_snapshot(env.store, env.config, env.clock.now(), home / "breakers.json")
    assert snap.to_json()["quality"] == [{"import": job.name, "job_id": job.id, "violations": [
        {"rule": "same_lastmod", "severity": "warning",
         "message": job.result["quality"][0]["message"]}]}]
    text = "\n".join(draw(snap, 160, 50, live=False))
    assert "Data quality, last runs" in text and "same_lastmod" in text
