"""Every fault through HttpFetcher against a real server on 127.0.0.1: class, requests, waits."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree

from ingestctl.clock import FakeClock
from ingestctl.config import HttpConfig, RetryConfig
from ingestctl.errors import (
    AuthError,
    DataError,
    ErrorClass,
    IngestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from ingestctl.sources.http import HttpFetcher, build_client, iter_body, read_body
from tests.faults import SITEMAP, Faults, closed_port
from tests.httpserver import LocalServer, Request, Response

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BACKOFF = [0.5, 1.0]  # rng 0.5 x (1 s, 2 s)


@dataclass
class Rig:
    """A fetcher wired to a fake clock, with every hook recorded."""

    fetcher: HttpFetcher
    clock: FakeClock
    retries: list[tuple[int, ErrorClass, float]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


def rig(*, timeout: float = 5.0, retry: RetryConfig | None = None, max_redirects: int = 5) -> Rig:
    clock = FakeClock(NOW)
    client = build_client(HttpConfig(timeout=timeout, user_agent="ingestctl-test/1",
                                     max_redirects=max_redirects))
    r = Rig(HttpFetcher(client, retry or RetryConfig(), clock=clock, rng=lambda: 0.5), clock)
    r.fetcher.on_retry = lambda n, err, wait: r.retries.append((n, err.error_class, wait))
    r.fetcher.on_response = lambda url, code: r.codes.append(code)
    return r


def count_locs(response: httpx.Response) -> int:
    root = etree.fromstring(read_body(response, url=str(response.url)))
    return len(root.findall("{http://www.sitemaps.org/schemas/sitemap/0.9}url"))


def count_gzip_locs(response: httpx.Response) -> int:
    data = gzip.decompress(read_body(response, url=str(response.url)))
    return data.count(b"<loc>")


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Faults, LocalServer]]:
    # One server for the module: stopping a LocalServer takes up to its 0.5 s poll interval.
    faults = Faults(now=NOW, stall=0.6)
    with LocalServer(faults) as srv:
        yield faults, srv


@pytest.fixture
def faults(shared: tuple[Faults, LocalServer]) -> Faults:
    shared[0].reset()
    return shared[0]


@pytest.fixture
def server(shared: tuple[Faults, LocalServer], faults: Faults) -> LocalServer:
    return shared[1]


def fail(r: Rig, url: str, consume: object = count_locs) -> IngestError:
    with pytest.raises(IngestError) as info:
        r.fetcher.fetch(url, consume)  # type: ignore[arg-type]
    return info.value


def test_ok_returns_consumed_value_and_counts(server: LocalServer, faults: Faults) -> None:
    r = rig()
    result = r.fetcher.fetch(server.url("/ok"), count_locs)
    assert (result.value, result.status_code, result.requests) == (50, 200, 1)
    assert server.requests[0].headers["user-agent"] == "ingestctl-test/1"
    assert r.codes == ["200"] and r.clock.sleeps == [] and r.fetcher.requests == 1


def test_429_retry_after_seconds(server: LocalServer, faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/retry-after/7"))
    assert isinstance(err, RateLimitedError) and err.retry_after == 7.0 and err.status_code == 429
    assert faults.hits["/retry-after/7"] == 3
    assert r.clock.sleeps == [7.0, 7.0]
    assert r.retries == [(1, ErrorClass.RATE_LIMITED, 7.0), (2, ErrorClass.RATE_LIMITED, 7.0)]
    assert r.codes == ["429", "429", "429"]


def test_429_retry_after_http_date_is_relative_to_now(server: LocalServer,
                                                      faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/retry-after-date/120"))
    assert err.error_class is ErrorClass.RATE_LIMITED
    assert faults.hits["/retry-after-date/120"] == 3
    # The server names the same moment each time; the fake clock has moved 120 s by the second.
    assert r.clock.sleeps == [120.0, 0.0]


def test_429_retry_after_is_capped(server: LocalServer, faults: Faults) -> None:
    r = rig(retry=RetryConfig(retry_after_cap=10.0))
    fail(r, server.url("/retry-after/3600"))
    assert faults.hits["/retry-after/3600"] == 3
    assert r.clock.sleeps == [10.0, 10.0]


@pytest.mark.parametrize("code", [408, 500, 502, 503, 504])
def test_server_errors_are_transient_and_retried(server: LocalServer, faults: Faults,
                                                 code: int) -> None:
    r = rig()
    err = fail(r, server.url(f"/status/{code}"))
    assert isinstance(err, TransientError) and err.status_code == code
    assert err.message.startswith(f"HTTP {code} ")
    assert faults.hits[f"/status/{code}"] == 3
    assert r.clock.sleeps == BACKOFF
    assert [n for n, _, _ in r.retries] == [1, 2]


def test_connection_refused_is_transient() -> None:
    r = rig()
    err = fail(r, f"http://127.0.0.1:{closed_port()}/sitemap.xml")
    assert isinstance(err, TransientError) and "cannot connect" in err.message
    assert r.fetcher.requests == 3 and r.codes == ["transient"] * 3
    assert r.clock.sleeps == BACKOFF


def test_connection_reset_mid_body_retries_request_and_consume(server: LocalServer,
                                                               faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/reset"))
    assert isinstance(err, TransientError) and "connection broken" in err.message
    assert faults.hits["/reset"] == 3
    assert r.clock.sleeps == BACKOFF
    assert r.codes == ["200"] * 3  # the answer started as a 200, then broke


def test_read_timeout(server: LocalServer, faults: Faults) -> None:
    r = rig(timeout=0.1)
    err = fail(r, server.url("/stall"))
    assert isinstance(err, TransientError) and err.message.startswith("read timeout")
    assert faults.hits["/stall"] == 3
    assert r.clock.sleeps == BACKOFF
    assert r.codes == ["transient"] * 3


def test_truncated_body(server: LocalServer, faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/truncated"))
    assert isinstance(err, TransientError)
    assert faults.hits["/truncated"] == 3 and r.clock.sleeps == BACKOFF


def test_truncated_gzip_file(server: LocalServer, faults: Faults) -> None:
    r = rig()
    assert r.fetcher.fetch(server.url("/gzip"), count_gzip_locs).value == 50
    err = fail(r, server.url("/truncated-gzip"), count_gzip_locs)
    assert isinstance(err, TransientError) and "truncated or corrupt compressed" in err.message
    assert faults.hits["/truncated-gzip"] == 3 and r.clock.sleeps == BACKOFF


def test_truncated_content_encoding(server: LocalServer, faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/truncated-encoding"))
    assert isinstance(err, TransientError) and err.message.startswith("truncated gzip body")
    assert faults.hits["/truncated-encoding"] == 3 and r.clock.sleeps == BACKOFF


def test_malformed_xml_is_data_and_not_retried(server: LocalServer, faults: Faults) -> None:
    r = rig()
    err = fail(r, server.url("/malformed-xml"))
    assert isinstance(err, DataError) and err.line == 2
    assert "malformed XML" in err.message
    assert faults.hits["/malformed-xml"] == 1 and r.clock.sleeps == [] and r.retries == []


@pytest.mark.parametrize(("code", "cls"), [(404, NotFoundError), (410, NotFoundError),
                                           (401, AuthError), (403, AuthError),
                                           (400, DataError), (418, DataError)])
def test_permanent_statuses_are_not_retried(server: LocalServer, faults: Faults, code: int,
                                            cls: type[IngestError]) -> None:
    r = rig()
    err = fail(r, server.url(f"/status/{code}"))
    assert type(err) is cls and getattr(err, "status_code", None) == code
    assert faults.hits[f"/status/{code}"] == 1 and r.clock.sleeps == []


def test_redirect_loop_is_not_found_and_not_retried(server: LocalServer,
                                                    faults: Faults) -> None:
    r = rig(max_redirects=5)
    err = fail(r, server.url("/redirect-loop"))
    assert isinstance(err, NotFoundError) and "too many redirects" in err.message
    assert faults.hits["/redirect-loop"] == 6  # the first request and five redirects
    assert r.codes == ["302"] * 6 and r.fetcher.requests == 6
    assert r.clock.sleeps == []


def test_redirects_followed_hop_by_hop_are_checked_counted_and_limited(
        server: LocalServer, faults: Faults) -> None:
    r = rig(max_redirects=5)
    hops: list[tuple[str, str, int]] = []
    with pytest.raises(NotFoundError, match="too many redirects"):
        r.fetcher.fetch(server.url("/redirect-loop"), count_locs,
                        on_redirect=lambda a, b, status: hops.append((a, b, status)))
    assert len(hops) == 5 and {status for _, _, status in hops} == {302}
    assert faults.hits["/redirect-loop"] == 6 and r.fetcher.requests == 6

    def refuse(source: str, target: str, status: int) -> None:
        raise DataError(f"not {target}", url=source)

    with pytest.raises(DataError, match="not "):
        r.fetcher.fetch(server.url("/redirect-loop"), count_locs, on_redirect=refuse)
    assert faults.hits["/redirect-loop"] == 7  # the refused hop was never requested


def test_fails_twice_then_succeeds(server: LocalServer, faults: Faults) -> None:
    r = rig()
    result = r.fetcher.fetch(server.url("/flaky/2"), count_locs)
    assert result.value == 50 and result.requests == 3
    assert faults.hits["/flaky/2"] == 3
    assert r.clock.sleeps == BACKOFF
    assert r.retries == [(1, ErrorClass.TRANSIENT, 0.5), (2, ErrorClass.TRANSIENT, 1.0)]
    assert r.codes == ["503", "503", "200"]


def test_304_is_returned_to_the_caller(server: LocalServer, faults: Faults) -> None:
    r = rig()
    first = r.fetcher.fetch(server.url("/conditional"), count_locs)
    etag = first.headers["etag"]
    again = r.fetcher.fetch(server.url("/conditional"), count_locs,
                            headers={"If-None-Match": etag})
    assert (first.value, first.not_modified) == (50, False)
    assert (again.value, again.not_modified, again.status_code) == (None, True, 304)


def test_503_retry_after_is_honoured() -> None:
    with LocalServer(lambda req: Response(503, b"", {"Retry-After": "4"})) as srv:
        r = rig()
        err = fail(r, srv.url("/x"))
    assert isinstance(err, TransientError) and err.retry_after == 4.0
    assert r.clock.sleeps == [4.0, 4.0]


def test_request_json_posts_and_decodes() -> None:
    seen: list[Request] = []

    def handle(req: Request) -> Response:
        seen.append(req)
        return Response(200, json.dumps({"echo": json.loads(req.body)}).encode(),
                        {"Content-Type": "application/json"})

    with LocalServer(handle) as srv:
        r = rig()
        value = r.fetcher.request_json(srv.url("/v1/items"), method="POST", json={"a": 1},
                                       params={"page": "2"})
    assert value == {"echo": {"a": 1}}
    assert seen[0].method == "POST" and seen[0].path == "/v1/items?page=2"


def test_request_json_malformed_is_data_error() -> None:
    with LocalServer(lambda req: Response(200, b'{"a": ')) as srv:
        r = rig()
        with pytest.raises(DataError, match="malformed JSON"):
            r.fetcher.request_json(srv.url("/v1"))
        assert r.fetcher.requests == 1


def test_body_classifier_decides_first() -> None:
    def google(status: int, headers: object, body: bytes, *, url: str,
               now: datetime) -> IngestError | None:
        if b"rateLimitExceeded" in body:
            return RateLimitedError("quota per minute", retry_after=60.0, url=url)
        return None

    body = b'{"error": {"errors": [{"reason": "rateLimitExceeded"}]}}'
    with LocalServer(lambda req: Response(403, body)) as srv:
        r = rig()
        r.fetcher.body_classifier = google
        err = fail(r, srv.url("/api"))
    assert isinstance(err, RateLimitedError)
    assert r.clock.sleeps == [60.0, 60.0]


def test_iter_body_decodes_gzip_encoding_and_enforces_size() -> None:
    packed = gzip.compress(SITEMAP)
    with LocalServer(lambda req: Response(200, packed, {"Content-Encoding": "gzip"})) as srv:
        r = rig()
        assert r.fetcher.fetch(srv.url("/a"), count_locs).value == 50

        def limited(response: httpx.Response) -> int:
            return sum(len(c) for c in iter_body(response, url="u", max_bytes=100))

        with pytest.raises(DataError, match="larger than the limit of 100 bytes"):
            r.fetcher.fetch(srv.url("/b"), limited)
        assert r.fetcher.requests == 2
