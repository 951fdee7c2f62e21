"""Merchant and Search Console imports feed their quality rules (fake Google APIs on 127.0.0.1)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    return config


def test_merchant_products_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis(products=30)
    with apis.server, Store(tmp_path / "db") as store:
        runner = Runner(store, _config(apis), FakeClock(START), EventBus())
        job = runner.submit_and_run(JobSpec("merchant", "123456"))
    assert (job.status, job.items) == (JobStatus.COMPLETED, 30)
    found = {v["rule"]: v for v in job.result["quality"]}
    # The fake's GTINs are 400000000000N: only those whose check digit happens to match pass.
    assert list(found) == ["invalid_gtin_share"]
    assert found["invalid_gtin_share"]["details"]["total"] == 30


def test_search_console_missing_final_days(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis(rows=70)  # rows on 2026-01-01..07 only
    with apis.server, Store(tmp_path / "db") as store:
        runner = Runner(store, _config(apis), FakeClock(START), EventBus())
        spec = JobSpec("search-console", "sc-domain:example.com",
                       options={"start_date": "2026-01-01", "end_date": "2026-01-10"})
        job = runner.submit_and_run(spec)
    assert (job.status, job.items) == (JobStatus.COMPLETED, 70)
    [missing] = job.result["quality"]
    assert (missing["rule"], missing["severity"], missing["observed"]) == (
        "missing_days", "error", 3)
