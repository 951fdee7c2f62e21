"""Client-side quota: limits per API and scope, a counter seam, and a limiter that waits or defers.

Scopes are ``kind:value`` strings such as ``site:sc-domain:example.com``, ``user:sa@p.iam``,
``project:my-project`` or ``account:123``. Minutes are calendar minutes (a fixed window, like
Google's per-minute buckets); days start when the API's quota resets (midnight Pacific for
Search Console and Cloud projects, 12:00 UTC for the Merchant API).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from ingestctl.clock import Clock
from ingestctl.config import GoogleConfig
from ingestctl.errors import QuotaExhaustedError
from ingestctl.sources.google.errors import (
    last_pacific_midnight,
    last_utc_noon,
    next_pacific_midnight,
    next_utc_noon,
)

MERCHANT = "merchant"
SEARCH_CONSOLE = "search-console"
MERCHANT_LIST_METHOD = "products.list"


class QuotaCounter(Protocol):
    """Counts requests per API and scope; the store implements it in SQLite."""

    def count(self, api: str, scope: str, minute_start: datetime,
              day_start: datetime) -> tuple[int, int]:
        """Requests made since ``minute_start`` and since ``day_start``."""
        ...

    def add(self, api: str, scope: str, at: datetime, n: int = 1) -> None:
        """Record ``n`` requests made at ``at``."""
        ...


class MemoryQuotaCounter:
    """A QuotaCounter in a list, for tests."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, datetime, int]] = []

    def count(self, api: str, scope: str, minute_start: datetime,
              day_start: datetime) -> tuple[int, int]:
        """Requests made since ``minute_start`` and since ``day_start``."""
        mine = [(at, n) for a, s, at, n in self.events if a == api and s == scope]
        return (sum(n for at, n in mine if at >= minute_start),
                sum(n for at, n in mine if at >= day_start))

    def add(self, api: str, scope: str, at: datetime, n: int = 1) -> None:
        """Record ``n`` requests made at ``at``."""
        self.events.append((api, scope, at, n))


@dataclass(frozen=True)
class ScopeLimit:
    """Requests allowed per minute and per day in one kind of scope; 0 means no local limit."""

    kind: str
    per_minute: int = 0
    per_day: int = 0


@dataclass(frozen=True)
class ApiLimits:
    """The limits of one API and when its quota day starts and ends."""

    api: str
    scopes: tuple[ScopeLimit, ...]
    day_start: Callable[[datetime], datetime] = field(default=last_pacific_midnight)
    day_reset: Callable[[datetime], datetime] = field(default=next_pacific_midnight)

    def limit(self, kind: str) -> ScopeLimit | None:
        """The limit for scopes of ``kind``, if any."""
        return next((s for s in self.scopes if s.kind == kind), None)


@dataclass(frozen=True)
class QuotaLimits:
    """Limits of every Google API ingestctl calls."""

    apis: Mapping[str, ApiLimits]

    @classmethod
    def from_config(cls, config: GoogleConfig) -> QuotaLimits:
        """Limits from ``[google]``; defaults are Google's published Search Console quotas."""
        search_console = ApiLimits(SEARCH_CONSOLE, (
            ScopeLimit("site", config.search_console_qpm_site),
            ScopeLimit("user", config.search_console_qpm_user),
            ScopeLimit("project", config.search_console_qpm_project,
                       config.search_console_qpd_project),
        ))
        merchant = ApiLimits(MERCHANT, (ScopeLimit("account", config.merchant_qpm,
                                                   config.merchant_qpd),),
                             day_start=last_utc_noon, day_reset=next_utc_noon)
        return cls({SEARCH_CONSOLE: search_console, MERCHANT: merchant})

    def for_api(self, api: str) -> ApiLimits:
        """The limits of ``api`` (no limits for an unknown API)."""
        return self.apis.get(api) or ApiLimits(api, ())

    def with_merchant_group(self, group: MerchantQuotaGroup) -> QuotaLimits:
        """These limits with the Merchant account limits the quota service reported."""
        current = self.for_api(MERCHANT)
        account = ScopeLimit("account", group.minute_limit, group.daily_limit)
        others = tuple(s for s in current.scopes if s.kind != "account")
        apis = dict(self.apis)
        apis[MERCHANT] = replace(current, scopes=(account, *others))
        return QuotaLimits(apis)


def scope_key(kind: str, value: str) -> str:
    """The counter's scope string."""
    return f"{kind}:{value}"


class ClientRateLimiter:
    """Keeps requests under per-minute limits by waiting; a spent day budget defers the job."""

    def __init__(self, counter: QuotaCounter, limits: QuotaLimits, clock: Clock,
                 sleep: Callable[[float], None]) -> None:
        self.counter = counter
        self.limits = limits
        self.clock = clock
        self.sleep = sleep

    def acquire(self, api: str, scopes: Mapping[str, str]) -> None:
        """Wait for room in every limited scope of ``api``, then count one request in each."""
        limits = self.limits.for_api(api)
        keys = [(scope_key(kind, value), limits.limit(kind)) for kind, value in scopes.items()
                if value]
        now = self.clock.now()
        while True:
            minute_start = now.replace(second=0, microsecond=0)
            day_start = limits.day_start(now)
            wait_until: datetime | None = None
            for key, limit in keys:
                if limit is None or not (limit.per_minute or limit.per_day):
                    continue
                minute_used, day_used = self.counter.count(api, key, minute_start, day_start)
                if limit.per_day and day_used >= limit.per_day:
                    reset_at = limits.day_reset(now)
                    raise QuotaExhaustedError(
                        f"local daily budget of {api} for {key} is spent "
                        f"({day_used}/{limit.per_day})", reset_at=reset_at,
                        hint=f"deferred until {reset_at.isoformat(timespec='seconds')}")
                if limit.per_minute and minute_used >= limit.per_minute:
                    wait_until = minute_start + timedelta(minutes=1)
            if wait_until is None:
                break
            self.sleep((wait_until - now).total_seconds())
            # Trust the wait even if an injected sleep does not move the clock.
            now = max(self.clock.now(), wait_until)
        for key, _ in keys:
            self.counter.add(api, key, now)


@dataclass(frozen=True)
class MerchantQuotaGroup:
    """One quota group of the Merchant quota service."""

    name: str
    usage: int
    daily_limit: int
    minute_limit: int
    methods: tuple[str, ...]

    @property
    def remaining(self) -> int:
        """Calls left today by Google's own count."""
        return max(0, self.daily_limit - self.usage)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_quota_groups(data: Any) -> list[MerchantQuotaGroup]:
    """The ``quotaGroups`` of a ``quota/v1/accounts/{a}/quotas`` answer (int64s come as text)."""
    groups: list[MerchantQuotaGroup] = []
    items = data.get("quotaGroups") if isinstance(data, dict) else None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        methods = tuple(str(m.get("method", "")) for m in item.get("methodDetails") or []
                        if isinstance(m, dict))
        groups.append(MerchantQuotaGroup(
            name=str(item.get("name", "")), usage=_int(item.get("quotaUsage")),
            daily_limit=_int(item.get("quotaLimit")),
            minute_limit=_int(item.get("quotaMinuteLimit")), methods=methods))
    return groups


def group_for_method(groups: Iterable[MerchantQuotaGroup],
                     method: str = MERCHANT_LIST_METHOD) -> MerchantQuotaGroup | None:
    """The group whose methods include ``method`` (e.g. ``products.list``)."""
    return next((g for g in groups if any(m == method or m.endswith("." + method)
                                           or m.endswith("/" + method) for m in g.methods)),
                None)
