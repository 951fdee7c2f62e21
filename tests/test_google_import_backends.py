"""`ingestctl run merchant` and `run search-console` as subprocesses against the enforcing
fakes, on SQLite and on PostgreSQL (``INGESTCTL_DB_URL``): the same lines printed, the same
rows stored, whichever way the rows went in (upserts on SQLite, COPY and a merge on
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ingestctl.sources.google.errors import PACIFIC
from tests.backends import Backend
from tests.cli import run_cli
from tests.fakes.google_apis import FakeGoogleApis

ACCOUNT = "556677"
SITE = "sc-domain:example.com"
TODAY = datetime.now(PACIFIC).date()
CONFIG = f"""
[[imports]]
name = "web"
source = "search-console"
site = "{SITE}"
"""


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis(products=42)
    fake.add_search_data(SITE, TODAY - timedelta(days=20), 21, 12)
    fake.analytics.first_incomplete = TODAY - timedelta(days=2)
    with fake:
        yield fake
    assert fake.rejections == []


def _env(apis: FakeGoogleApis, backend: Backend) -> dict[str, str]:
    return {"INGESTCTL_GOOGLE__MERCHANT_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "GTOKEN",
            "INGESTCTL_GOOGLE__MERCHANT_PAGE_SIZE": "10",
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_FIRST_RUN_DAYS": "3",
            "INGESTCTL_RETRY__INITIAL_DELAY": "0s", "GTOKEN": "static-token", **backend.env}


def test_merchant_products_land_in_the_store_of_either_backend(
        home: Path, apis: FakeGoogleApis, backend: Backend) -> None:
    listing = apis.listing(ACCOUNT)
    # Page 2 lists two products twice: each is stored once, with its last listing.
    listing.products = listing.products[:12] + listing.products[10:12] + listing.products[12:]
    env = _env(apis, backend)
    done = run_cli(home, "run", "merchant", "--account", ACCOUNT, **env)
    assert (done.returncode, done.stdout) == (0, (
        f"job 1 completed with warnings: 42 products from {ACCOUNT} (merchant:{ACCOUNT}) in 1 "
        "attempt(s); quality: duplicate_keys (2)\n")
    ), done.stderr
    assert backend.query("SELECT count(*), count(DISTINCT name), min(price_micros), "
                         "max(price_micros), sum(CASE WHEN issues <> '[]' THEN 1 ELSE 0 END) "
                         "FROM merchant_products") == [(42, 42, 1_000_000, 42_000_000, 5)]
    assert backend.query("SELECT title, brand, last_job_id FROM merchant_products WHERE "
                         "offer_id = 'sku0011'") == [("Product 11", "Acme", 1)]
    # Two products deleted in Merchant Center are marked removed by the next run.
    listing.products = listing.products[2:]
    again = run_cli(home, "run", "merchant", "--account", ACCOUNT, **env)
    assert again.returncode == 0 and " 40 products from " in again.stdout, again.stderr
    assert backend.query("SELECT offer_id, removed_job_id FROM merchant_products WHERE "
                         "removed_at IS NOT NULL ORDER BY offer_id") == [("sku0000", 2),
                                                                         ("sku0001", 2)]
    if backend.name == "postgres":
        # Nothing was written to a SQLite file beside the home.
        assert not (home / "ingestctl.db").exists()


def test_search_analytics_land_in_the_store_of_either_backend(
        home: Path, tmp_path: Path, apis: FakeGoogleApis, backend: Backend) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(CONFIG)
    env = _env(apis, backend)
    done = run_cli(home, "--config", str(config), "run", "web", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"job 1 completed: {6 * 13:,} rows from {SITE} (web)")
    assert backend.query("SELECT dimensions, count(*), count(DISTINCT date), "
                         "sum(CASE WHEN data_state = 'final' THEN 1 ELSE 0 END) "
                         "FROM search_analytics GROUP BY dimensions ORDER BY dimensions") == [
        ("date", 6, 6, 3), ("date,query,page,country,device", 72, 6, 36)]
    # Property totals equal the sum of their detail rows, as the API computed them.
    [(totals, details)] = backend.query(
        "SELECT sum(impressions) FILTER (WHERE dimensions = 'date'), "
        "sum(impressions) FILTER (WHERE dimensions <> 'date') FROM search_analytics")
    assert totals == details > 0
    # A second run reloads the provisional days: the row count stays.
    again = run_cli(home, "--config", str(config), "run", "web", **env)
    assert again.returncode == 0, again.stderr
    assert backend.query("SELECT count(*) FROM search_analytics") == [(78,)]
