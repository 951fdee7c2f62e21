"""Periodic work other capabilities plug into the scheduler's step, and serial event delivery.

:class:`AlertOutboxHook` delivers the alert outbox each step through
:meth:`ingestctl.alerts.dispatch.Alerting.flush`. Hooks run in the
scheduler's main thread on its own store connection; an exception in one is logged and never
stops the scheduler.

:class:`SerialBus` delivers events one at a time: imports run in several threads, and
subscribers (alerts, pings) were written for a single-threaded process, some of them on one
store connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from ingestctl.alerts.dispatch import Alerting
from ingestctl.clock import Clock
from ingestctl.config import Config
from ingestctl.events import Event, EventBus, EventKind, Handler
from ingestctl.jobs.retention import RetentionHook
from ingestctl.store import Store

Hook = Callable[[Store, Config, datetime], None]


class SerialBus(EventBus):
    """An EventBus facade that delivers one event at a time (re-entrant for nested emits)."""

    def __init__(self, inner: EventBus) -> None:
        super().__init__()
        self.inner = inner
        self.lock = threading.RLock()

    def subscribe(self, handler: Handler, kinds: Iterable[EventKind] | None = None) -> None:
        """Subscribe on the wrapped bus."""
        self.inner.subscribe(handler, kinds)

    def emit(self, event: Event) -> None:
        """Deliver ``event`` while no other thread delivers one."""
        with self.lock:
            self.inner.emit(event)


class AlertOutboxHook:
    """Flushes the alert outbox each step: deliveries that failed are retried when due."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._built: tuple[int, int] | None = None
        self._alerting: Alerting | None = None

    def __call__(self, store: Store, config: Config, now: datetime) -> None:
        key = (id(store), id(config))  # rebuilt after a reload (new config object)
        if self._alerting is None or self._built != key:
            self._alerting = Alerting(store, config, self.clock)
            self._built = key
        self._alerting.flush()


def default_hooks(clock: Clock) -> list[Hook]:
    """The hooks a scheduler runs each step unless told otherwise: the alert outbox and the
    daily prune of ``[retention]``."""
    return [AlertOutboxHook(clock), RetentionHook()]
