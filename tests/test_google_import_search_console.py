"""Search Console imports through the real runner and store against the enforcing fake.

"Today" is 2026-01-10 in California; Google's data is final up to 2026-01-07
(``firstIncompleteDate`` 2026-01-08). A FakeClock drives every wait; counts are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import Job, JobSpec, JobStatus
from ingestctl.resilience.quota import quota_lines
from ingestctl.sources.google.errors import next_pacific_midnight
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store
from tests.fakes.google_apis import (
    FakeGoogleApis,
    daily_quota_failure,
    load_quota,
    malformed,
    rate_limited,
)
from tests.fakes.search_console_data import facts

SITE = "sc-domain:example.com"
# 15:00 UTC is 07:00 in California: "today" for Search Console is 2026-01-10.
START = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
PER_DAY = 30  # rows per day and set; with rowLimit 20: pages of 20 and 10, then an empty one


@dataclass
class Env:
    apis: FakeGoogleApis
    store: Store
    clock: FakeClock
    config: Config

    def runner(self) -> Runner:
        return Runner(self.store, self.config, self.clock, EventBus())

    def run(self, **options: Any) -> Job:
        return self.runner().submit_and_run(JobSpec("search-console", SITE, options=options))

    def count(self, state: str | None = None, dimensions: str | None = None) -> int:
        sql, params = "SELECT count(*) FROM search_analytics WHERE 1 = 1", []
        for column, value in (("data_state", state), ("dimensions", dimensions)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return int(self.store.scalar(sql, params))

    def days(self) -> list[tuple[str, str]]:
        """(first day, last day) of each run of consecutive days requested, in order."""
        asked = [b["startDate"] for b in self.apis.bodies if b["startDate"] == b["endDate"]
                 and b["startRow"] == 0 and b["dimensions"] != ["DATE"]]
        return sorted({(d, d) for d in asked})

    def states(self) -> dict[str, str]:
        rows = self.store.query("SELECT date, data_state FROM search_console_days WHERE "
                                "dimensions = 'date,query,page,country,device'")
        return {r["date"]: r["data_state"] for r in rows}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis()
    apis.add_search_data(SITE, date(2025, 11, 1), 71, PER_DAY)  # up to 2026-01-10
    apis.analytics.first_incomplete = date(2026, 1, 8)
    with apis:
        config = Config()
        config.google.search_console_base_url = apis.base
        config.google.access_token_env = "GTOKEN"
        config.google.project_id = "proj-1"
        config.google.search_console_row_limit = 20
        config.retry.initial_delay = 0.0
        config.quality.fail_on = "never"
        store = Store(tmp_path / "ingestctl.db")
        yield Env(apis, store, FakeClock(START), config)
        store.close()
    assert apis.rejections == []


def day_range(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def test_first_run_loads_28_final_days_then_provisional_days_one_request_per_day(
        env: Env) -> None:
    job = env.run(provisional=True)
    assert (job.status, job.attempts, job.items) == (JobStatus.COMPLETED, 1, 31 * 31)
    # One probe over the first-run window (38 days + the margin) yields the totals by date.
    probe = env.apis.bodies[0]
    assert (probe["startDate"], probe["endDate"], probe["dimensions"], probe["dataState"],
            probe["aggregationType"]) == ("2025-12-03", "2026-01-10", ["DATE"], "ALL",
                                          "BY_PROPERTY")
    loaded = [b["startDate"] for b in env.apis.bodies[2:] if b["startRow"] == 0]
    assert loaded == day_range("2025-12-11", "2026-01-10")
    assert all(b["startDate"] == b["endDate"] for b in env.apis.bodies[2:])
    # Each day: rows 0-19, 20-29, then the empty page that ends paging.
    assert [b["startRow"] for b in env.apis.bodies[2:5]] == [0, 20, 30]
    assert len(env.apis.bodies) == 2 + 31 * 3
    assert (env.count("final"), env.count("all")) == (28 * 31, 3 * 31)
    assert (env.count(dimensions="date"), env.count(dimensions="date,query,page,country,"
                                                                "device")) == (31, 31 * 30)
    assert env.states() == {**{d: "final" for d in day_range("2025-12-11", "2026-01-07")},
                            **{d: "all" for d in day_range("2026-01-08", "2026-01-10")}}
    assert (job.result["last_final_day"], job.result["final_days"],
            job.result["provisional_days"], job.result["quality"]) == ("2026-01-07", 28, 3, [])
    # Totals match the detail rows' sums, as in the Search Console UI.
    assert env.store.scalar("SELECT sum(clicks) FROM search_analytics WHERE dimensions = "
                            "'date' AND date = '2026-01-03'") == env.store.scalar(
        "SELECT sum(clicks) FROM search_analytics WHERE dimensions <> 'date' AND "
        "date = '2026-01-03'")


def test_incremental_runs_fetch_what_is_not_final_and_refresh_provisional_days(
        env: Env) -> None:
    env.run(provisional=True)
    # Two days later Google has settled 01-08 and 01-09, and revised the provisional days.
    env.clock.advance(timedelta(days=2).total_seconds())
    sites = env.apis.analytics.sites
    sites[SITE] = [f for f in sites[SITE] if f.date < "2026-01-08"] + facts(
        "example.com", date(2026, 1, 8), 5, 25, salt="b")
    env.apis.analytics.first_incomplete = date(2026, 1, 10)
    env.apis.bodies.clear()
    job = env.run(provisional=True)
    assert (env.apis.bodies[0]["startDate"], env.apis.bodies[0]["endDate"]) == (
        "2026-01-08", "2026-01-12")  # from the first day not final in the store
    loaded = [b["startDate"] for b in env.apis.bodies[2:] if b["startRow"] == 0]
    assert loaded == day_range("2026-01-08", "2026-01-12")
    assert (job.status, job.items) == (JobStatus.COMPLETED, 5 * 26)
    # The old provisional rows of 01-08..01-10 (30 a day) are gone; 25 new ones a day are in.
    assert env.store.scalar("SELECT count(*) FROM search_analytics WHERE date >= '2026-01-08' "
                            "AND dimensions <> 'date'") == 5 * 25
    assert env.states()["2026-01-08"] == env.states()["2026-01-09"] == "final"
    assert [env.states()[d] for d in day_range("2026-01-10", "2026-01-12")] == ["all"] * 3
    assert env.count("final") == 28 * 31 + 2 * 26
    # Nothing new is final on the same day: without provisional days only the probe is asked.
    env.apis.bodies.clear()
    job = env.run()
    assert (job.status, job.items, len(env.apis.bodies)) == (JobStatus.COMPLETED, 0, 2)


def test_explicit_dates_load_every_day_final_or_provisional_by_google(env: Env) -> None:
    job = env.run(start_date="2026-01-05", end_date="2026-01-09")
    assert (job.status, job.items) == (JobStatus.COMPLETED, 5 * 31)
    # The probe reaches today, so Google says where its incomplete data begins.
    assert (env.apis.bodies[0]["startDate"], env.apis.bodies[0]["endDate"]) == (
        "2026-01-05", "2026-01-10")
    assert env.states() == {"2026-01-05": "final", "2026-01-06": "final",
                            "2026-01-07": "final", "2026-01-08": "all", "2026-01-09": "all"}
    # The same range again replaces the same rows.
    assert env.run(start_date="2026-01-05", end_date="2026-01-09").items == 5 * 31
    assert env.count() == 5 * 31


def test_429_mid_day_is_retried_and_the_job_resumes_at_its_start_row(env: Env) -> None:
    env.apis.fail("search-console", 20, *[rate_limited(retry_delay="2s")] * 3,
                  day="2025-12-20")
    job = env.run()
    assert (job.status, job.attempts, job.items, env.count()) == (
        JobStatus.COMPLETED, 2, 28 * 31, 28 * 31)
    asked = [(b["startDate"], b["startRow"]) for b in env.apis.bodies
             if b["startDate"] == "2025-12-20" and b["dimensions"] != ["DATE"]]
    assert asked == [("2025-12-20", 0)] + [("2025-12-20", 20)] * 4 + [("2025-12-20", 30)]
    assert env.clock.sleeps == [2.0, 2.0, 5.0]  # RetryInfo twice, then the job retry delay
    attempts = job_store.attempts_of(env.store, job.id)
    assert [(a.outcome.value, a.error.error_class if a.error else None) for a in attempts] == [
        ("failed", "rate_limited"), ("completed", None)]
    assert job.result["quality"] == []  # no duplicate keys: the resume asked each row once


def test_malformed_json_fails_as_data(env: Env) -> None:
    env.apis.fail("search-console", 0, malformed(), day="2025-12-15")
    job = env.run()
    assert (job.status, job.error.error_class if job.error else None) == (JobStatus.FAILED,
                                                                          "data")


def test_load_quota_defers_15_minutes_without_an_attempt_or_dead_letter(env: Env) -> None:
    env.apis.fail_next("search-console", *[load_quota()] * 2)
    job = env.run()
    assert (job.status, job.attempts, job.error.error_class if job.error else None) == (
        JobStatus.RETRYING, 0, "quota_exhausted")
    assert job.next_attempt_at == to_iso(START + timedelta(minutes=15))
    assert len(env.apis.bodies) == 1 and env.clock.sleeps == []
    assert dl_store.list_letters(env.store, dl_store.LetterFilter()) == []
    # Still exceeded on the first request after the wait: the long-term (daily) load quota.
    env.clock.advance(15 * 60)
    [again] = env.runner().run_due()
    assert (again.status, again.attempts) == (JobStatus.RETRYING, 0)
    assert again.next_attempt_at == to_iso(next_pacific_midnight(env.clock.now()))
    assert again.error is not None and again.error.message.startswith(
        "long-term load quota exceeded")
    env.clock.current = next_pacific_midnight(env.clock.now())
    [done] = env.runner().run_due()
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 1)


def test_daily_quota_failure_defers_to_pacific_midnight(env: Env) -> None:
    env.apis.fail("search-console", 20, daily_quota_failure("project:proj-1"),
                  day="2025-12-12")
    job = env.run()
    assert (job.status, job.attempts, job.next_attempt_at) == (
        JobStatus.RETRYING, 0, to_iso(next_pacific_midnight(START)))
    assert job.error is not None and job.error.message.startswith("daily quota exhausted")
    rows_before = env.count()
    env.clock.current = next_pacific_midnight(START)
    [done] = env.runner().run_due()
    # Before: the 28 totals, 2025-12-11's 30 rows and the first page of 2025-12-12.
    assert (done.status, done.items, rows_before) == (JobStatus.COMPLETED, 28 * 31,
                                                      28 + 30 + 20)


def test_every_request_is_counted_per_site_and_project(env: Env) -> None:
    env.run(start_date="2026-01-01", end_date="2026-01-02")
    scopes = {q.scope: (q.day_used, q.minute_limit, q.day_limit)
              for q in quota_lines(env.store, env.clock.now())}
    assert scopes == {f"site:{SITE}": (8, 1200, 0), "project:proj-1": (8, 40000, 30_000_000)}


def test_a_cursor_left_by_an_older_ingestctl_is_planned_again(env: Env) -> None:
    from ingestctl.store import google as g_store

    runner = env.runner()
    job, _ = runner.queue.submit(JobSpec("search-console", SITE,
                                         options={"start_date": "2026-01-05",
                                                  "end_date": "2026-01-06"}))
    old = {"plan": [{"start": "2026-01-05", "end": "2026-01-06", "data_state": "final",
                     "search_type": "web"}], "segment": 0, "start_row": 40}
    g_store.put_cursor(env.store, job.id, old, "2026-01-10T15:00:00.000000Z")
    done = runner.run_to_end(job)
    assert (done.status, done.items) == (JobStatus.COMPLETED, 2 * 31)
