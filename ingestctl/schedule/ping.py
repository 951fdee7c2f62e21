"""Cron-monitor pings in the healthchecks.io style: ``URL/start``, ``URL``, ``URL/fail``.

A ping is a courtesy to an outside monitor: it has a short timeout, never raises, and a
failed ping never fails the import; it is logged as a warning on ``ingestctl.ping``. The URL
itself is a secret of sorts (whoever has it can report for the check), so log lines show only
its scheme and host.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("ingestctl.ping")
DEFAULT_TIMEOUT = 5.0
MAX_MESSAGE = 1000


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/..."


class Pinger:
    """Sends start, success and failure pings through an injected httpx client."""

    def __init__(self, client: httpx.Client, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client = client
        self.timeout = timeout

    def start(self, url: str) -> bool:
        """GET ``URL/start``: the run began (the monitor then measures its duration)."""
        return self._send("GET", url.rstrip("/") + "/start", None, "start")

    def success(self, url: str) -> bool:
        """GET ``URL``: the run succeeded."""
        return self._send("GET", url, None, "success")

    def fail(self, url: str, message: str = "") -> bool:
        """POST ``URL/fail`` with a short message (the error class and text, no secrets)."""
        body = message.strip()[:MAX_MESSAGE].encode("utf-8", "replace")
        return self._send("POST", url.rstrip("/") + "/fail", body, "fail")

    def _send(self, method: str, url: str, body: bytes | None, what: str) -> bool:
        if not url.startswith(("http://", "https://")):
            log.warning("ping %s not sent: %r is not an http(s) URL", what, _shown(url))
            return False
        try:
            response = self.client.request(method, url, content=body, timeout=self.timeout,
                                           headers={"Content-Type": "text/plain; charset=utf-8"}
                                           if body is not None else None)
        except Exception as exc:  # noqa: BLE001 -- a ping must never fail the import
            log.warning("ping %s to %s failed: %s", what, _shown(url),
                        type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            return False
        if response.status_code >= 400:
            log.warning("ping %s to %s failed: HTTP %d", what, _shown(url), response.status_code)
            return False
        return True
