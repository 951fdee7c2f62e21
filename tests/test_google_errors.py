"""Google error bodies and rate-limit headers map onto the right error classes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingestctl.errors import (
    AuthError,
    DataError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from ingestctl.redact import redact_credentials
from ingestctl.sources.google.errors import (
    RateLimitHeaders,
    google_error,
    last_pacific_midnight,
    next_pacific_midnight,
    next_utc_noon,
    parse_rate_limit_headers,
    parse_retry_after,
    status_error,
)
from tests.fakes.google_apis import (
    JSON,
    daily_quota_403,
    daily_quota_429,
    daily_quota_failure,
    echoing_error,
    forbidden,
    google_body,
    load_quota,
    minute_quota_failure,
    rate_limited,
    server_error,
    unauthorized,
)

NOW = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # 2025-12-31 16:00 in Los Angeles
URL = "https://example.test/x"


def classify(status: int, body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return google_error(status, headers or {}, body, url=URL, now=NOW)


def test_rate_limited_prefers_retry_info_over_retry_after() -> None:
    resp = rate_limited(retry_delay="30s")
    err = classify(resp.status, resp.body, {"Retry-After": "7"})
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 30.0
    assert err.status_code == 429
    assert "RESOURCE_EXHAUSTED" in err.message and "RATE_LIMIT_EXCEEDED" in err.message


def test_a_retry_after_header_is_honoured_if_a_server_sends_one() -> None:
    resp = rate_limited()
    assert resp.headers == JSON  # Google's quota errors carry no such header...
    err = classify(resp.status, resp.body, {"Retry-After": "7"})
    assert isinstance(err, RateLimitedError) and err.retry_after == 7.0  # ...a proxy might
    err = classify(resp.status, resp.body)
    assert isinstance(err, RateLimitedError) and err.retry_after is None


def test_quota_failure_alone_says_daily_or_per_minute() -> None:
    daily = daily_quota_failure()
    err = classify(daily.status, daily.body)
    assert isinstance(err, QuotaExhaustedError)
    assert err.reset_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    merchant = google_error(daily.status, {}, daily.body, url=URL, now=NOW,
                            daily_reset=next_utc_noon)
    assert isinstance(merchant, QuotaExhaustedError)
    assert merchant.reset_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    minute = minute_quota_failure()
    assert isinstance(classify(minute.status, minute.body), RateLimitedError)


def test_a_quota_error_naming_no_window_is_search_consoles_load_quota() -> None:
    body = load_quota().body
    err = google_error(429, {}, body, url=URL, now=NOW, load_quota=timedelta(minutes=15))
    assert isinstance(err, QuotaExhaustedError)
    assert err.reset_at == NOW + timedelta(minutes=15)
    assert str(err).startswith("load quota exceeded: HTTP 429 RESOURCE_EXHAUSTED "
                               "(quotaExceeded): Quota exceeded.; Google asks to wait 15 "
                               "minutes")
    # Without a load quota (Merchant) the same answer is a rate limit; a named window wins.
    assert isinstance(classify(429, body), RateLimitedError)
    per_minute = rate_limited().body
    assert isinstance(google_error(429, {}, per_minute, url=URL, now=NOW,
                                   load_quota=timedelta(minutes=15)), RateLimitedError)


def test_bearer_tokens_echoed_in_an_error_never_reach_its_message() -> None:
    resp = echoing_error("ya29.SECRET-token_1")
    err = classify(resp.status, resp.body)
    assert isinstance(err, DataError)
    assert "SECRET" not in str(err) and "ya29" not in str(err)
    assert "Authorization: [redacted]" in str(err)
    assert "access_token=[redacted]" in str(err)
    assert redact_credentials("Authorization: Basic dXNlcjpwYXNz, key=AIzaXYZ&x=1") == (
        "Authorization: [redacted], key=[redacted]&x=1")
    assert redact_credentials('{"access_token": "abc"} and bearer xyz') == (
        '{"access_token": "[redacted]"} and Bearer [redacted]')
    assert redact_credentials("token abc in text", "abc") == "token [redacted] in text"


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_search_console_403_rate_reasons_are_rate_limited(reason: str) -> None:
    body = google_body(403, "PERMISSION_DENIED", "User rate limit exceeded.", reasons=(reason,))
    err = classify(403, body)
    assert isinstance(err, RateLimitedError) and err.retry_after is None


def test_daily_quota_in_error_info_defers_to_pacific_midnight() -> None:
    resp = daily_quota_429()
    err = classify(resp.status, resp.body)
    assert isinstance(err, QuotaExhaustedError)
    assert err.reset_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_daily_limit_exceeded_403_is_quota_exhausted() -> None:
    resp = daily_quota_403()
    err = classify(resp.status, resp.body)
    assert isinstance(err, QuotaExhaustedError)
    assert err.reset_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def test_quota_exceeded_is_daily_only_when_the_limit_says_so() -> None:
    daily = google_body(403, "", "Quota exceeded for quota metric 'Queries' and limit "
                        "'Queries per day'", reasons=("quotaExceeded",))
    minute = google_body(403, "", "Quota exceeded for quota metric 'Queries' and limit "
                         "'Queries per minute'", reasons=("quotaExceeded",))
    assert isinstance(classify(403, daily), QuotaExhaustedError)
    assert isinstance(classify(403, minute), RateLimitedError)


def test_merchant_daily_reset_is_noon_utc() -> None:
    resp = daily_quota_429()
    err = google_error(resp.status, {}, resp.body, url=URL, now=NOW, daily_reset=next_utc_noon)
    assert isinstance(err, QuotaExhaustedError)
    assert err.reset_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_auth_and_not_found_and_server_errors() -> None:
    assert isinstance(classify(401, unauthorized().body), AuthError)
    assert isinstance(classify(403, forbidden().body), AuthError)
    disabled = google_body(403, "PERMISSION_DENIED", "API not enabled", details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}])
    err = classify(403, disabled)
    assert isinstance(err, AuthError) and "enable the API" in str(err)
    assert isinstance(classify(404, google_body(404, "NOT_FOUND", "no such account")),
                      NotFoundError)
    assert isinstance(classify(500, server_error(500).body), TransientError)
    assert isinstance(classify(503, server_error(503).body), TransientError)
    bad = classify(400, google_body(400, "INVALID_ARGUMENT", "Invalid page token"))
    assert isinstance(bad, DataError) and "Invalid page token" in str(bad)


def test_non_google_bodies_return_none_and_fall_back_to_status() -> None:
    assert classify(502, b"<html>Bad gateway</html>") is None
    assert classify(429, b"") is None
    assert classify(500, json.dumps({"message": "x"}).encode()) is None
    assert isinstance(status_error(502, {}, url=URL, now=NOW), TransientError)
    limited = status_error(429, {"Retry-After": "12"}, url=URL, now=NOW)
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 12.0
    assert isinstance(status_error(403, {}, url=URL, now=NOW), AuthError)
    assert isinstance(status_error(410, {}, url=URL, now=NOW), NotFoundError)
    assert status_error(200, {}, url=URL, now=NOW) is None


def test_2xx_malformed_json_is_data_error_and_valid_json_is_fine() -> None:
    err = classify(200, b'{"products": [')
    assert isinstance(err, DataError) and err.url == URL
    assert classify(200, b'{"products": []}') is None


def test_retry_after_forms() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:30 GMT", NOW) == 90.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_rate_limit_headers_are_recorded() -> None:
    headers = {"Retry-After": "7", "RateLimit": '"default";r=0;t=7',
               "RateLimit-Policy": '"default";q=60;w=60', "X-RateLimit-Limit": "60",
               "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225607"}
    assert parse_rate_limit_headers(headers, NOW) == RateLimitHeaders(
        retry_after=7.0, ratelimit='"default";r=0;t=7', ratelimit_policy='"default";q=60;w=60',
        limit=60, remaining=0, reset="1767225607")
    assert parse_rate_limit_headers({"Content-Type": "x"}, NOW).empty


def test_reset_boundaries() -> None:
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)  # 23:59 PDT
    assert next_pacific_midnight(summer) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert last_pacific_midnight(summer) == datetime(2026, 6, 30, 7, 0, tzinfo=UTC)
    assert next_utc_noon(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == \
        datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
