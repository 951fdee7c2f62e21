"""Cron-monitor pings hung off job events, for configured imports that set ``ping_url``.

``job_started`` pings ``URL/start``, ``job_completed`` pings ``URL``, ``job_dead_lettered``
(the job ended failed) pings ``URL/fail`` with the error class and message. A retry or a
deferral sends nothing: the job has not ended, and the monitor's own grace time covers the
wait. Pings go out whoever runs the job (``ingestctl run NAME``, the worker, the scheduler),
since the subscriber sits on the event bus of every process; a ping that fails is a logged
warning and never fails the import. httpx is imported only when a ping is sent.

The URL itself is a secret of sorts (whoever has it can report for the check), so log lines
show only its scheme and host.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ingestctl.config import Config
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.spec import spec_for_config

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = 5.0
KINDS = (EventKind.JOB_STARTED, EventKind.JOB_COMPLETED, EventKind.JOB_DEAD_LETTERED)
log = logging.getLogger("ingestctl.ping")
MAX_MESSAGE = 1000


def _suffixed(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to its path, before any query (``?rid=`` or a key)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/..."


class PingSubscriber:
    """Maps import keys to ping URLs and sends the ping that matches each job event."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.urls: dict[str, str] = {}

    def configure(self, config: Config) -> None:
        """Take the ping URLs of the configured imports (again after a reload)."""
        self.urls = {spec_for_config(imp).import_key: imp.ping_url.strip()
                     for imp in config.imports if imp.ping_url.strip()}

    def attach(self, bus: EventBus) -> None:
        """Subscribe to the job events that ping."""
        bus.subscribe(self, KINDS)

    def __call__(self, event: Event) -> None:
        url = self.urls.get(event.import_key or "")
        if not url:
            return
        # Start-up weight: httpx only when a configured import pings (test_startup.py).
        import httpx

        with httpx.Client() as client:
            pinger = Pinger(client, self.timeout)
            if event.kind is EventKind.JOB_STARTED:
                pinger.start(url)
            elif event.kind is EventKind.JOB_COMPLETED:
                pinger.success(url)
            elif event.kind is EventKind.JOB_DEAD_LETTERED:
                error = event.data.get("error_class", "error")
                pinger.fail(url, f"{error}: {event.data.get('message', '')}; job {event.job_id}")


def subscribe_pings(bus: EventBus, config: Config) -> PingSubscriber:
    """A ping subscriber configured from ``config`` and attached to ``bus``."""
    pings = PingSubscriber()
    pings.configure(config)
    pings.attach(bus)
    return pings


class Pinger:
    """Sends start, success and failure pings through an injected httpx client."""

    def __init__(self, client: httpx.Client, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.client = client
        self.timeout = timeout

    def start(self, url: str) -> bool:
        """GET ``URL/start``: the run began (the monitor then measures its duration)."""
        return self._send("GET", _suffixed(url, "/start"), None, "start")

    def success(self, url: str) -> bool:
        """GET ``URL``: the run succeeded."""
        return self._send("GET", url, None, "success")

    def fail(self, url: str, message: str = "") -> bool:
        """POST ``URL/fail`` with a short message (the error class and text, no secrets)."""
        body = message.strip()[:MAX_MESSAGE].encode("utf-8", "replace")
        return self._send("POST", _suffixed(url, "/fail"), body, "fail")

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
