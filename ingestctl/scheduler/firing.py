"""APScheduler as the daemon's timer: one APScheduler job per scheduled import.

APScheduler only *fires*: at each fire time it calls the daemon's ``fire(name)``, which
records the slot and hands the run to the worker pool (:mod:`.daemon`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor as FirePool
from apscheduler.schedulers.background import BackgroundScheduler

from ingestctl.scheduler.configured import ScheduledImport
from ingestctl.scheduler.misfire import apscheduler_job_kwargs

log = logging.getLogger("ingestctl.scheduler")


class FireTimer:
    """A BackgroundScheduler calling ``fire(name)`` at the fire times of each import."""

    def __init__(self, fire: Callable[[str], object]) -> None:
        self._fire = fire
        # APScheduler's own log lines would reach stderr unformatted; its events are logged here.
        logging.getLogger("apscheduler").propagate = False
        logging.getLogger("apscheduler").addHandler(logging.NullHandler())
        self._aps = BackgroundScheduler(timezone="UTC", executors={"default": FirePool(4)})
        self._aps.add_listener(self._event,
                               EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)

    def start(self, imports: Mapping[str, ScheduledImport]) -> None:
        """Start firing ``imports``."""
        self._aps.start()
        for item in imports.values():
            self._add(item)

    def update(self, old: Mapping[str, ScheduledImport],
               new: Mapping[str, ScheduledImport]) -> None:
        """After a reload: drop removed imports, (re)add new and rescheduled ones."""
        for name in set(old) - set(new):
            self._aps.remove_job(name)
        for name, item in new.items():
            if name not in old or _timing(old[name]) != _timing(item):
                self._add(item)

    def shutdown(self) -> None:
        """Stop firing; a fire in progress finishes on its own thread."""
        self._aps.shutdown(wait=False)

    def _add(self, item: ScheduledImport) -> None:
        self._aps.add_job(self._fire, args=[item.name], **apscheduler_job_kwargs(item.config))

    def _event(self, event: Any) -> None:
        what = {EVENT_JOB_MISSED: "its fire time was missed (later than misfire_grace)",
                EVENT_JOB_MAX_INSTANCES: "the previous fire is still handing over"}.get(
                    event.code, f"error: {getattr(event, 'exception', '')}")
        log.warning("scheduling import %s: %s", getattr(event, "job_id", "?"), what)


def _timing(item: ScheduledImport) -> tuple[Any, ...]:
    cfg = item.config
    return (cfg.schedule, cfg.timezone, cfg.jitter, cfg.misfire_grace, cfg.coalesce)
