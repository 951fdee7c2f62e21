"""Google API error bodies and rate-limit headers, mapped onto ingestctl's error classes.

Google answers failures with ``{"error": {"code", "status", "message", "errors": [{"reason"}],
"details": [{"@type": ".../google.rpc.ErrorInfo"}, {"@type": ".../google.rpc.QuotaFailure"},
{"@type": ".../google.rpc.RetryInfo"}]}}`` (google/rpc/error_details.proto). The same HTTP
status means different things by reason: Search Console answers a per-minute limit with 403
``rateLimitExceeded`` and a daily one with 403 ``dailyLimitExceeded``, and a quota's window
(per minute, per day) may be named only in ``ErrorInfo.metadata.quota_limit`` or in a
``QuotaFailure`` violation's ``quotaId``/``description``, so the body decides before the
status does. Search Console's "quota exceeded" is the same for every quota, its short-term
load quota included ("wait 15 minutes": developers.google.com/webmaster-tools/limits); with no
window named, it defers the job by ``load_quota``.

Error text is scrubbed of bearer tokens and token parameters before it is kept anywhere:
a server may echo the request's ``Authorization`` header back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingestctl.errors import (
    AuthError,
    DataError,
    IngestError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from ingestctl.redact import redact_credentials

try:
    PACIFIC: Any = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # pragma: no cover - hosts without tz data
    PACIFIC = UTC  # a reset a few hours early only costs one rejected request

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"

RATE_REASONS = frozenset({
    "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED",
    "quota/request_rate_too_high", "concurrentLimitExceeded",
})
DAILY_REASONS = frozenset({
    "dailyLimitExceeded", "dailyLimitExceededUnreg", "quota/daily_limit_exceeded",
})
# Reasons that say "quota" without saying which window; the limit name or message decides.
QUOTA_REASONS = frozenset({"quotaExceeded", "RESOURCE_EXHAUSTED", "limitExceeded"})
AUTH_REASONS = frozenset({
    "authError", "forbidden", "insufficientPermissions", "ACCESS_TOKEN_EXPIRED",
    "CREDENTIALS_MISSING", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "SERVICE_DISABLED",
    "API_KEY_INVALID", "accessNotConfigured", "IAM_PERMISSION_DENIED",
})
TRANSIENT_STATUSES = frozenset({"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED"})
_DAILY_WORDS = re.compile(r"per ?day|daily|perday", re.IGNORECASE)
_MINUTE_WORDS = re.compile(r"per ?minute|perminute|per ?second|persecond", re.IGNORECASE)

DailyReset = Callable[[datetime], datetime]


def next_pacific_midnight(now: datetime) -> datetime:
    """When Google's daily quotas (Search Console, Cloud projects) reset: midnight Pacific."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)


def last_pacific_midnight(now: datetime) -> datetime:
    """The start of the current Pacific quota day."""
    local = now.astimezone(PACIFIC)
    return datetime.combine(local.date(), time(0), tzinfo=PACIFIC).astimezone(UTC)


def next_utc_noon(now: datetime) -> datetime:
    """When Merchant API daily quotas reset: 12:00 UTC (per the quota service docs)."""
    today_noon = datetime.combine(now.astimezone(UTC).date(), time(12), tzinfo=UTC)
    return today_noon if now < today_noon else today_noon + timedelta(days=1)


def last_utc_noon(now: datetime) -> datetime:
    """The start of the current Merchant API quota day."""
    return next_utc_noon(now) - timedelta(days=1)


@dataclass(frozen=True)
class RateLimitHeaders:
    """The rate-limit headers of one response, kept for the quota record."""

    retry_after: float | None = None
    ratelimit: str | None = None
    ratelimit_policy: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset: str | None = None

    @property
    def empty(self) -> bool:
        """True when the response carried none of them."""
        return self == RateLimitHeaders()


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_rate_limit_headers(headers: Mapping[str, str], now: datetime) -> RateLimitHeaders:
    """Pick ``Retry-After``, ``RateLimit``, ``RateLimit-Policy`` and ``X-RateLimit-*``."""
    low = {k.lower(): v for k, v in headers.items()}
    return RateLimitHeaders(
        retry_after=parse_retry_after(low.get("retry-after"), now),
        ratelimit=low.get("ratelimit"),
        ratelimit_policy=low.get("ratelimit-policy"),
        limit=_int_or_none(low.get("x-ratelimit-limit")),
        remaining=_int_or_none(low.get("x-ratelimit-remaining")),
        reset=low.get("x-ratelimit-reset"),
    )


def parse_duration_field(value: Any) -> float | None:
    """A protobuf Duration in JSON (``"30s"``, ``"1.5s"``) or ``{"seconds", "nanos"}``."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    if isinstance(value, Mapping):
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


@dataclass(frozen=True)
class GoogleErrorBody:
    """The parts of a Google error body that decide its class."""

    code: int | None
    status: str
    message: str
    reasons: tuple[str, ...]
    quota_limit: str
    retry_delay: float | None
    #: Quota names and descriptions of QuotaFailure violations (``quotaId``, ``description``).
    violations: tuple[str, ...] = ()


def parse_error_body(body: bytes) -> GoogleErrorBody | None:
    """The Google error in ``body``, or None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    # Batch endpoints wrap errors in a one-element list.
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    reasons: list[str] = []
    for item in error.get("errors") or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            reasons.append(item["reason"])
    quota_limit = ""
    retry_delay: float | None = None
    violations: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = detail.get("@type")
        if kind == ERROR_INFO:
            if isinstance(detail.get("reason"), str):
                reasons.append(detail["reason"])
            metadata = detail.get("metadata") or {}
            if isinstance(metadata, dict):
                quota_limit = str(metadata.get("quota_limit") or metadata.get("quota_metric")
                                  or quota_limit)
        elif kind == RETRY_INFO:
            retry_delay = parse_duration_field(detail.get("retryDelay"))
        elif kind == QUOTA_FAILURE:
            for item in detail.get("violations") or []:
                if isinstance(item, dict):
                    violations.append(" ".join(str(item.get(k) or "") for k in (
                        "quotaId", "quotaMetric", "description")).strip())
    code = error.get("code")
    return GoogleErrorBody(
        code=code if isinstance(code, int) else None,
        status=str(error.get("status") or ""),
        message=redact_credentials(" ".join(str(error.get("message") or "").split()))[:300],
        reasons=tuple(reasons),
        quota_limit=quota_limit,
        retry_delay=retry_delay,
        violations=tuple(violations),
    )


def _is_quota(err: GoogleErrorBody) -> bool:
    return bool((QUOTA_REASONS | RATE_REASONS).intersection(err.reasons) or err.violations
                or err.status == "RESOURCE_EXHAUSTED")


def _window_in(text: str) -> str | None:
    squeezed = text.replace("_", "").replace("-", "")
    if _DAILY_WORDS.search(squeezed) or _DAILY_WORDS.search(text):
        return "day"
    if _MINUTE_WORDS.search(squeezed) or _MINUTE_WORDS.search(text):
        return "minute"
    return None


def quota_window(err: GoogleErrorBody) -> str | None:
    """``"day"`` or ``"minute"`` when the body names the window of a spent quota, else None.

    Reasons decide first, then the quota names (``ErrorInfo`` ``quota_limit``, ``QuotaFailure``
    violations), then a rate reason, then the message's words.
    """
    if DAILY_REASONS.intersection(err.reasons) or "quota/daily_limit_exceeded" in err.message:
        return "day"
    for name in (err.quota_limit, *err.violations):
        if name and (window := _window_in(name)) is not None:
            return window
    if RATE_REASONS.intersection(err.reasons) or "quota/request_rate_too_high" in err.message:
        return "minute"
    return _window_in(err.message) if _is_quota(err) else None


def _describe(status: int, err: GoogleErrorBody) -> str:
    label = " ".join(part for part in (str(status), err.status) if part)
    reasons = f" ({', '.join(dict.fromkeys(err.reasons))})" if err.reasons else ""
    return f"HTTP {label}{reasons}: {err.message}" if err.message else f"HTTP {label}{reasons}"


def google_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str,
    now: datetime,
    daily_reset: DailyReset = next_pacific_midnight,
    load_quota: timedelta | None = None,
) -> IngestError | None:
    """The ingestctl error a Google response means, or None when the body is not a Google error.

    A 2xx whose body is not JSON is a DataError. ``daily_reset`` gives the quota reset time
    (midnight Pacific by default; Merchant passes :func:`next_utc_noon`). ``load_quota`` is
    how long a quota error that names no window defers the job (Search Console's load quota);
    without it such an error is a rate limit.
    """
    if 200 <= status < 300:
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return DataError(f"malformed JSON from Google ({exc})", url=url)
        return None
    err = parse_error_body(body)
    if err is None:
        return None
    text = _describe(status, err)
    retry_after = err.retry_delay
    if retry_after is None:
        retry_after = parse_retry_after(
            {k.lower(): v for k, v in headers.items()}.get("retry-after"), now)
    reasons = set(err.reasons)
    window = quota_window(err)
    if window == "day":
        reset_at = daily_reset(now)
        return QuotaExhaustedError(
            f"daily quota exhausted: {text}", reset_at=reset_at, url=url, status_code=status,
            hint=f"deferred until the quota resets at {reset_at.isoformat(timespec='seconds')}")
    quota = status == 429 or window == "minute" or _is_quota(err)
    if quota and window is None and load_quota is not None:
        reset_at = now + load_quota
        minutes = int(load_quota.total_seconds() // 60)
        return QuotaExhaustedError(
            f"load quota exceeded: {text}", reset_at=reset_at, url=url, status_code=status,
            hint=f"Google asks to wait {minutes} minutes; deferred until "
                 f"{reset_at.isoformat(timespec='seconds')}")
    if quota:
        return RateLimitedError(f"rate limited: {text}", retry_after=retry_after, url=url,
                                status_code=status)
    if (status in (401, 403) or reasons & AUTH_REASONS
            or err.status in ("UNAUTHENTICATED", "PERMISSION_DENIED")):
        hint = ("enable the API for the service account's project"
                if reasons & {"SERVICE_DISABLED", "accessNotConfigured"}
                else "check the credentials and that the service account has access")
        return AuthError(f"auth failed: {text}", url=url, status_code=status, hint=hint)
    if status in (404, 410) or err.status == "NOT_FOUND":
        return NotFoundError(f"not found: {text}", url=url, status_code=status)
    if status >= 500 or err.status in TRANSIENT_STATUSES or "backendError" in reasons:
        return TransientError(f"Google server error: {text}", url=url, status_code=status)
    if status == 400 or err.status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return DataError(f"request rejected: {text}", url=url,
                         hint="check the account, site, dates and options of the import")
    return None


def status_error(status: int, headers: Mapping[str, str], *, url: str,
                 now: datetime) -> IngestError | None:
    """Generic mapping of a non-Google error status; stands in for the shared HTTP layer."""
    if 200 <= status < 300:
        return None
    if status == 429:
        retry_after = parse_retry_after(
            {k.lower(): v for k, v in headers.items()}.get("retry-after"), now)
        return RateLimitedError(f"rate limited: HTTP {status}", retry_after=retry_after,
                                url=url, status_code=status)
    if status in (401, 403):
        return AuthError(f"auth failed: HTTP {status}", url=url, status_code=status)
    if status in (404, 410):
        return NotFoundError(f"not found: HTTP {status}", url=url, status_code=status)
    if status >= 500 or status == 408:
        return TransientError(f"server error: HTTP {status}", url=url, status_code=status)
    return DataError(f"unexpected HTTP {status}", url=url)
