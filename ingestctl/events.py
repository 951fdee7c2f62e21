"""Events the runner and the job queue emit; alerts, metrics and logs hang off them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

log = logging.getLogger("ingestctl.events")


class EventKind(StrEnum):
    """What happened."""

    JOB_STARTED = "job_started"
    JOB_COMPLETED = "job_completed"
    # job_retrying, job_deferred, job_dead_lettered data: error_class, error_type, message,
    # next_attempt_at, attempt, source, and unexpected (the exception) when a bug failed it
    JOB_RETRYING = "job_retrying"
    JOB_DEFERRED = "job_deferred"
    JOB_DEAD_LETTERED = "job_dead_lettered"
    JOB_RECOVERED = "job_recovered"
    # data: signal, attempt, source (an attempt stopped by SIGINT or SIGTERM; no alert)
    JOB_INTERRUPTED = "job_interrupted"
    BREAKER_CHANGED = "breaker_changed"
    QUALITY_VIOLATION = "quality_violation"
    # data: import, slot (ISO time the run was due), last_run_at (ISO or None)
    SCHEDULE_MISSED = "schedule_missed"
    # data: api, scope, used, limit, level (ok|warning|critical), threshold, resets_at
    QUOTA_LEVEL = "quota_level"


# The events that raise (or resolve) alerts; the CLI subscribes to these without importing
# the alerting code until one of them happens.
ALERT_EVENTS = frozenset({
    EventKind.JOB_DEAD_LETTERED, EventKind.JOB_RECOVERED, EventKind.JOB_COMPLETED,
    EventKind.BREAKER_CHANGED, EventKind.QUALITY_VIOLATION, EventKind.QUOTA_LEVEL,
    EventKind.SCHEDULE_MISSED,
})


@dataclass(frozen=True)
class Event:
    """One thing that happened, with the facts a subscriber needs."""

    kind: EventKind
    at: datetime
    job_id: int | None = None
    import_key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out; a failing subscriber is logged and never breaks the emitter."""

    def __init__(self) -> None:
        self._handlers: list[tuple[frozenset[EventKind] | None, Handler]] = []

    def subscribe(self, handler: Handler, kinds: Iterable[EventKind] | None = None) -> None:
        """Call ``handler`` for every event, or only for ``kinds``."""
        self._handlers.append((frozenset(kinds) if kinds is not None else None, handler))

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to each interested subscriber."""
        for kinds, handler in self._handlers:
            if kinds is not None and event.kind not in kinds:
                continue
            try:
                handler(event)
            except Exception:  # a broken alert channel must not fail an import
                log.exception("event subscriber failed for %s", event.kind.value)
