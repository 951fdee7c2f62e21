"""Sitemap sites that stall: a child that is accepted and never answered, or one that trickles.

Handlers block on events, never on timers, and every blocked handler is released when the site
is closed, so no test waits for a server thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from tests.httpserver import LocalServer, Request, Response
from tests.sitemap_import_helpers import index
from tests.sites import urlset


class StallingSite:
    """``/index.xml`` lists ``children`` urlsets; ``stall`` and ``trickle`` name misbehaving ones.

    A stalling child is accepted and gets no answer until :meth:`heal`; a trickling child
    sends its (large) body a few kilobytes at a time until :meth:`heal`, then the rest at
    once. After :meth:`heal` every child answers normally.
    """

    def __init__(self, children: int = 6, per_child: int = 40, *, stall: int | None = None,
                 trickle: int | None = None, trickle_urls: int = 20000) -> None:
        self.children = children
        self.per_child = per_child
        self.stall = stall
        self.trickle = trickle
        self.trickle_urls = trickle_urls
        self.healed = threading.Event()
        self.server = LocalServer(self.handle)

    def urls(self, n: int) -> list[str]:
        """The page URLs child ``n`` lists."""
        count = self.trickle_urls if n == self.trickle else self.per_child
        return [f"https://pages.example.com/c{n}/p{i}" for i in range(count)]

    @property
    def total(self) -> int:
        """URLs in all children."""
        return sum(len(self.urls(n)) for n in range(self.children))

    def handle(self, req: Request) -> Response:
        """Serve the index and the children."""
        if req.path == "/index.xml":
            return Response(200, index([f"{self.server.base}/child-{n}.xml"
                                        for n in range(self.children)]))
        if not req.path.startswith("/child-"):
            return Response(404, b"not found")
        n = int(req.path.removeprefix("/child-").removesuffix(".xml"))
        body = urlset(self.urls(n))
        if n == self.stall and not self.healed.is_set():
            self.healed.wait()
            return Response(503, b"gone")  # the client has long given up
        if n == self.trickle and not self.healed.is_set():
            return Response(200, chunks=self._trickle(body))
        return Response(200, body)

    def _trickle(self, body: bytes) -> Iterator[bytes]:
        step = 8 * 1024
        for start in range(0, len(body), step):
            if self.healed.is_set():
                yield body[start:]
                return
            yield body[start:start + step]
            self.healed.wait(0.02)  # the server is slow, not the test

    def heal(self) -> None:
        """Every child answers normally from now on; blocked handlers are released."""
        self.healed.set()

    def __enter__(self) -> StallingSite:
        self.server.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.heal()
        self.server.__exit__(kind, exc, tb)


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def elapsed_since(start: float) -> float:
    """Seconds since ``start`` (a ``time.monotonic()`` value)."""
    return time.monotonic() - start
