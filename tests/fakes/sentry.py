"""A Sentry ingest endpoint on 127.0.0.1 that receives and decodes the SDK's envelopes.

Follows Sentry's envelope protocol (develop.sentry.dev/sdk/data-model/envelopes/): ``POST
/api/PROJECT/envelope/`` with an ``X-Sentry-Auth`` header naming the DSN's public key, a body
that may be gzip- or brotli-encoded, made of a JSON header line and items, each a JSON header
line (with an optional ``length``) and its payload. Like Sentry, it refuses another project
(404) or key (401).

    with SentryServer() as sentry:
        dsn = sentry.dsn   # http://key@127.0.0.1:PORT/1
        ...
        sentry.items("event"), sentry.items("check_in")
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from typing import Any

from tests.httpserver import LocalServer, Request, Response

KEY = "publickey1234"
PROJECT = "1"


def decode_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """The envelope header and its (item header, payload) pairs."""
    header_line, _, rest = body.partition(b"\n")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest:
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item = json.loads(line)
        length = item.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        items.append((item, payload))
    return json.loads(header_line), items


def _decompress(req: Request) -> bytes:
    encoding = req.headers.get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(req.body)
    if encoding == "deflate":
        return zlib.decompress(req.body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]

        result: bytes = brotli.decompress(req.body)
        return result
    assert not encoding, encoding
    return req.body


class SentryServer:
    """The endpoint and every envelope it accepted, decoded."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self.server = LocalServer(self._handle)

    @property
    def dsn(self) -> str:
        """The DSN of this server's project."""
        return f"http://{KEY}@127.0.0.1:{self.server.port}/{PROJECT}"

    def _handle(self, req: Request) -> Response:
        if req.method != "POST" or req.path.split("?")[0] != f"/api/{PROJECT}/envelope/":
            self.refused.append(req.path)
            return Response(404, b'{"detail":"not found"}')
        auth = req.headers.get("x-sentry-auth", "")
        if f"sentry_key={KEY}" not in auth:
            self.refused.append(req.path)
            return Response(401, b'{"detail":"invalid api key"}')
        body = _decompress(req)
        with self._lock:
            self.raw.append(body)
            self.envelopes.append(decode_envelope(body))
        return Response(200, b'{"id":"0"}', {"Content-Type": "application/json"})

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The JSON payloads of every item of type ``kind`` (``event``, ``check_in``)."""
        with self._lock:
            return [json.loads(payload) for _, items in self.envelopes
                    for header, payload in items if header.get("type") == kind]

    def text(self) -> str:
        """Everything received, decoded, as one string (to look for secrets)."""
        with self._lock:
            return b"\n".join(self.raw).decode("utf-8", "replace")

    def __enter__(self) -> SentryServer:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
