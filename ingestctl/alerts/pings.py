"""Cron-monitor pings hung off job events, for configured imports that set ``ping_url``.

``job_started`` pings ``URL/start``, ``job_completed`` pings ``URL``, ``job_dead_lettered``
(the job ended failed) pings ``URL/fail`` with the error class and message. A retry or a
deferral sends nothing: the job has not ended, and the monitor's own grace time covers the
wait. Pings go out whoever runs the job (``ingestctl run NAME``, the worker, the scheduler),
since the subscriber sits on the event bus of every process; a ping that fails is a logged
warning and never fails the import. httpx is imported only when a ping is sent.
"""

from __future__ import annotations

from ingestctl.config import Config
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.spec import spec_for_config

DEFAULT_TIMEOUT = 5.0
KINDS = (EventKind.JOB_STARTED, EventKind.JOB_COMPLETED, EventKind.JOB_DEAD_LETTERED)


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
        import httpx

        from ingestctl.schedule.ping import Pinger

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
