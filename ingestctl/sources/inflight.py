"""Requests in flight: the whole-request deadline, aborting on interruption, the longest wait.

Connect and read timeouts bound each socket operation, not a request: a server that trickles
a byte every few seconds never trips them. :class:`InFlight` gives every request a deadline
(``[http] request_deadline``); a watchdog thread closes the socket of a request past it, so
the fetch fails as ``transient`` naming the URL and the time, wherever the reader is blocked.
On interruption (:meth:`abort_all`) it closes the sockets of every connection the fetchers
opened, so reads blocked on a silent server return at once. It also tells the terminal
progress display which request has waited longest for data (``waiting 25 s for URL``).
See docs/guide/jobs-and-failures.md ("Deadlines").
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ingestctl.errors import TransientError
from ingestctl.units import format_duration

Monotonic = Callable[[], float]
#: Seconds between two rounds of the deadline watchdog.
WATCH_INTERVAL = 0.25


@dataclass(eq=False)
class Request:
    """One request in flight (retries are new requests)."""

    url: str
    started: float
    last_data: float
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False


class InFlight:
    """The requests of one runner's fetchers; see the module docstring."""

    def __init__(self, deadline: float = 0.0, *, monotonic: Monotonic = time.monotonic) -> None:
        self.deadline = deadline
        self.monotonic = monotonic
        self.aborted = False
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._connections: list[socket.socket] = []
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()

    # -- requests --------------------------------------------------------------------------

    def begin(self, url: str) -> Request:
        """Register a request about to be sent."""
        now = self.monotonic()
        request = Request(url, now, now)
        watchdog = None
        with self._lock:
            self._requests.append(request)
            if self.deadline > 0 and self._watchdog is None:
                watchdog = self._watchdog = threading.Thread(
                    target=self._watch, name="http-deadline", daemon=True)
        if watchdog is not None:
            watchdog.start()
        return request

    def end(self, request: Request) -> None:
        """The request is over (answered, failed or abandoned)."""
        with self._lock, contextlib.suppress(ValueError):
            self._requests.remove(request)

    def data(self, request: Request) -> None:
        """Bytes arrived for ``request``."""
        request.last_data = self.monotonic()

    def attach(self, request: Request, stream: Any) -> None:
        """The network stream answering ``request`` (httpx's ``network_stream`` extension)."""
        sock = _socket_of(stream)
        if sock is None:
            return
        request.sockets.append(sock)
        if request.expired or self.aborted:
            _shut(sock)

    def check(self, request: Request) -> None:
        """Raise the deadline error when ``request`` has run past the deadline."""
        if request.expired or (self.deadline > 0 and
                               self.monotonic() - request.started >= self.deadline):
            request.expired = True
            raise self.deadline_error(request)

    def deadline_error(self, request: Request) -> TransientError:
        """The transient error of a request past the deadline, naming the URL and the time."""
        elapsed = self.monotonic() - request.started
        shown = f"{elapsed:.1f}" if elapsed < 10 else f"{elapsed:.0f}"
        return TransientError(
            f"no complete response from {request.url} after {shown} s: the request "
            f"deadline is {format_duration(self.deadline)}", url=request.url,
            hint="a stalled or very slow server; raise [http] request_deadline if the file "
                 "is just big")

    def watch(self, request: Request, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks`` of a response body, noting when data arrives and checking the deadline.

        A body cut by the watchdog may look complete (a close-delimited body ends at EOF):
        it raises the deadline error too.
        """
        for chunk in chunks:
            self.data(request)
            self.check(request)
            yield chunk
        if request.expired:
            raise self.deadline_error(request)

    # -- connections and cancellation ------------------------------------------------------

    def connected(self, stream: Any) -> None:
        """A fetcher opened a connection (httpcore's ``connection.connect_tcp`` trace)."""
        sock = _socket_of(stream)
        if sock is None:
            return
        with self._lock:
            self._connections = [s for s in self._connections if s.fileno() != -1]
            self._connections.append(sock)
        if self.aborted:
            _shut(sock)

    def abort_all(self) -> None:
        """Close every connection the fetchers opened: blocked reads end at once."""
        self.aborted = True
        with self._lock:
            sockets = [*self._connections, *(s for r in self._requests for s in r.sockets)]
        for sock in sockets:
            _shut(sock)

    # -- what the terminal shows -----------------------------------------------------------

    def longest_wait(self) -> tuple[str, float] | None:
        """The URL that has waited longest for data and for how many seconds, if any."""
        now = self.monotonic()
        with self._lock:
            requests = list(self._requests)
        if not requests:
            return None
        oldest = min(requests, key=lambda r: r.last_data)
        return oldest.url, now - oldest.last_data

    def close(self) -> None:
        """Stop the watchdog for good."""
        self._closed.set()

    def _watch(self) -> None:
        # Runs while requests are in flight; the next request starts it again.
        while not self._closed.wait(WATCH_INTERVAL):
            now = self.monotonic()
            with self._lock:
                if not self._requests:
                    self._watchdog = None
                    return
                late = [r for r in self._requests
                        if not r.expired and now - r.started >= self.deadline]
            for request in late:
                request.expired = True
                for sock in request.sockets:
                    _shut(sock)


def _socket_of(stream: Any) -> socket.socket | None:
    try:
        sock = stream.get_extra_info("socket")
    except Exception:  # a transport without sockets (tests' mock transports)
        return None
    return sock if isinstance(sock, socket.socket) else None


def _shut(sock: socket.socket) -> None:
    # shutdown(), unlike close(), wakes a recv() blocked in another thread.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
