"""Classification of exceptions and statuses, and the tenacity policies, without a network."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree

from ingestctl.config import JobsConfig, RetryConfig
from ingestctl.errors import (
    AuthError,
    CircuitOpenError,
    DataError,
    ErrorClass,
    IngestError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from ingestctl.jobs.queue import job_retry_delay
from ingestctl.resilience.classify import (
    classify_exception,
    classify_response,
    parse_retry_after,
)
from ingestctl.resilience.retry import request_retrying

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "https://example.com/sitemap.xml"
REQ = httpx.Request("GET", URL)


@pytest.mark.parametrize(
    ("exc", "cls", "text"),
    [
        (httpx.ConnectTimeout("t", request=REQ), TransientError, "connect timeout"),
        (httpx.ReadTimeout("t", request=REQ), TransientError, "read timeout"),
        (httpx.WriteTimeout("t", request=REQ), TransientError, "write timeout"),
        (httpx.PoolTimeout("t", request=REQ), TransientError, "connection pool timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), TransientError, "cannot connect"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), TransientError,
         "Name or service not known"),
        (httpx.RemoteProtocolError("peer closed"), TransientError, "connection broken"),
        (httpx.ReadError("reset by peer"), TransientError, "connection broken"),
        (httpx.TooManyRedirects("loop", request=REQ), NotFoundError, "too many redirects"),
        (zlib.error("incomplete"), TransientError, "truncated or corrupt compressed"),
        (EOFError("Compressed file ended"), TransientError, "truncated or corrupt compressed"),
        (httpx.UnsupportedProtocol("ftp"), DataError, "invalid URL"),
        (json.JSONDecodeError("Expecting value", "{", 1), DataError, "malformed JSON"),
        (ConnectionResetError("reset"), TransientError, "ConnectionResetError"),
        (KeyError("boom"), TransientError, "unexpected KeyError"),
    ],
)
def test_classify_exception(exc: BaseException, cls: type[IngestError], text: str) -> None:
    err = classify_exception(exc, url=URL)
    assert type(err) is cls
    assert text in err.message


def test_classify_truncated_gzip_and_xml_for_real() -> None:
    packed = gzip.compress(b"<urlset>" + b"x" * 1000 + b"</urlset>")
    with pytest.raises(EOFError) as eof:
        gzip.decompress(packed[:20])
    assert classify_exception(eof.value, url=URL).error_class is ErrorClass.TRANSIENT
    with pytest.raises(etree.XMLSyntaxError) as bad:
        etree.fromstring(b"<a>\n<b></a>")
    err = classify_exception(bad.value, url=URL)
    assert isinstance(err, DataError) and err.line == 2
    assert err.message.startswith(f"{URL}:2:")


def test_ingest_error_passes_through() -> None:
    original = QuotaExhaustedError("daily quota spent")
    assert classify_exception(original, url=URL) is original


@pytest.mark.parametrize(
    ("status", "cls"),
    [(408, TransientError), (500, TransientError), (502, TransientError),
     (503, TransientError), (504, TransientError), (599, TransientError),
     (429, RateLimitedError), (401, AuthError), (403, AuthError), (404, NotFoundError),
     (410, NotFoundError), (400, DataError), (422, DataError), (300, DataError)],
)
def test_classify_response_statuses(status: int, cls: type[IngestError]) -> None:
    err = classify_response(status, {}, b"", url=URL, now=NOW)
    assert type(err) is cls and getattr(err, "status_code", None) == status


@pytest.mark.parametrize("status", [200, 201, 204, 206, 304])
def test_classify_response_success(status: int) -> None:
    assert classify_response(status, {}, b"", url=URL, now=NOW) is None


def test_classify_response_quotes_body_of_client_errors() -> None:
    err = classify_response(400, {}, b'{"error":\n "bad  page token"}', url=URL, now=NOW)
    assert err is not None
    assert err.message == f'{URL}: HTTP 400 Bad Request: {{"error": "bad page token"}}'


def test_retry_after_forms() -> None:
    assert parse_retry_after("30", now=NOW) == 30.0
    assert parse_retry_after(" 1.5 ", now=NOW) == 1.5
    assert parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", now=NOW) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("-5", now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None
    err = classify_response(429, {"retry-after": "Sun, 01 Mar 2026 12:00:09 GMT"}, b"",
                            url=URL, now=NOW)
    assert isinstance(err, RateLimitedError) and err.retry_after == 9.0


def test_body_classifier_none_falls_back_to_status() -> None:
    calls: list[int] = []

    def hook(status: int, headers: object, body: bytes, *, url: str,
             now: datetime) -> IngestError | None:
        calls.append(status)
        return None

    err = classify_response(403, {}, b"", url=URL, now=NOW, body_classifier=hook)
    assert isinstance(err, AuthError) and calls == [403]
    assert classify_response(200, {}, b"", url=URL, now=NOW, body_classifier=hook) is None
    assert calls == [403]


class Script:
    """Raises the given errors in turn, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_retrying_full_jitter_and_cap() -> None:
    sleeps: list[float] = []
    cfg = RetryConfig(attempts=6, initial_delay=1.0, max_delay=5.0, multiplier=2.0)
    script = Script(*(TransientError("x") for _ in range(5)))
    assert request_retrying(cfg, sleep=sleeps.append, rng=lambda: 0.5)(script) == "done"
    assert sleeps == [0.5, 1.0, 2.0, 2.5, 2.5] and script.calls == 6


def test_retrying_reraises_last_error_not_retry_error() -> None:
    sleeps: list[float] = []
    last = RateLimitedError("third", retry_after=2.0)
    script = Script(TransientError("first"), TransientError("second"), last)
    with pytest.raises(RateLimitedError) as info:
        request_retrying(RetryConfig(), sleep=sleeps.append, rng=lambda: 1.0)(script)
    assert info.value is last and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("error", [AuthError("a"), NotFoundError("n"), DataError("d"),
                                   QuotaExhaustedError("q"), ValueError("v"),
                                   CircuitOpenError("k", NOW)])
def test_retrying_does_not_retry_other_classes(error: BaseException) -> None:
    sleeps: list[float] = []
    script = Script(error)
    with pytest.raises(type(error)):
        request_retrying(RetryConfig(), sleep=sleeps.append)(script)
    assert script.calls == 1 and sleeps == []


def test_on_retry_sees_attempt_error_and_wait() -> None:
    seen: list[tuple[int, str, float]] = []
    script = Script(TransientError("boom"), RateLimitedError("slow", retry_after=999.0))
    retrying = request_retrying(RetryConfig(retry_after_cap=60.0), sleep=lambda s: None,
                                rng=lambda: 0.25,
                                on_retry=lambda n, e, w: seen.append((n, e.message, w)))
    assert retrying(script) == "done"
    assert seen == [(1, "boom", 0.25), (2, "slow", 60.0)]


def test_job_retry_delay() -> None:
    cfg = JobsConfig()
    assert [job_retry_delay(cfg, n) for n in (0, 1, 2, 3, 4, 9)] == [5, 5, 10, 20, 20, 20]
    assert job_retry_delay(JobsConfig(retry_delays=[]), 1) == 0.0
