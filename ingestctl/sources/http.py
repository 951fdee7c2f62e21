"""The HTTP client every remote source uses, and a fetcher that retries request + read as one unit.

    fetcher = HttpFetcher(build_client(cfg.http), cfg.retry, clock=clock)
    result = fetcher.fetch(url, lambda response: parse(iter_body(response, url=url)))

A reset or truncation happens while the body is being read, so the request and the caller's
``consume`` function are retried together under one tenacity policy. Statuses and exceptions
are classified by :mod:`ingestctl.resilience.classify`; only classified errors leave ``fetch``.
Local files are not handled here.
"""

from __future__ import annotations

import functools
import json as jsonlib
import random
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from ingestctl.clock import SYSTEM, Clock
from ingestctl.config import HttpConfig, RetryConfig
from ingestctl.errors import DataError, IngestError, TransientError
from ingestctl.interrupt import Cancellation, Interrupted
from ingestctl.resilience.classify import BodyClassifier, classify_exception, classify_response
from ingestctl.resilience.retry import OnRetry, Rng, Sleep, request_retrying
from ingestctl.sources.inflight import InFlight, Request

T = TypeVar("T")

#: Bytes of an error response read to classify it (Google error bodies are small).
ERROR_BODY_LIMIT = 64 * 1024
#: Only what :func:`iter_body` can decode itself, so it can detect truncated streams.
ACCEPT_ENCODING = "gzip, deflate"

OnResponse = Callable[[str, str], None]
Consume = Callable[[httpx.Response], T]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # What httpx builds for each client by default (certifi's CAs, SSL_CERT_FILE honoured),
    # built once per process: loading the CA bundle takes ~30 ms, more than a small import.
    return httpx.create_ssl_context()


def build_client(cfg: HttpConfig) -> httpx.Client:
    """An HTTP/1.1 client with the configured timeout, user agent and redirect limit."""
    return httpx.Client(
        verify=_tls_context(),
        timeout=httpx.Timeout(cfg.timeout),
        headers={"User-Agent": cfg.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=True,
        max_redirects=cfg.max_redirects,
        http1=True,
        http2=False,
    )


#: Called with (from_url, to_url, status) before a redirect is followed; raises to refuse it.
OnRedirect = Callable[[str, str, int], None]


@dataclass
class Fetched(Generic[T]):
    """The outcome of :meth:`HttpFetcher.fetch`; ``value`` is None when not modified (304)."""

    url: str
    status_code: int
    headers: httpx.Headers
    value: T | None
    requests: int
    hops: list[str] = field(default_factory=list)  # "301 https://..." per redirect followed

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional request."""
        return self.status_code == 304


class HttpFetcher:
    """Runs request + consume as one retried unit, classifies failures and counts requests.

    The fetcher adds an event hook to ``client``, so a client belongs to one fetcher.
    ``on_response(url, code)`` is called once per HTTP request (each redirect hop included)
    with the status code, or with the error class when no response came back.
    With ``inflight``, each request has the whole-request deadline and is aborted on
    interruption; with ``cancel``, a cancelled fetch raises :class:`Interrupted` instead of
    being retried.
    """

    def __init__(
        self,
        client: httpx.Client,
        retry: RetryConfig,
        *,
        clock: Clock = SYSTEM,
        sleep: Sleep | None = None,
        rng: Rng = random.random,
        on_retry: OnRetry | None = None,
        on_response: OnResponse | None = None,
        body_classifier: BodyClassifier | None = None,
        inflight: InFlight | None = None,
        cancel: Cancellation | None = None,
    ) -> None:
        self.client = client
        self.inflight = inflight
        self.cancel = cancel
        self.retry = retry
        self.clock = clock
        self.sleep: Sleep = sleep if sleep is not None else clock.sleep
        self.rng = rng
        self.on_retry = on_retry
        self.on_response = on_response
        self.body_classifier = body_classifier
        self.requests = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        client.event_hooks["response"] = [*client.event_hooks["response"], self._on_hop]

    def fetch(
        self,
        url: str,
        consume: Consume[T],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        body_classifier: BodyClassifier | None = None,
        on_redirect: OnRedirect | None = None,
    ) -> Fetched[T]:
        """Request ``url`` and pass a 2xx response to ``consume``; retried as a whole.

        ``consume`` may run more than once, so it must start over cleanly (upserts do).
        With ``on_redirect``, redirects are followed here one hop at a time, each hop
        checked by it first (it raises to refuse one); without, httpx follows them.
        Raises the classified :class:`IngestError` once the retries are spent.
        """
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if params is not None:
            kwargs["params"] = dict(params)
        if json is not None:
            kwargs["json"] = json
        if content is not None:
            kwargs["content"] = content
        if self.inflight is not None:
            kwargs["extensions"] = {"trace": self._trace}
            if self.inflight.deadline > 0:
                kwargs["timeout"] = _capped(self.client.timeout, self.inflight.deadline)
        classifier = body_classifier or self.body_classifier
        self._local.count = 0
        try:
            retrying = request_retrying(self.retry, sleep=self.sleep, rng=self.rng,
                                        on_retry=self.on_retry)
            result: Fetched[T] = retrying(self._once, method, url, consume, kwargs, classifier,
                                          on_redirect)
            result.requests = self._local.count
            return result
        finally:
            self._local.count = None

    def request_json(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        max_bytes: int = 50 * 1000 * 1000,
        body_classifier: BodyClassifier | None = None,
    ) -> Any:
        """A JSON API call: the decoded body (None when empty), malformed JSON -> DataError."""

        def consume(response: httpx.Response) -> Any:
            body = read_body(response, url=url, max_bytes=max_bytes)
            return jsonlib.loads(body) if body.strip() else None

        return self.fetch(url, consume, method=method, headers=headers, params=params,
                          json=json, body_classifier=body_classifier).value

    def _once(
        self,
        method: str,
        url: str,
        consume: Consume[T],
        kwargs: dict[str, Any],
        classifier: BodyClassifier | None,
        on_redirect: OnRedirect | None = None,
    ) -> Fetched[T]:
        answered = False
        hops: list[str] = []
        if self.cancel is not None:
            self.cancel.check()
        request = self.inflight.begin(url) if self.inflight is not None else None
        try:
            outgoing = self.client.build_request(method, url, **kwargs)
            while True:
                response = self.client.send(outgoing, stream=True,
                                            follow_redirects=on_redirect is None)
                answered = True
                try:
                    if request is not None and self.inflight is not None:
                        self.inflight.attach(request, response.extensions.get("network_stream"))
                        self.inflight.check(request)
                        response.stream = _Watched(response.stream, self.inflight, request)
                    status = response.status_code
                    final_url = str(response.url)
                    if on_redirect is not None and response.next_request is not None:
                        target = response.next_request
                        if len(hops) >= self.client.max_redirects:
                            raise httpx.TooManyRedirects("too many redirects", request=outgoing)
                        on_redirect(final_url, str(target.url), status)
                        hops.append(f"{status} {target.url}")
                        outgoing = target
                        continue
                    if 200 <= status < 300 or status == 304:
                        value = consume(response) if status != 304 else None
                        return Fetched(final_url, status, response.headers, value, 0, hops)
                    try:
                        body = read_body(response, url=final_url, max_bytes=ERROR_BODY_LIMIT,
                                         truncate=True)
                    except IngestError:
                        body = b""  # an undecodable error body must not hide the status
                    error = classify_response(status, response.headers, body, url=final_url,
                                              now=self.clock.now(), body_classifier=classifier)
                    if error is None:  # pragma: no cover - classify_response covers every status
                        error = DataError(f"unexpected HTTP {status}", url=final_url)
                    raise error
                finally:
                    response.close()
        except IngestError:
            self._interrupted()
            raise
        except Exception as exc:
            self._interrupted()
            error = classify_exception(exc, url=url)
            if request is not None and self.inflight is not None:
                try:
                    self.inflight.check(request)
                except TransientError as late:  # the watchdog cut it: say so, not "reset"
                    error = late
            if not answered and not isinstance(exc, httpx.TooManyRedirects):
                self._record(url, error.error_class.value)
            raise error from exc
        finally:
            if request is not None and self.inflight is not None:
                self.inflight.end(request)

    def _interrupted(self) -> None:
        # A request cut by an interruption is not a failure of the server: stop, do not retry.
        if self.cancel is not None and self.cancel.is_set():
            raise Interrupted(self.cancel.signal_name or "SIGINT") from None

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.complete" and self.inflight is not None:
            self.inflight.connected(info.get("return_value"))

    def _on_hop(self, response: httpx.Response) -> None:
        self._record(str(response.request.url), str(response.status_code))

    def _record(self, url: str, code: str) -> None:
        with self._lock:
            self.requests += 1
        if getattr(self._local, "count", None) is not None:
            self._local.count += 1
        if self.on_response is not None:
            self.on_response(url, code)


class _Watched(httpx.SyncByteStream):
    """A response body stream that reports arriving data and checks the request deadline."""

    def __init__(self, inner: Any, inflight: InFlight, request: Request) -> None:
        self.inner = inner
        self.inflight = inflight
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        return self.inflight.watch(self.request, iter(self.inner))

    def close(self) -> None:
        self.inner.close()


def _capped(timeout: httpx.Timeout, limit: float) -> httpx.Timeout:
    """``timeout`` with no phase longer than ``limit`` seconds (the request deadline)."""
    def cap(value: float | None) -> float:
        return limit if value is None else min(value, limit)

    return httpx.Timeout(connect=cap(timeout.connect), read=cap(timeout.read),
                         write=cap(timeout.write), pool=cap(timeout.pool))


def iter_body(
    response: httpx.Response, *, url: str, max_bytes: int | None = None
) -> Iterator[bytes]:
    """The decoded body in chunks; raises on truncated compression or past ``max_bytes``.

    Decodes ``Content-Encoding`` itself (httpx silently accepts a truncated gzip stream),
    and counts ``max_bytes`` after decoding, so a compression bomb stops early.
    """
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "")
                 .split(",") if e.strip() and e.strip().lower() != "identity"]
    chunks: Iterator[bytes] = response.iter_raw()
    for encoding in reversed(encodings):
        chunks = _decode(chunks, encoding, url)
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise DataError(f"body larger than the limit of {max_bytes} bytes", url=url,
                            hint="raise the size limit in the config if this is expected")
        if chunk:
            yield chunk


def read_body(
    response: httpx.Response, *, url: str, max_bytes: int | None = None, truncate: bool = False
) -> bytes:
    """The whole decoded body; past ``max_bytes`` it is cut (``truncate``) or a DataError."""
    if truncate and max_bytes is not None:
        parts: list[bytes] = []
        size = 0
        for chunk in iter_body(response, url=url):
            parts.append(chunk[: max_bytes - size])
            size += len(parts[-1])
            if size >= max_bytes:
                break
        return b"".join(parts)
    return b"".join(iter_body(response, url=url, max_bytes=max_bytes))


def _decode(chunks: Iterator[bytes], encoding: str, url: str) -> Iterator[bytes]:
    if encoding in ("gzip", "x-gzip"):
        wbits = zlib.MAX_WBITS | 16
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise DataError(f"unsupported Content-Encoding {encoding!r}", url=url)
    decompressor = zlib.decompressobj(wbits)
    first = True
    for chunk in chunks:
        if first and encoding == "deflate" and chunk:
            first = False
            try:
                yield decompressor.decompress(chunk)
                continue
            except zlib.error:
                # Some servers send raw deflate without the zlib header.
                decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        data = chunk
        while data:
            yield decompressor.decompress(data)
            data = decompressor.unused_data if decompressor.eof else b""
            if data and wbits & 16:
                decompressor = zlib.decompressobj(wbits)  # next gzip member
            else:
                data = b""
    yield decompressor.flush()
    if not decompressor.eof:
        raise TransientError(f"truncated {encoding} body from {url}", url=url)
