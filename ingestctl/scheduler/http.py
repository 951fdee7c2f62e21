"""The scheduler's HTTP endpoints on a small stdlib server in a thread.

* ``/livez``: 200 while the process runs.
* ``/readyz``: 200 when the store answers and the scheduler is running, else 503; the body
  says whether this scheduler leads or stands by (and who leads), as does the
  ``X-Ingestctl-Role`` header.
* ``/healthz``: the health checks as health+json; 200 for pass and warn, 503 for fail.
* ``/metrics``: the Prometheus text exposition.

Each request opens its own store connection (a request runs in its own thread), so a
slow scrape never blocks the scheduler. Off by default; ``--http PORT`` listens on loopback.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from ingestctl.monitoring.metrics import exposition
from ingestctl.monitoring.snapshots import health_snapshot, metrics_snapshot
from ingestctl.paths import Home
from ingestctl.store import Store, open_store

log = logging.getLogger("ingestctl.scheduler.http")

LOOPBACK = "127.0.0.1"
TEXT = "text/plain; charset=utf-8"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
        return Response(200, METRICS_TYPE, data)


class StatusServer:
    """A ThreadingHTTPServer answering :class:`Endpoints` in a daemon thread."""

    def __init__(self, address: tuple[str, int], endpoints: Endpoints) -> None:
        host, port = address
        family_v6 = _is_v6(host)

        class Handler(BaseHTTPRequestHandler):
            server_version = f"ingestctl/{__version__}"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http %s", format % args)

            def do_GET(self) -> None:
                try:
                    response = endpoints.handle(self.path)
                except Exception as exc:  # a broken endpoint answers 500, never kills the server
                    log.exception("http %s failed", self.path)
                    response = Response(500, TEXT, f"internal error: {exc}\n".encode())
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_HEAD = do_GET

        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
        if family_v6:
            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6

            server_class = V6Server
        try:
            self.server = server_class((host, port), Handler)
        except OSError as exc:
            raise IngestError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                              hint="pick another --http address or stop what uses it") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,),
                                       name="ingestctl-http", daemon=True)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` as bound (the real port when 0 was asked)."""
        raw, port = self.server.server_address[:2]
        host = raw.decode() if isinstance(raw, bytes) else str(raw)
        shown = f"[{host}]" if _is_v6(host) else host
        return f"http://{shown}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def _is_v6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
