"""The scheduler's HTTP endpoints on a small stdlib server in a thread.

* ``/livez``: 200 while the process runs.
* ``/readyz``: 200 when the store answers and the scheduler is running, else 503; the body
  says whether this scheduler leads or stands by (and who leads), as does the
  ``X-Ingestctl-Role`` header.
* ``/healthz``: the health checks as health+json; 200 for pass and warn, 503 for fail.
* ``/metrics``: the Prometheus text exposition.

Each request opens its own store connection in one of a few worker threads, so a slow scrape
never blocks the scheduler; idle or slow clients hold no worker (see :class:`StatusServer`).
Off by default; ``--http PORT`` listens on loopback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import ipaddress
import json
import logging
import os
import selectors
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from ingestctl import __version__
from ingestctl.config import Config
from ingestctl.errors import IngestError, UsageError
from ingestctl.host import hostname
from ingestctl.monitoring.health import (
    HEALTH_JSON_MEDIA_TYPE,
    HealthSnapshot,
    http_status,
    overall,
    render_json,
    run_checks,
)
from ingestctl.monitoring.metrics import CONTENT_TYPE, exposition
from ingestctl.monitoring.snapshots import health_snapshot, metrics_snapshot
from ingestctl.paths import Home
from ingestctl.store import Store, open_store

log = logging.getLogger("ingestctl.scheduler.http")

LOOPBACK = "127.0.0.1"
TEXT = "text/plain; charset=utf-8"
MAX_HEAD = 16 * 1024  # bytes of request line and headers; these endpoints take nothing more


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` (the last two on loopback)."""
    value = text.strip()
    host, port_text = LOOPBACK, value
    if value.startswith("["):
        inside, _, rest = value[1:].partition("]")
        host, port_text = inside, rest.removeprefix(":")
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or LOOPBACK
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--http {text!r}: expected HOST:PORT or PORT, e.g. 127.0.0.1:9464")
    if not host or any(c.isspace() for c in host):
        raise UsageError(f"--http {text!r}: bad host")
    return host, int(port_text)


@dataclass
class Response:
    """What an endpoint answers."""
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Endpoints:
    """The four endpoints, over the home's store and the scheduler's running state."""

    def __init__(self, home: Home, config: Callable[[], Config], running: Callable[[], bool],
                 now: Callable[[], datetime],
                 role: Callable[[], dict[str, Any] | None] | None = None) -> None:
        self.home = home
        self.config = config
        self.running = running
        self.now = now
        self.role = role

    def handle(self, path: str) -> Response:
        """Dispatch on the path (query strings ignored)."""
        route = path.split("?", 1)[0].rstrip("/") or "/"
        handler = {"/livez": self.livez, "/readyz": self.readyz, "/healthz": self.healthz,
                   "/metrics": self.metrics}.get(route)
        if handler is None:
            return Response(404, TEXT, b"not found: try /livez, /readyz, /healthz, /metrics\n")
        return handler()

    def _store(self) -> Store:
        # Read-write, so a health check may test that the store is writable.
        return open_store(self.home, self.config().store)

    def livez(self) -> Response:
        """200 while the process runs."""
        return Response(200, TEXT, b"ok\n")

    def readyz(self) -> Response:
        """200 when the store answers and the scheduler runs."""
        problems = []
        try:
            with self._store() as store:
                store.scalar("SELECT count(*) FROM scheduler_state")
        except (IngestError, sqlite3.Error) as exc:
            problems.append(f"store unreachable: {exc}")
        if not self.running():
            problems.append("scheduler not running")
        role = self.role() if self.role is not None else None
        said, headers = "", {}
        if role is not None:
            said = ("; leading" if role["role"] == "leader" else
                    f"; standing by (leader: {role.get('leader') or 'unknown'})")
            headers = {"X-Ingestctl-Role": role["role"]}
        if problems:
            return Response(503, TEXT, ("not ready: " + "; ".join(problems) + said + "\n"
                                        ).encode(), headers)
        return Response(200, TEXT, f"ready{said}\n".encode(), headers)

    def healthz(self) -> Response:
        """The health checks as health+json."""
        now = self.now()
        config = self.config()
        try:
            with self._store() as store:
                snapshot = health_snapshot(store, config, now, self.home.breakers)
        except (IngestError, sqlite3.Error) as exc:
            snapshot = HealthSnapshot.unreachable(str(exc))
        results = run_checks(snapshot, config.health, now)
        doc: dict[str, Any] = render_json(results, now, __version__)
        body = (json.dumps(doc, indent=2) + "\n").encode()
        return Response(http_status(overall(results)), HEALTH_JSON_MEDIA_TYPE, body)

    def metrics(self) -> Response:
        """The Prometheus exposition."""
        try:
            with self._store() as store:
                snapshot = metrics_snapshot(store, self.now(), self.home.breakers)
                role = self.role() if self.role is not None else None
                if role is not None:
                    snapshot.scheduler_leader = {hostname(): float(role["role"] == "leader")}
                data = exposition(snapshot)
        except (IngestError, sqlite3.Error) as exc:
            return Response(503, TEXT, f"store unreachable: {exc}\n".encode())
        return Response(200, CONTENT_TYPE, data)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request whose head was already read, and writes the answer."""

    server_version = f"ingestctl/{__version__}"
    endpoints: Endpoints

    def setup(self) -> None:
        """Read from the bytes the event loop gathered; write to the socket."""
        sock, head = self.request
        self.connection = sock
        self.rfile = io.BytesIO(head)
        self.wfile = sock.makefile("wb")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def do_GET(self) -> None:
        try:
            response = self.endpoints.handle(self.path)
        except Exception as exc:  # a broken endpoint answers 500, never kills the server
            log.exception("http %s failed", self.path)
            response = Response(500, TEXT, f"internal error: {exc}\n".encode())
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_HEAD = do_GET


@dataclass
class _Waiting:
    """A connection whose request head has not fully arrived yet."""

    deadline: float
    head: bytes = b""


class StatusServer:
    """Answers :class:`Endpoints` from a bounded pool, fed by one event-loop thread.

    The loop accepts connections and gathers each request head without a thread, so idle
    clients cost a file descriptor, not a worker. A head must arrive within ``timeout``
    seconds (else the connection is closed), and each write of the answer must progress within
    ``timeout`` too. A complete request goes to one of ``workers`` threads; when all are busy
    it is answered 503 at once. At most ``max_connections`` connections wait for their head:
    the oldest is dropped for a new one, so the process never runs out of file descriptors and
    a probe always gets in.
    """

    def __init__(self, address: tuple[str, int], endpoints: Endpoints, *, workers: int = 4,
                 timeout: float = 10.0, max_connections: int = 100) -> None:
        host, port = address
        self.endpoints = endpoints
        self.workers = workers
        self.timeout = timeout
        self.max_connections = max(1, max_connections)
        self._handler = type("Handler", (_Handler,), {"endpoints": endpoints})
        family = socket.AF_INET6 if _is_v6(host) else socket.AF_INET
        try:
            self.listener = socket.create_server((host, port), family=family, backlog=128)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise IngestError(f"cannot listen on {host}:{port}: {reason}",
                              hint="pick another --http address or stop what uses it") from None
        self.listener.setblocking(False)
        self._busy = threading.BoundedSemaphore(workers)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ingestctl-http")
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._waiting: dict[socket.socket, _Waiting] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._paused_until = 0.0
        self.thread = threading.Thread(target=self._loop, name="ingestctl-http", daemon=True)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` as bound (the real port when 0 was asked)."""
        host, port = self.listener.getsockname()[:2]
        shown = f"[{host}]" if _is_v6(host) else host
        return f"http://{shown}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and the socket."""
        self._stopping = True
        self._wake_w.send(b"x")
        if self.thread.is_alive():
            self.thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for sock in (self.listener, self._wake_r, self._wake_w, *self._waiting):
            sock.close()
        self._waiting.clear()
        self._selector.close()

    def _loop(self) -> None:
        self._selector.register(self.listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        while not self._stopping:
            now = time.monotonic()
            first = next(iter(self._waiting.values()), None)
            wait = 1.0 if first is None else min(1.0, max(0.0, first.deadline - now))
            if self._paused_until and now >= self._paused_until:
                self._paused_until = 0.0
                self._selector.register(self.listener, selectors.EVENT_READ)
            for key, _ in self._selector.select(wait):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is not self._wake_r:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            self._expire(time.monotonic())

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: make room, or stop accepting for a moment rather than
                    # spin on a listener that stays readable.
                    if not self._drop_oldest():
                        self._selector.unregister(self.listener)
                        self._paused_until = time.monotonic() + 0.1
                        log.warning("http: out of file descriptors, not accepting for 0.1s")
                    return
                log.debug("http accept failed: %s", exc)
                return
            if len(self._waiting) >= self.max_connections:
                self._drop_oldest()
            sock.setblocking(False)
            self._waiting[sock] = _Waiting(time.monotonic() + self.timeout)
            self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        waiting = self._waiting.get(sock)
        if waiting is None:
            return
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client hung up before asking anything
            self._forget(sock, close=True)
            return
        waiting.head += chunk
        if b"\r\n\r\n" in waiting.head or b"\n\n" in waiting.head:
            self._forget(sock, close=False)
            self._dispatch(sock, waiting.head)
        elif len(waiting.head) > MAX_HEAD:
            self._forget(sock, close=False)
            self._refuse(sock, 431, b"request header too large\n")

    def _expire(self, now: float) -> None:
        for sock, waiting in list(self._waiting.items()):
            if waiting.deadline > now:
                break  # later ones were accepted later
            self._forget(sock, close=True)

    def _drop_oldest(self) -> bool:
        oldest = next(iter(self._waiting), None)
        if oldest is None:
            return False
        self._forget(oldest, close=True)
        return True

    def _forget(self, sock: socket.socket, *, close: bool) -> None:
        self._waiting.pop(sock, None)
        if sock in self._selector.get_map():
            self._selector.unregister(sock)
        if close:
            sock.close()

    def _dispatch(self, sock: socket.socket, head: bytes) -> None:
        if not self._busy.acquire(blocking=False):
            self._refuse(sock, 503, f"busy: all {self.workers} workers are answering; try "
                                    "again\n".encode())
            return
        try:
            self._pool.submit(self._answer, sock, head)
        except RuntimeError:  # shutting down
            self._busy.release()
            sock.close()

    def _answer(self, sock: socket.socket, head: bytes) -> None:
        try:
            sock.settimeout(self.timeout)  # each write must progress within the timeout
            self._handler((sock, head), sock.getpeername(), self)
        except OSError as exc:  # the client hung up or stopped reading: nothing to tell it
            log.debug("http client gone: %s", exc)
        finally:
            self._busy.release()
            _close(sock)

    def _refuse(self, sock: socket.socket, status: int, body: bytes) -> None:
        reason = {503: "Service Unavailable", 431: "Request Header Fields Too Large"}[status]
        answer = (f"HTTP/1.0 {status} {reason}\r\nContent-Type: {TEXT}\r\nContent-Length: "
                  f"{len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        try:
            sock.send(answer)  # non-blocking: a small answer fits the socket buffer
        except OSError as exc:
            log.debug("http client gone before its %d: %s", status, exc)
        _close(sock)


def _close(sock: socket.socket) -> None:
    # A socket the client already reset cannot be shut down (ENOTCONN): only close it then.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _is_v6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
