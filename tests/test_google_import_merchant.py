"""Merchant import through the real runner, store and fetcher against the enforcing fakes.

A FakeClock drives every wait (RetryInfo, job retry delays, the per-minute limiter, token
expiry); counts are exact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec, JobStatus
from ingestctl.resilience.quota import quota_lines
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import google as g_store
from ingestctl.store import jobs as job_store
from tests.fakes.google_apis import (
    JSON,
    FakeGoogleApis,
    daily_quota_failure,
    malformed,
    rate_limited,
    server_error,
    unauthorized,
)
from tests.fakes.google_token import FakeTokenServer, new_key, write_key_file
from tests.fakes.merchant_data import page_index, product
from tests.httpserver import Response

ACCOUNT = "123456"
START = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
SPEC = JobSpec("merchant", ACCOUNT)


@dataclass
class Env:
    apis: FakeGoogleApis
    store: Store
    clock: FakeClock
    config: Config

    def runner(self) -> Runner:
        return Runner(self.store, self.config, self.clock, EventBus())

    def run(self) -> tuple[int, JobStatus, int, int]:
        job = self.runner().submit_and_run(SPEC)
        return job.id, job.status, job.attempts, job.items

    def rows(self) -> int:
        return int(self.store.scalar("SELECT count(*) FROM merchant_products"))

    def page_requests(self) -> list[int]:
        """The page index of every products request, in order."""
        return [page_index(p) for p in self.apis.server.paths() if "/products/v1/" in p]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("GTOKEN", "static-token")
    apis = FakeGoogleApis(products=95)
    with apis:
        config = Config()
        config.google.merchant_base_url = apis.base
        config.google.access_token_env = "GTOKEN"
        config.google.merchant_page_size = 10
        config.retry.initial_delay = 0.0  # request backoffs of 0 s keep sleeps exact
        store = Store(tmp_path / "ingestctl.db")
        yield Env(apis, store, FakeClock(START), config)
        store.close()


def test_imports_every_product_with_its_fields_and_the_quota(env: Env) -> None:
    job_id, status, attempts, items = env.run()
    assert (status, attempts, items, env.rows()) == (JobStatus.COMPLETED, 1, 95, 95)
    row = env.store.query("SELECT * FROM merchant_products WHERE offer_id = 'sku0010'")[0]
    assert (row["name"], row["content_language"], row["feed_label"], row["title"],
            row["price_micros"], row["currency"], row["availability"], row["condition"],
            row["brand"], json.loads(row["gtins"]), row["last_job_id"]) == (
        f"accounts/{ACCOUNT}/products/en~US~sku0010", "en", "US", "Product 10", 11_000_000,
        "EUR", "IN_STOCK", "NEW", "Acme", ["4000000000105"], job_id)
    assert (row["data_source"], row["description"], row["sale_price_micros"],
            row["sale_currency"], row["item_group_id"], row["mpn"], row["creation_date"],
            row["last_update_date"], row["google_expiration_date"], row["removed_at"]) == (
        f"accounts/{ACCOUNT}/dataSources/10", "The 10th product.", 9_900_000, "EUR",
        "group-2", "MPN-10", "2025-11-01T08:00:00Z", "2026-01-02T10:30:00Z",
        "2026-02-01T08:00:00Z", None)
    assert json.loads(row["product_types"]) == ["Home > Kitchen", "Home > Kitchen > Type 1"]
    assert json.loads(row["custom_attributes"])[1] == {
        "name": "bundle", "groupValues": [{"name": "size", "value": "10"}]}
    assert [i["code"] for i in json.loads(row["issues"])] == ["missing_shipping"]
    assert json.loads(row["raw"]) == product(ACCOUNT, 10)  # every field, as Google sent it
    assert env.page_requests() == list(range(10))
    # One quota-service call and ten pages, counted under the account with the service's limits.
    [line] = quota_lines(env.store, env.clock.now())
    assert (line.api, line.scope, line.minute_used, line.minute_limit, line.day_used,
            line.day_limit, line.counted_by) == (
        "merchant", f"account:{ACCOUNT}", 11, 300, 120, 100000, "Merchant quota service")
    assert line.ratio == 120 / 100000
    groups = g_store.merchant_groups(env.store)
    assert [(g["name"].rsplit("/", 1)[1], g["usage"], g["daily_limit"]) for g in groups] == [
        ("inputs-write", 0, 50000), ("products-read", 120, 100000)]


def test_destination_statuses_are_queryable_per_reporting_context(env: Env) -> None:
    env.run()
    found = env.store.query(
        "SELECT json_extract(d.value, '$.reportingContext') AS context, c.value AS country, "
        "count(*) AS n FROM merchant_products p, json_each(p.destination_statuses) d, "
        "json_each(json_extract(d.value, '$.disapprovedCountries')) c GROUP BY 1, 2")
    assert [tuple(r) for r in found] == [("SHOPPING_ADS", "US", 10)]  # every tenth product
    pending = env.store.scalar(
        "SELECT count(*) FROM merchant_products p, json_each(p.destination_statuses) d "
        "WHERE json_extract(d.value, '$.reportingContext') = 'SHOPPING_ADS' AND "
        "json_array_length(json_extract(d.value, '$.pendingCountries')) > 0")
    assert pending == 32 - 4  # offers 0, 3, ..., 93 wait for CA; every tenth is disapproved


def test_products_no_longer_listed_are_marked_removed_never_deleted(env: Env) -> None:
    first_id, *_ = env.run()
    listing = env.apis.listing(ACCOUNT)
    gone = listing.products[5:8]
    listing.products = listing.products[:5] + listing.products[8:]
    second_id, status, _, items = env.run()
    assert (status, items, env.rows()) == (JobStatus.COMPLETED, 92, 95)
    removed = env.store.query("SELECT offer_id, removed_at, removed_job_id FROM "
                              "merchant_products WHERE removed_at IS NOT NULL ORDER BY 1")
    assert [(r["offer_id"], r["removed_job_id"]) for r in removed] == [
        (p["offerId"], second_id) for p in gone]
    job = job_store.get_job(env.store, second_id)
    assert job is not None and job.result is not None and job.result["removed"] == 3
    # Listed again: back, not removed any more.
    listing.products.insert(5, gone[0])
    env.run()
    assert env.store.scalar("SELECT count(*) FROM merchant_products WHERE removed_at IS NOT "
                            "NULL") == 2


def test_a_failed_listing_marks_nothing_removed(env: Env) -> None:
    env.run()
    env.apis.listing(ACCOUNT).products.pop(0)
    env.apis.fail("merchant", 3, *[server_error()] * 9)
    job_id, status, _, _ = env.run()
    assert status is JobStatus.FAILED
    assert env.store.scalar("SELECT count(*) FROM merchant_products WHERE removed_at IS NOT "
                            "NULL") == 0


def test_rerun_is_idempotent(env: Env) -> None:
    first = env.run()
    second = env.run()
    assert (first[1:], second[1:]) == (((JobStatus.COMPLETED, 1, 95),) * 2)
    assert env.rows() == 95
    assert env.store.scalar("SELECT count(DISTINCT last_job_id) FROM merchant_products") == 1


def test_429_mid_paging_resumes_at_that_page_without_losing_rows(env: Env) -> None:
    env.apis.fail("merchant", 4, *[rate_limited(retry_delay="7s")] * 3)
    job_id, status, attempts, items = env.run()
    assert (status, attempts, items, env.rows()) == (JobStatus.COMPLETED, 2, 95, 95)
    # Two request retries after the body's RetryInfo (7 s), then the job retry waits it too.
    assert env.clock.sleeps == [7.0, 7.0, 7.0]
    assert env.page_requests() == [0, 1, 2, 3, 4, 4, 4, 4, 5, 6, 7, 8, 9]
    attempts_ = job_store.attempts_of(env.store, job_id)
    assert [(a.outcome.value, a.error.error_class if a.error else None) for a in attempts_] == [
        ("failed", "rate_limited"), ("completed", None)]
    [line] = quota_lines(env.store, env.clock.now())
    # 2 quota calls + 13 product requests, retries included; no rate-limit headers invented.
    assert (line.own_day_used, line.headers) == (15, None)


def test_a_429_without_retry_info_waits_the_configured_backoff(env: Env) -> None:
    env.config.retry.initial_delay = 2.0
    env.apis.fail("merchant", 2, rate_limited())
    runner = Runner(env.store, env.config, env.clock, EventBus(), rng=lambda: 0.5)
    job = runner.submit_and_run(SPEC)
    assert (job.status, job.items) == (JobStatus.COMPLETED, 95)
    assert env.clock.sleeps == [1.0]  # full jitter: 0.5 x 2 s


def test_one_429_is_retried_by_the_request_layer(env: Env) -> None:
    env.apis.fail("merchant", 2, rate_limited(retry_delay="3s"))
    assert env.run()[1:] == (JobStatus.COMPLETED, 1, 95)
    assert env.clock.sleeps == [3.0]


def test_500s_are_retried_and_a_failed_job_resumes(env: Env) -> None:
    env.apis.fail("merchant", 1, server_error(), server_error(503))
    env.apis.fail("merchant", 6, *[server_error()] * 3)
    job_id, status, attempts, items = env.run()
    assert (status, attempts, items, env.rows()) == (JobStatus.COMPLETED, 2, 95, 95)
    assert env.page_requests().count(0) == 1
    assert env.page_requests().count(6) == 4


def test_401_is_an_auth_error_and_dead_letters(env: Env) -> None:
    env.apis.fail("merchant", 3, unauthorized(), unauthorized())
    job_id, status, attempts, items = env.run()
    assert (status, attempts, env.rows()) == (JobStatus.FAILED, 1, 30)
    [letter] = dl_store.list_letters(env.store, dl_store.LetterFilter())
    assert (letter.job_id, letter.error_class) == (job_id, "auth")
    assert "UNAUTHENTICATED" in (letter.error_message or "")


def test_malformed_json_is_a_data_error(env: Env) -> None:
    env.apis.fail("merchant", 2, malformed())
    job_id, status, attempts, _ = env.run()
    assert (status, attempts, env.rows()) == (JobStatus.FAILED, 1, 20)
    assert job_store.get_job(env.store, job_id).error.error_class == "data"  # type: ignore[union-attr]


def test_daily_quota_failure_defers_to_the_reset_and_resumes(env: Env) -> None:
    env.apis.fail("merchant", 5, daily_quota_failure(f"accounts/{ACCOUNT}"))
    job_id, status, attempts, _ = env.run()
    job = job_store.get_job(env.store, job_id)
    assert job is not None
    reset = next_utc_noon(START)
    assert (status, attempts, env.rows()) == (JobStatus.RETRYING, 0, 50)
    assert (job.error.error_class if job.error else None, job.next_attempt_at) == (
        "quota_exhausted", to_iso(reset))
    assert env.clock.sleeps == []  # never waited inline for a quota reset, never retried
    assert env.page_requests() == [0, 1, 2, 3, 4, 5]
    env.clock.current = reset
    [done] = env.runner().run_due()
    assert (done.status, done.attempts, done.items, env.rows()) == (JobStatus.COMPLETED, 1,
                                                                     95, 95)
    assert env.page_requests().count(0) == 1


def test_limiter_waits_per_minute_and_defers_when_the_local_day_is_spent(env: Env) -> None:
    env.apis.quota_answer = Response(404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}',
                                     JSON)
    env.config.google.merchant_qpm = 3
    assert env.run()[1:] == (JobStatus.COMPLETED, 1, 95)
    # 11 requests, three a minute: the limiter slept into three new minutes.
    assert env.clock.sleeps == [60.0, 60.0, 60.0]
    env.config.google.merchant_qpd = 15
    env.clock.sleeps.clear()
    job_id, status, attempts, _ = env.run()
    job = job_store.get_job(env.store, job_id)
    assert job is not None and job.error is not None
    assert (status, attempts, job.error.error_class) == (JobStatus.RETRYING, 0,
                                                         "quota_exhausted")
    assert job.next_attempt_at == to_iso(next_utc_noon(env.clock.now()))
    # 11 requests of the first job + the quota call and 3 pages of this one = 15.
    assert env.store.scalar("SELECT count(*) FROM merchant_products WHERE last_job_id = ?",
                            (job_id,)) == 30


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


def _service_account(env: Env, tmp_path: Path, key: rsa.RSAPrivateKey,
                     expires_in: int) -> FakeTokenServer:
    tokens = FakeTokenServer(key, env.clock, expires_in=expires_in)
    tokens.server.__enter__()
    path = write_key_file(tmp_path / "sa.json", key, tokens.token_uri)
    os.chmod(path, 0o600)
    env.config.google.access_token_env = ""
    env.config.google.service_account_file = str(path)
    env.apis.tokens = tokens.scopes
    return tokens


def test_token_expiring_during_a_long_import_is_refreshed(env: Env, tmp_path: Path,
                                                          key: rsa.RSAPrivateKey) -> None:
    tokens = _service_account(env, tmp_path, key, expires_in=420)
    try:
        env.apis.quota_answer = Response(404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}',
                                     JSON)
        env.config.google.merchant_qpm = 2  # the import takes five minutes of fake time
        assert env.run()[1:] == (JobStatus.COMPLETED, 1, 95)
        assert env.rows() == 95
        # Refreshed five minutes before each expiry: at 0 s, 120 s and 240 s.
        assert [c["iat"] for c in tokens.claims] == [
            int(START.timestamp()) + s for s in (0, 120, 240)]
        assert env.store.scalar("SELECT count(*) FROM google_tokens") == 1
        [line] = [q for q in quota_lines(env.store, env.clock.now()) if q.scope.startswith("user")]
        assert line.day_used == 11
    finally:
        tokens.server.__exit__()


def test_token_revoked_mid_import_is_exchanged_again_once(env: Env, tmp_path: Path,
                                                          key: rsa.RSAPrivateKey) -> None:
    tokens = _service_account(env, tmp_path, key, expires_in=3600)
    try:
        env.apis.fail("merchant", 5, unauthorized())
        assert env.run()[1:] == (JobStatus.COMPLETED, 1, 95)
        assert (len(tokens.claims), env.rows()) == (2, 95)
        assert env.page_requests().count(5) == 2
    finally:
        tokens.server.__exit__()


def test_quota_levels_are_reported_after_each_attempt(env: Env) -> None:
    from ingestctl.events import Event, EventKind

    env.apis.quota_answer = Response(404, b'{"error": {"code": 404, "status": "NOT_FOUND"}}',
                                     JSON)
    env.config.google.merchant_qpd = 13  # 11 requests: 85 % of the local day budget
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append, [EventKind.QUOTA_LEVEL])
    Runner(env.store, env.config, env.clock, bus).submit_and_run(SPEC)
    assert [(e.data["scope"], e.data["level"], e.data["used"], e.data["limit"],
             e.data["threshold"]) for e in seen] == [
        (f"account:{ACCOUNT}", "warning", 11, 13, 0.8)]
