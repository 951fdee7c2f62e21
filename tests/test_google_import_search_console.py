"""Search Console import through the real runner and store against a fake server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.resilience.quota import quota_lines
from ingestctl.sources.google.errors import next_pacific_midnight
from ingestctl.store import Store
from ingestctl.store import jobs as job_store
from tests.fakes.google_apis import FakeGoogleApis, daily_quota_403, malformed, rate_limited

SITE = "sc-domain:example.com"
# 15:00 UTC is 07:00 in California: "today" for Search Console is 2026-01-10.
START = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)


@dataclass
class Env:
    apis: FakeGoogleApis
    store: Store
    clock: FakeClock
    config: Config

    def run(self, **options: Any) -> tuple[int, JobStatus, int, int]:
        job = Runner(self.store, self.config, self.clock, EventBus()).submit_and_run(
            JobSpec("search-console", SITE, options=options))
        return job.id, job.status, job.attempts, job.items

    def count(self, state: str | None = None) -> int:
        sql = "SELECT count(*) FROM search_analytics"
        return int(self.store.scalar(sql + " WHERE data_state = ?", (state,)) if state
                   else self.store.scalar(sql))

    def asked(self) -> list[tuple[str, str, str, int]]:
        return [(str(b["startDate"]), str(b["endDate"]), str(b["dataState"]),
                 int(str(b["startRow"]))) for b in self.apis.bodies]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis(rows=230, by_dates=True)
    with apis.server:
        config = Config()
        config.google.search_console_base_url = apis.base
        config.google.access_token_env = "GTOKEN"
        config.google.project_id = "proj-1"
        config.google.search_console_row_limit = 100
        config.retry.initial_delay = 0.0
        store = Store(tmp_path / "ingestctl.db")
        yield Env(apis, store, FakeClock(START), config)
        store.close()


def test_explicit_dates_import_every_row_on_its_full_key(env: Env) -> None:
    _, status, attempts, items = env.run(start_date="2026-01-01", end_date="2026-01-05")
    assert (status, attempts, items, env.count("final")) == (JobStatus.COMPLETED, 1, 230, 230)
    assert env.asked() == [("2026-01-01", "2026-01-05", "final", r) for r in (0, 100, 200)]
    body = env.apis.bodies[0]
    assert (body["dimensions"], body["type"], body["rowLimit"]) == (
        ["date", "query", "page", "country", "device"], "web", 100)
    row = env.store.query("SELECT * FROM search_analytics WHERE query = 'query 7'")[0]
    assert (row["date"], row["page"], row["country"], row["device"], row["search_type"],
            row["clicks"], row["impressions"], row["position"]) == (
        "2026-01-03", "example.com/p7", "usa", "DESKTOP", "web", 2.0, 17.0, 2.5)
    # Rerunning the same range upserts the same rows.
    assert env.run(start_date="2026-01-01", end_date="2026-01-05")[1:] == (
        JobStatus.COMPLETED, 1, 230)
    assert env.count() == 230
    scopes = {q.scope: (q.day_used, q.minute_limit, q.day_limit)
              for q in quota_lines(env.store, env.clock.now())}
    assert scopes == {f"site:{SITE}": (6, 1200, 0), "project:proj-1": (6, 40000, 30_000_000)}


def test_429_mid_paging_resumes_at_its_start_row(env: Env) -> None:
    env.apis.fail("search-console", 1, *[rate_limited(retry_after=2)] * 3)
    job_id, status, attempts, items = env.run(start_date="2026-01-01", end_date="2026-01-05")
    assert (status, attempts, items, env.count()) == (JobStatus.COMPLETED, 2, 230, 230)
    assert [a[3] for a in env.asked()] == [0, 100, 100, 100, 100, 200]
    assert env.clock.sleeps == [2.0, 2.0, 5.0]  # job retry: max(5 s, Retry-After)


def test_malformed_json_fails_as_data(env: Env) -> None:
    env.apis.fail("search-console", 2, malformed())
    job_id, status, _, _ = env.run(start_date="2026-01-01", end_date="2026-01-05")
    job = job_store.get_job(env.store, job_id)
    assert (status, env.count(), job.error.error_class if job and job.error else None) == (
        JobStatus.FAILED, 200, "data")


def test_daily_limit_defers_to_pacific_midnight(env: Env) -> None:
    env.apis.fail("search-console", 1, daily_quota_403())
    job_id, status, attempts, _ = env.run(start_date="2026-01-01", end_date="2026-01-05")
    job = job_store.get_job(env.store, job_id)
    assert job is not None
    assert (status, attempts, env.count(), job.next_attempt_at) == (
        JobStatus.RETRYING, 0, 100, to_iso(next_pacific_midnight(START)))
    assert to_iso(next_pacific_midnight(START)) == "2026-01-11T08:00:00.000000Z"


def test_default_range_and_provisional_days_replaced_by_final_data(env: Env) -> None:
    # First run: 28 final days up to three days ago, then the last three days provisional.
    _, status, _, items = env.run(provisional=True)
    assert (status, items, env.count("final"), env.count("all")) == (
        JobStatus.COMPLETED, 460, 230, 230)
    assert env.asked() == [("2025-12-11", "2026-01-07", "final", r) for r in (0, 100, 200)] + [
        ("2026-01-08", "2026-01-10", "all", r) for r in (0, 100, 200)]
    # Two days later: the final days after the last one held, and new provisional days.
    env.clock.advance(timedelta(days=2).total_seconds())
    env.apis.bodies.clear()
    _, status, _, items = env.run(provisional=True)
    assert env.asked() == [("2026-01-08", "2026-01-09", "final", r) for r in (0, 100, 200)] + [
        ("2026-01-10", "2026-01-12", "all", r) for r in (0, 100, 200)]
    # Provisional rows of 01-08..01-10 (77 + 77 + 76) are gone; final and new ones are in.
    assert (status, items, env.count("final"), env.count("all")) == (
        JobStatus.COMPLETED, 460, 460, 230)
    assert env.store.scalar("SELECT count(*) FROM search_analytics WHERE data_state = 'all' "
                            "AND date < '2026-01-10'") == 0
    # Nothing new is final yet on the same day: the run loads nothing and completes.
    env.apis.bodies.clear()
    assert env.run()[1:] == (JobStatus.COMPLETED, 1, 0)
    assert env.asked() == []
