"""`ingestctl run merchant`, `quota`, `health` and `metrics` as users run them, against the
enforcing fakes: exit codes, exact error lines, the store after each, and quota levels that
take Merchant's own quota service into account."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import ingestctl.clock
from ingestctl.clock import FakeClock, from_iso
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.store import Store
from tests.cli import invoke, run_cli, spawn_env
from tests.fakes.google_apis import (
    FakeGoogleApis,
    daily_quota_failure,
    echoing_error,
    unauthorized,
)
from tests.fakes.google_token import FakeTokenServer, new_key, token_error, write_key_file
from tests.httpserver import Response

ACCOUNT = "778899"
# Subprocesses must import this checkout, not whichever one is installed.
ROOT = str(Path(__file__).resolve().parents[1])


def jobs_json(home: Path) -> list[dict[str, Any]]:
    """``jobs list --json``, in-process."""
    result = invoke("jobs", "list", "--json")
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def show(job_id: int) -> dict[str, Any]:
    result = invoke("jobs", "show", str(job_id), "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis(products=42)
    with fake:
        yield fake
    assert fake.rejections == []


def google_env(apis: FakeGoogleApis, **extra: str) -> dict[str, str]:
    return {"INGESTCTL_GOOGLE__MERCHANT_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "GTOKEN",
            "INGESTCTL_GOOGLE__MERCHANT_PAGE_SIZE": "10",
            "INGESTCTL_RETRY__INITIAL_DELAY": "0s",
            "GTOKEN": "static-token", **extra}


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    with Store(home / "ingestctl.db") as store:
        return [tuple(r) for r in store.query(sql)]


def test_missing_credentials_exit_78_before_any_job(home: Path) -> None:
    result = invoke("run", "merchant", "--account", ACCOUNT)
    assert result.exit_code == 78
    assert result.stderr == (
        "ingestctl: error: config error: google.service_account_file: no Google credentials "
        "configured; set [google] service_account_file to a service-account JSON key file, "
        "or access_token_env to a variable holding an access token\n")
    assert jobs_json(home) == []


def test_unreadable_key_file_and_unset_token_variable_exit_78(home: Path) -> None:
    result = invoke("run", "search-console", "--site", "sc-domain:x.example",
                    env={"INGESTCTL_GOOGLE__SERVICE_ACCOUNT_FILE": str(home / "nope.json")})
    assert result.exit_code == 78
    assert result.stderr.startswith(f"ingestctl: error: config error: {home / 'nope.json'}: "
                                    "google.service_account_file: service-account key file "
                                    "not found;")
    result = invoke("run", "merchant", "--account", ACCOUNT,
                    env={"INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "UNSET_GTOKEN"})
    assert (result.exit_code, result.stderr) == (78, (
        "ingestctl: error: config error: google.access_token_env: environment variable "
        "UNSET_GTOKEN is not set or empty; export UNSET_GTOKEN=<access token>\n"))


@pytest.mark.parametrize(("args", "line"), [
    (["--start-date", "2026-13-01", "--end-date", "2026-01-05"],
     "--start-date must be a date as YYYY-MM-DD, got '2026-13-01'"),
    (["--start-date", "2026-01-05", "--end-date", "2026-01-01"],
     "--end-date 2026-01-01 is before --start-date 2026-01-05"),
    (["--start-date", "2026-01-05"],
     "give both --start-date and --end-date, or neither (then the days not final in the "
     "store are loaded)"),
    (["--search-type", "shopping"],
     "unknown search type 'shopping'; one of web, image, video, news, discover, googleNews"),
    (["--search-type", "discover", "--dimensions", "date,query"],
     "--dimensions 'date,query': discover data has no query dimension"),
    (["--dimensions", "page,searchAppearance"],
     "--dimensions 'page,searchAppearance': searchAppearance is grouped alone (with date "
     "only); Google answers it in a separate query"),
])
def test_bad_options_are_usage_errors(home: Path, apis: FakeGoogleApis, args: list[str],
                                      line: str) -> None:
    result = invoke("run", "search-console", "--site", "sc-domain:x.example", *args,
                    env=google_env(apis))
    assert (result.exit_code, result.stderr) == (2, f"ingestctl: error: {line}\n")
    assert jobs_json(home) == []


def test_bad_dimension_sets_in_the_config_exit_78(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[imports]]\nname = "news"\nsource = "search-console"\n'
                      'site = "sc-domain:x.example"\nsearch_type = "googleNews"\n'
                      'dimensions = ["date,query"]\n')
    result = invoke("--config", str(config), "config", "check")
    assert (result.exit_code, result.stderr) == (78, (
        f"ingestctl: error: config error: {config}: imports[0].dimensions: 'date,query': "
        "googleNews data has no query dimension\n"))


def test_merchant_end_to_end_with_short_pages_statuses_and_removal(
        home: Path, apis: FakeGoogleApis) -> None:
    apis.listing(ACCOUNT).short = {1: 4, 2: 0}  # Google may answer fewer, even none
    env = google_env(apis)
    result = invoke("run", "merchant", "--account", ACCOUNT, env=env)
    assert (result.exit_code, result.stdout) == (0, (
        f"job 1 completed: 42 products from {ACCOUNT} (merchant:{ACCOUNT}) in 1 attempt(s)\n"))
    assert query(home, "SELECT count(*), count(DISTINCT name) FROM merchant_products") == [
        (42, 42)]
    [(statuses,)] = query(home, "SELECT destination_statuses FROM merchant_products WHERE "
                                "offer_id = 'sku0030'")
    assert json.loads(statuses)[0] == {
        "reportingContext": "SHOPPING_ADS", "approvedCountries": [], "pendingCountries": [],
        "disapprovedCountries": ["US"]}
    # Two products are deleted in Merchant Center: marked removed, never deleted.
    apis.listing(ACCOUNT).products = apis.listing(ACCOUNT).products[2:]
    result = invoke("run", "merchant", "--account", ACCOUNT, env=env)
    assert result.exit_code == 0 and "job 2 completed: 40 products" in result.stdout
    assert query(home, "SELECT offer_id, removed_job_id FROM merchant_products WHERE "
                       "removed_at IS NOT NULL ORDER BY offer_id") == [("sku0000", 2),
                                                                       ("sku0001", 2)]
    assert show(2)["result"]["removed"] == 2


def test_repeated_products_in_one_listing_fire_duplicate_keys(home: Path,
                                                               apis: FakeGoogleApis) -> None:
    listing = apis.listing(ACCOUNT)
    listing.products = listing.products[:12] + listing.products[10:12] + listing.products[12:]
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    assert result.exit_code == 0, result.stderr
    assert "42 products" in result.stdout
    [violation] = show(1)["quality"]
    assert (violation["rule"], violation["severity"], violation["observed"]) == (
        "duplicate_keys", "warning", 2)
    assert violation["message"].startswith(
        "2 items repeat a natural key already seen in this import")


def test_quota_level_is_the_quota_services_count_when_higher(home: Path,
                                                             apis: FakeGoogleApis) -> None:
    apis.quota_usage = 96_000  # other clients spent most of the products-read group today
    assert invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis)).exit_code == 0
    report = json.loads(invoke("quota", "--json").stdout)
    [line] = report["quotas"]
    assert (line["scope"], line["day"]["used"], line["day"]["limit"], line["day"]["counted_by"],
            line["day"]["ingestctl_used"], line["ratio"]) == (
        f"account:{ACCOUNT}", 96_000, 100_000, "Merchant quota service", 6, 0.96)
    table = invoke("quota")
    assert "(96%) per Merchant quota service" in table.stdout
    health = invoke("health", "--format", "nagios")
    assert health.exit_code == 2  # CRITICAL at 95 %
    assert (f"merchant quota for account:{ACCOUNT} 96% used (as counted by the Merchant "
            "quota service)") in health.stdout
    metrics = invoke("metrics").stdout
    assert (f'ingestctl_api_quota_used_ratio{{api="merchant",scope="account:{ACCOUNT}"}} 0.96'
            in metrics)
    # Below ingestctl's own count the service's figure is not taken.
    apis.quota_usage = 1
    assert invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis)).exit_code == 0
    [line] = json.loads(invoke("quota", "--json").stdout)["quotas"]
    assert (line["day"]["used"], line["day"]["counted_by"]) == (12, "ingestctl")


def test_401_dead_letters_with_exit_1(home: Path, apis: FakeGoogleApis) -> None:
    apis.fail("merchant", 2, unauthorized(), unauthorized())
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    assert result.exit_code == 1
    assert result.stderr.startswith("ingestctl: error: job 1 failed after 1 attempt(s): auth: "
                                    "auth failed: HTTP 401 UNAUTHENTICATED (authError)")
    assert query(home, "SELECT count(*) FROM merchant_products") == [(20,)]
    [job] = jobs_json(home)
    assert (job["status"], job["error"]["class"]) == ("failed", "auth")


def test_daily_quota_failure_defers_with_exit_75(home: Path, apis: FakeGoogleApis) -> None:
    apis.fail("merchant", 3, daily_quota_failure(f"accounts/{ACCOUNT}"))
    before = next_utc_noon(datetime.now(UTC))
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    after = next_utc_noon(datetime.now(UTC))
    assert result.exit_code == 75
    assert result.stderr.startswith("ingestctl: error: job 1 deferred until ")
    assert "(quota_exhausted: daily quota exhausted: HTTP 429 RESOURCE_EXHAUSTED" in \
        result.stderr
    [job] = jobs_json(home)
    assert (job["status"], job["attempts"], job["error"]["class"]) == (
        "retrying", 0, "quota_exhausted")
    assert from_iso(job["next_attempt_at"]) in (before, after)
    assert query(home, "SELECT count(*) FROM merchant_products") == [(30,)]
    assert apis.count("/products/v1/") == 4  # the QuotaFailure was not retried


def test_a_token_echoed_by_google_never_reaches_errors_logs_or_alerts(
        home: Path, apis: FakeGoogleApis) -> None:
    apis.fail("merchant", 1, echoing_error("static-token"))
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    assert result.exit_code == 1
    assert "Authorization: [redacted]" in result.stderr
    shown = [result.stdout, result.stderr, invoke("jobs", "show", "1", "--json").stdout,
             invoke("dlq", "list", "--json").stdout, invoke("alerts", "list", "--json").stdout]
    for path in home.rglob("*"):
        if path.is_file():
            shown.append(path.read_bytes().decode("latin-1"))
    assert len(shown) > 6 and all("static-token" not in text for text in shown)


def test_token_endpoint_408_and_temporarily_unavailable_are_retried(
        home: Path, apis: FakeGoogleApis, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(ingestctl.clock, "SYSTEM", fake)
    key = new_key()
    tokens = FakeTokenServer(key, fake)
    tokens.answers = [Response(408, b""), token_error(400, "temporarily_unavailable")]
    apis.tokens = tokens.scopes
    with tokens.server:
        # The key file names Google's endpoint; the config points at the fake one.
        path = write_key_file(home.parent / "sa.json", key,
                              "https://oauth2.googleapis.com/token")
        path.chmod(0o600)
        env = {**google_env(apis), "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "",
               "INGESTCTL_GOOGLE__SERVICE_ACCOUNT_FILE": str(path),
               "INGESTCTL_GOOGLE__TOKEN_URI": tokens.token_uri}
        result = invoke("run", "merchant", "--account", ACCOUNT, env=env)
    assert result.exit_code == 0, result.stderr
    assert len(tokens.server.requests) == 3 and len(tokens.claims) == 1
    # google-auth's waits: 1 s then 2 s, each +-10 %.
    assert fake.sleeps == [pytest.approx(1.0, abs=0.1), pytest.approx(2.0, abs=0.2)]


def test_quota_command_reads_the_store_without_httpx(home: Path, apis: FakeGoogleApis) -> None:
    assert invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis)).exit_code == 0
    code = ("import sys, json\n"
            "from ingestctl.cli.app import app\n"
            "try:\n"
            "    app(['quota', '--json'], prog_name='ingestctl')\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = [m for m in ('httpx', 'lxml', 'tenacity', 'google.auth') "
            "if m in sys.modules]\n"
            "print(json.dumps(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=spawn_env(home, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *report, heavy = proc.stdout.strip().splitlines()
    assert json.loads(heavy) == []
    day = json.loads("\n".join(report))["quotas"][0]["day"]
    assert (day["used"], day["ingestctl_used"]) == (120, 6)  # the service counted more
    proc = run_cli(home, "quota", PYTHONPATH=ROOT)
    assert proc.returncode == 0 and f"account:{ACCOUNT}" in proc.stdout

