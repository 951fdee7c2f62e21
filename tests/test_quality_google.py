"""Merchant and Search Console imports feed their quality rules (enforcing fakes on 127.0.0.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.store import Store
from tests.fakes.google_apis import FakeGoogleApis

START = datetime(2026, 1, 20, 15, 0, tzinfo=UTC)


def _config(apis: FakeGoogleApis) -> Config:
    config = Config()
    config.google.merchant_base_url = config.google.search_console_base_url = apis.base
    config.google.access_token_env = "GTOKEN"
    config.google.project_id = "proj-1"
    config.retry.initial_delay = 0.0
    config.quality.fail_on = "never"
    return config


def test_merchant_products_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis(products=30)
    products = apis.listing("123456").products
    products[3]["productAttributes"]["gtins"] = ["4000000000001"]  # wrong check digit
    del products[4]["productAttributes"]["title"]
    with apis, Store(tmp_path / "db") as store:
        runner = Runner(store, _config(apis), FakeClock(START), EventBus())
        job = runner.submit_and_run(JobSpec("merchant", "123456"))
    assert (job.status, job.items) == (JobStatus.COMPLETED, 30)
    found = {v["rule"]: v for v in job.result["quality"]}
    assert sorted(found) == ["invalid_gtin_share", "missing_title_share"]
    assert found["invalid_gtin_share"]["details"]["examples"] == ["sku0003: 4000000000001"]


def test_search_console_missing_final_days(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis()
    apis.add_search_data("sc-domain:example.com", date(2026, 1, 1), 7, 10)  # 01-01..07 only
    apis.analytics.first_incomplete = date(2026, 1, 18)
    with apis, Store(tmp_path / "db") as store:
        runner = Runner(store, _config(apis), FakeClock(START), EventBus())
        spec = JobSpec("search-console", "sc-domain:example.com",
                       options={"start_date": "2026-01-01", "end_date": "2026-01-10"})
        job = runner.submit_and_run(spec)
    assert (job.status, job.items) == (JobStatus.COMPLETED, 7 * 11)  # fail_on = "never" here
    [missing] = job.result["quality"]
    assert (missing["rule"], missing["severity"], missing["observed"]) == (
        "missing_days", "error", 3)
    assert missing["details"]["days"] == ["2026-01-08", "2026-01-09", "2026-01-10"]
