"""A real HTTP server on 127.0.0.1 (or another local address) for tests, driven by a function.

    def handle(req: Request) -> Response: ...
    with LocalServer(handle) as server:
        httpx.get(server.url("/sitemap.xml"))
        assert server.requests[0].path == "/sitemap.xml"
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Request:
    """What the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    """What the handler answers; ``chunks`` streams the body piece by piece when given.

    ``chunks`` may yield ``None`` to make the server drop the connection right there
    (a reset mid-body); ``length`` overrides Content-Length (a truncated body).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes | None] | None = None
    length: int | None = None


Handler = Callable[[Request], Response]


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up first (timeouts, resets: the faults under test)."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalServer:
    """A threaded HTTP server on an ephemeral port of 127.0.0.1 that records every request."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY each response
            # waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _serve(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in
                                                        self.headers.items()}, body)
                with outer._lock:
                    outer.requests.append(req)
                resp = outer.handler(req)
                self.send_response(resp.status)
                for key, value in resp.headers.items():
                    self.send_header(key, value)
                if resp.chunks is None:
                    length = resp.length if resp.length is not None else len(resp.body)
                    self.send_header("Content-Length", str(length))
                    self.end_headers()
                    self.wfile.write(resp.body)
                    return
                if resp.length is not None:
                    self.send_header("Content-Length", str(resp.length))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                for chunk in resp.chunks:
                    if chunk is None:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(chunk)
                    self.wfile.flush()
                self.close_connection = True

            do_GET = do_POST = do_HEAD = do_PUT = _serve

        self.server = _QuietServer((host, 0), _Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       kwargs={"poll_interval": 0.05})

    @property
    def base(self) -> str:
        """``http://HOST:PORT`` (127.0.0.1 unless another address was given)."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base + path

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_directory(root: Path, rewrite: dict[bytes, bytes] | None = None) -> Handler:
    """A handler serving files below ``root``; ``rewrite`` replaces bytes in plain files."""

    def handle(req: Request) -> Response:
        target = (root / req.path.split("?")[0].lstrip("/")).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            return Response(404, b"not found")
        data = target.read_bytes()
        if rewrite and not data.startswith(b"\x1f\x8b"):
            for old, new in rewrite.items():
                data = data.replace(old, new)
        return Response(200, data)

    return handle
