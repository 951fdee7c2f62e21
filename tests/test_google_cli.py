"""`ingestctl run merchant/search-console` and `ingestctl quota` as users run them: exit codes,
exact error lines, the store after each, and the quota view of the counted requests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import from_iso
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.store import Store
from tests.cli import invoke, run_cli, spawn_env
from tests.fakes.google_apis import FakeGoogleApis, daily_quota_429, unauthorized

ACCOUNT = "778899"
# Subprocesses must import this checkout, not whichever one is installed.
ROOT = str(Path(__file__).resolve().parents[1])


def jobs_json(home: Path) -> list[dict[str, Any]]:
    """``jobs list --json``, in-process."""
    result = invoke("jobs", "list", "--json")
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


@pytest.fixture
def apis() -> Iterator[FakeGoogleApis]:
    fake = FakeGoogleApis(products=42, rows=57)
    with fake.server:
        yield fake


def google_env(apis: FakeGoogleApis) -> dict[str, str]:
    return {"INGESTCTL_GOOGLE__MERCHANT_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_BASE_URL": apis.base,
            "INGESTCTL_GOOGLE__ACCESS_TOKEN_ENV": "GTOKEN",
            "INGESTCTL_GOOGLE__MERCHANT_PAGE_SIZE": "10",
            "INGESTCTL_GOOGLE__SEARCH_CONSOLE_ROW_LIMIT": "20",
            "GTOKEN": "static-token"}


def count(home: Path, table: str) -> int:
    with Store(home / "ingestctl.db") as store:
        return int(store.scalar(f"SELECT count(*) FROM {table}"))


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
     "give both --start-date and --end-date, or neither (then the days since the last "
     "import are loaded)"),
])
def test_bad_dates_are_usage_errors(home: Path, apis: FakeGoogleApis, args: list[str],
                                    line: str) -> None:
    result = invoke("run", "search-console", "--site", "sc-domain:x.example", *args,
                    env=google_env(apis))
    assert (result.exit_code, result.stderr) == (2, f"ingestctl: error: {line}\n")
    assert jobs_json(home) == []


def test_merchant_and_search_console_end_to_end_then_quota(home: Path,
                                                          apis: FakeGoogleApis) -> None:
    env = google_env(apis)
    result = invoke("run", "merchant", "--account", ACCOUNT, env=env)
    assert (result.exit_code, result.stdout) == (0, (
        f"job 1 completed: 42 items from {ACCOUNT} (merchant:{ACCOUNT}) in 1 attempt(s)\n"))
    result = invoke("run", "search-console", "--site", "sc-domain:x.example", "--start-date",
                    "2026-01-01", "--end-date", "2026-01-07", env=env)
    assert result.exit_code == 0, result.stderr
    assert (count(home, "merchant_products"), count(home, "search_analytics")) == (42, 57)
    # Idempotent: the same import again leaves the same rows.
    assert invoke("run", "merchant", "--account", ACCOUNT, env=env).exit_code == 0
    assert count(home, "merchant_products") == 42
    result = invoke("quota", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    used = {(q["api"], q["scope"]): (q["day"]["used"], q["day"]["limit"])
            for q in report["quotas"]}
    # Merchant: 2 x (quota call + 5 pages); Search Console: 3 pages (20 + 20 + 17 rows,
    # the short page is the last).
    assert used == {("merchant", f"account:{ACCOUNT}"): (12, 100000),
                    ("search-console", "site:sc-domain:x.example"): (3, None)}
    assert [g["name"] for g in report["merchant_quota_groups"]] == [
        f"accounts/{ACCOUNT}/quotas/inputs-write", f"accounts/{ACCOUNT}/quotas/products-read"]
    table = invoke("quota")
    assert table.exit_code == 0
    assert f"account:{ACCOUNT}" in table.stdout and "12/100,000" in table.stdout
    # The token is a secret: never in output or the log.
    log = (home / "logs" / "ingestctl.jsonl").read_text()
    assert "static-token" not in log + table.stdout + result.stdout


def test_401_dead_letters_with_exit_1(home: Path, apis: FakeGoogleApis) -> None:
    apis.fail("merchant", 2, unauthorized(), unauthorized())
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    assert result.exit_code == 1
    assert result.stderr.startswith("ingestctl: error: job 1 failed after 1 attempt(s): auth: "
                                    "auth failed: HTTP 401 UNAUTHENTICATED (authError)")
    assert count(home, "merchant_products") == 20
    [job] = jobs_json(home)
    assert (job["status"], job["error"]["class"]) == ("failed", "auth")


def test_daily_quota_defers_with_exit_75(home: Path, apis: FakeGoogleApis) -> None:
    apis.fail("merchant", 3, daily_quota_429())
    before = next_utc_noon(datetime.now(UTC))
    result = invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis))
    after = next_utc_noon(datetime.now(UTC))
    assert result.exit_code == 75
    assert result.stderr.startswith("ingestctl: error: job 1 deferred until ")
    [job] = jobs_json(home)
    assert (job["status"], job["attempts"], job["error"]["class"]) == (
        "retrying", 0, "quota_exhausted")
    assert from_iso(job["next_attempt_at"]) in (before, after)
    assert count(home, "merchant_products") == 30


def test_quota_command_reads_the_store_without_httpx(home: Path, apis: FakeGoogleApis) -> None:
    assert invoke("run", "merchant", "--account", ACCOUNT, env=google_env(apis)).exit_code == 0
    code = ("import sys, json\n"
            "from ingestctl.cli import app\n"
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
    assert json.loads("\n".join(report))["quotas"][0]["day"]["used"] == 6
    proc = run_cli(home, "quota", PYTHONPATH=ROOT)
    assert proc.returncode == 0 and f"account:{ACCOUNT}" in proc.stdout
