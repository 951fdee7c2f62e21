"""A fault-injecting handler for :class:`tests.httpserver.LocalServer`, one path per fault.

    faults = Faults(now=NOW)
    with LocalServer(faults) as server:
        fetcher.fetch(server.url("/status/503"), consume)
        assert faults.hits["/status/503"] == 3

Paths (query strings are ignored when counting):
    /ok                      200 with a small valid sitemap
    /gzip                    200 with the sitemap gzipped (application/x-gzip)
    /status/CODE             that status, e.g. /status/500, /status/404
    /retry-after/SECONDS     429 with ``Retry-After: SECONDS``
    /retry-after-date/SECONDS  429 with ``Retry-After`` an HTTP date SECONDS after ``now``
                             (or after ``clock.now()`` when a clock is given)
    /reset                   200, half the body, then the connection is dropped
    /stall                   no answer for ``stall`` seconds (use a smaller client timeout)
    /truncated               Content-Length larger than the body sent
    /truncated-gzip          a gzip file cut in half (application/x-gzip)
    /truncated-encoding      ``Content-Encoding: gzip`` with the stream cut in half
    /malformed-xml           200 with XML that does not parse
    /redirect-loop           302 to itself, forever
    /flaky/N                 503 for the first N requests to this path, then /ok's answer
    /conditional             304 when If-None-Match is "v1", else 200 with ETag "v1"
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from ingestctl.clock import Clock
from tests.httpserver import Request, Response

SITEMAP = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    + b"".join(b"  <url><loc>https://example.com/page-%d</loc></url>\n" % i for i in range(50))
    + b"</urlset>\n"
)
MALFORMED = b'<?xml version="1.0"?>\n<urlset><url><loc>https://example.com/</url></urlset>\n'


class Faults:
    """The handler: dispatches on the path and counts requests per path in ``hits``."""

    def __init__(self, *, now: datetime | None = None, stall: float = 1.0,
                 body: bytes = SITEMAP, clock: Clock | None = None) -> None:
        self.now = now or datetime(2026, 1, 1, tzinfo=UTC)
        self.clock = clock  # when given, Retry-After dates follow it instead of ``now``
        self.stall = stall
        self.body = body
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the requests counted so far."""
        with self._lock:
            self.hits.clear()

    @property
    def total(self) -> int:
        """Requests seen on every path."""
        with self._lock:
            return sum(self.hits.values())

    def __call__(self, req: Request) -> Response:
        path = req.path.split("?")[0]
        with self._lock:
            self.hits[path] += 1
            seen = self.hits[path]
        parts = path.strip("/").split("/")
        name, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        if name == "ok":
            return Response(200, self.body, {"Content-Type": "application/xml"})
        if name == "gzip":
            return Response(200, gzip.compress(self.body), {"Content-Type": "application/x-gzip"})
        if name == "status":
            return Response(int(arg), b"<html><body>fault %s</body></html>" % arg.encode())
        if name == "retry-after":
            return Response(429, b"slow down", {"Retry-After": arg})
        if name == "retry-after-date":
            base = self.clock.now() if self.clock is not None else self.now
            when = base + timedelta(seconds=int(arg))
            return Response(429, b"slow down", {"Retry-After": format_datetime(when, usegmt=True)})
        if name == "reset":
            half = self.body[: len(self.body) // 2]
            return Response(200, chunks=[half, None], length=len(self.body))
        if name == "stall":
            time.sleep(self.stall)
            return Response(200, self.body)
        if name == "truncated":
            # Closing after the short body makes the client see it as incomplete at once.
            return Response(200, chunks=[self.body[: len(self.body) // 2]], length=len(self.body))
        if name == "truncated-gzip":
            packed = gzip.compress(self.body)
            return Response(200, packed[: len(packed) // 2], {"Content-Type": "application/x-gzip"})
        if name == "truncated-encoding":
            packed = gzip.compress(self.body)
            return Response(200, packed[: len(packed) // 2],
                            {"Content-Encoding": "gzip", "Content-Type": "application/xml"})
        if name == "malformed-xml":
            return Response(200, MALFORMED, {"Content-Type": "application/xml"})
        if name == "redirect-loop":
            return Response(302, b"", {"Location": "/redirect-loop"})
        if name == "flaky":
            if seen <= int(arg):
                return Response(503, b"try again")
            return Response(200, self.body, {"Content-Type": "application/xml"})
        if name == "conditional":
            if req.headers.get("if-none-match") == '"v1"':
                return Response(304, b"", {"ETag": '"v1"'})
            return Response(200, self.body, {"ETag": '"v1"'})
        return Response(404, b"no such fault")


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
