"""Periodic work other capabilities plug into the scheduler's step.

``flush_alert_outbox`` is the seam for the alert outbox (issue 6): when a module
``ingestctl.alerting`` exposing ``flush_outbox(store, config, now)`` exists, each scheduler step
calls it; until then this hook is a no-op. Hooks run in the scheduler's main thread with its own
store connection; an exception in one is logged and never stops the scheduler.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime

from ingestctl.config import Config
from ingestctl.store import Store

log = logging.getLogger("ingestctl.scheduler")

Hook = Callable[[Store, Config, datetime], None]
ALERTING_MODULE = "ingestctl.alerting"
ALERTING_FLUSH = "flush_outbox"


def _alerting_flush() -> Hook | None:
    try:
        module = importlib.import_module(ALERTING_MODULE)
    except ImportError:
        return None
    flush = getattr(module, ALERTING_FLUSH, None)
    return flush if callable(flush) else None


def flush_alert_outbox(store: Store, config: Config, now: datetime) -> None:
    """Deliver due alerts of the outbox (``ingestctl.alerting.flush_outbox``) if it exists."""
    flush = _alerting_flush()
    if flush is not None:
        flush(store, config, now)


DEFAULT_HOOKS: tuple[Hook, ...] = (flush_alert_outbox,)
