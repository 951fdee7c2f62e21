"""Client-side quota: limits from config, exact per-minute waits, daily budget deferral."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import GoogleConfig
from ingestctl.config_file import load_config
from ingestctl.errors import QuotaExhaustedError
from ingestctl.sources.google.limits import (
    MERCHANT,
    SEARCH_CONSOLE,
    ApiLimits,
    ClientRateLimiter,
    MemoryQuotaCounter,
    QuotaLimits,
    ScopeLimit,
    group_for_method,
    parse_quota_groups,
)

SITE = {"site": "sc-domain:example.com"}


def limiter(limits: QuotaLimits, start: datetime) -> tuple[ClientRateLimiter, FakeClock,
                                                             MemoryQuotaCounter]:
    clock = FakeClock(start)
    counter = MemoryQuotaCounter()
    return ClientRateLimiter(counter, limits, clock, clock.sleep), clock, counter


def test_search_console_defaults_are_googles_published_quotas() -> None:
    limits = QuotaLimits.from_config(GoogleConfig()).for_api(SEARCH_CONSOLE)
    assert limits.limit("site") == ScopeLimit("site", 1200, 0)
    assert limits.limit("user") == ScopeLimit("user", 1200, 0)
    assert limits.limit("project") == ScopeLimit("project", 40000, 30_000_000)
    merchant = QuotaLimits.from_config(GoogleConfig()).for_api(MERCHANT)
    assert merchant.limit("account") == ScopeLimit("account", 60, 0)


def test_limits_come_from_the_config_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text("[google]\nsearch_console_qpm_site = 5\nmerchant_qpd = 1000\n"
                    "project_id = \"p1\"\n")
    config = load_config(path, environ={})
    limits = QuotaLimits.from_config(config.google)
    assert limits.for_api(SEARCH_CONSOLE).limit("site") == ScopeLimit("site", 5, 0)
    assert limits.for_api(MERCHANT).limit("account") == ScopeLimit("account", 60, 1000)
    assert config.google.project_id == "p1"


def test_minute_budget_waits_exactly_until_the_next_minute() -> None:
    cfg = GoogleConfig(search_console_qpm_site=3)
    rl, clock, counter = limiter(QuotaLimits.from_config(cfg),
                                 datetime(2026, 1, 1, 10, 0, 15, tzinfo=UTC))
    for _ in range(3):
        rl.acquire(SEARCH_CONSOLE, SITE)
        clock.advance(5)
    assert clock.sleeps == []
    rl.acquire(SEARCH_CONSOLE, SITE)  # 10:00:30, budget spent: wait 30 s
    assert clock.sleeps == [30.0]
    assert clock.now() == datetime(2026, 1, 1, 10, 1, 0, tzinfo=UTC)
    rl.acquire(SEARCH_CONSOLE, SITE)
    rl.acquire(SEARCH_CONSOLE, SITE)
    rl.acquire(SEARCH_CONSOLE, SITE)  # three in 10:01 already
    assert clock.sleeps == [30.0, 60.0]
    assert counter.count(SEARCH_CONSOLE, "site:sc-domain:example.com", clock.now(),
                         clock.now()) == (1, 1)
    assert len(counter.events) == 7


def test_the_tightest_scope_decides_and_every_scope_is_counted() -> None:
    cfg = GoogleConfig(search_console_qpm_site=10, search_console_qpm_user=2)
    rl, clock, counter = limiter(QuotaLimits.from_config(cfg),
                                 datetime(2026, 1, 1, 10, 0, 50, 500000, tzinfo=UTC))
    scopes = {**SITE, "user": "sa@p.iam", "project": "p1"}
    rl.acquire(SEARCH_CONSOLE, scopes)
    rl.acquire(SEARCH_CONSOLE, scopes)
    rl.acquire(SEARCH_CONSOLE, scopes)
    assert clock.sleeps == [9.5]
    assert sorted({e[1] for e in counter.events}) == [
        "project:p1", "site:sc-domain:example.com", "user:sa@p.iam"]
    assert len(counter.events) == 9


def test_spent_day_budget_raises_quota_exhausted_with_reset() -> None:
    limits = QuotaLimits({SEARCH_CONSOLE: ApiLimits(SEARCH_CONSOLE, (
        ScopeLimit("project", 0, 2),))})
    rl, clock, _ = limiter(limits, datetime(2026, 1, 1, 7, 30, tzinfo=UTC))  # 23:30 PST
    scopes = {"project": "p1"}
    rl.acquire(SEARCH_CONSOLE, scopes)
    rl.acquire(SEARCH_CONSOLE, scopes)
    with pytest.raises(QuotaExhaustedError) as info:
        rl.acquire(SEARCH_CONSOLE, scopes)
    assert info.value.reset_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert "2/2" in str(info.value)
    clock.advance(30 * 60)  # midnight Pacific: a new quota day
    rl.acquire(SEARCH_CONSOLE, scopes)
    assert clock.sleeps == []


def test_merchant_day_starts_at_noon_utc() -> None:
    cfg = GoogleConfig(merchant_qpm=0, merchant_qpd=1)
    rl, clock, _ = limiter(QuotaLimits.from_config(cfg), datetime(2026, 1, 1, 11, 0,
                                                                   tzinfo=UTC))
    rl.acquire(MERCHANT, {"account": "1"})
    with pytest.raises(QuotaExhaustedError) as info:
        rl.acquire(MERCHANT, {"account": "1"})
    assert info.value.reset_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    clock.advance(3600)
    rl.acquire(MERCHANT, {"account": "1"})


def test_unlimited_and_unnamed_scopes_are_not_counted() -> None:
    rl, clock, counter = limiter(QuotaLimits.from_config(GoogleConfig()),
                                 datetime(2026, 1, 1, tzinfo=UTC))
    rl.acquire(SEARCH_CONSOLE, {"site": "s", "project": ""})
    rl.acquire("other-api", {"x": "y"})
    assert [(e[0], e[1]) for e in counter.events] == [
        (SEARCH_CONSOLE, "site:s"), ("other-api", "x:y")]


def test_quota_groups_parse_int64_strings_and_tolerate_junk() -> None:
    groups = parse_quota_groups({"quotaGroups": [
        {"name": "accounts/1/quotas/a", "quotaUsage": "5", "quotaLimit": "900",
         "quotaMinuteLimit": "30", "methodDetails": [{"method": "products.get"}]},
        {"name": "accounts/1/quotas/b", "quotaLimit": "bad",
         "methodDetails": [{"method": "products.list"}]},
        "junk"]})
    assert [(g.name, g.usage, g.daily_limit, g.minute_limit) for g in groups] == [
        ("accounts/1/quotas/a", 5, 900, 30), ("accounts/1/quotas/b", 0, 0, 0)]
    found = group_for_method(groups)
    assert found is not None and found.name == "accounts/1/quotas/b"
    assert group_for_method(groups, "productInputs.insert") is None
    assert parse_quota_groups({}) == [] and parse_quota_groups(None) == []
