"""Health and metrics snapshots for the scheduler's ``/healthz`` and ``/metrics``.

The store's snapshot functions belong to the monitoring capability
(``ingestctl.store.monitoring``: ``health_snapshot(store, config, now, breakers_path)`` and
``metrics_snapshot(store, now, breakers_path)``), used here whenever that module exists.

REPLACE-ME once ``ingestctl.store.monitoring`` is on main: the ``_fallback_*`` functions below
are a stand-in so the endpoints work before it lands; they fill only the database, dead-letter
and scheduler-heartbeat readings. Delete them and call the monitoring functions directly.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from ingestctl.config import Config
from ingestctl.health.evaluate import HealthSnapshot
from ingestctl.metrics.collector import MetricsSnapshot
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import scheduling as sched_store

MONITORING_MODULE = "ingestctl.store.monitoring"


def _monitoring() -> ModuleType | None:
    try:
        return importlib.import_module(MONITORING_MODULE)
    except ImportError:
        return None


def health_snapshot(store: Store, config: Config, now: datetime,
                    breakers_path: Path) -> HealthSnapshot:
    """The health snapshot of the store (monitoring's, else the stand-in)."""
    module = _monitoring()
    if module is not None:
        snapshot: Any = module.health_snapshot(store, config, now, breakers_path)
        return snapshot  # type: ignore[no-any-return]
    return _fallback_health(store)


def metrics_snapshot(store: Store, now: datetime, breakers_path: Path) -> MetricsSnapshot:
    """The metrics snapshot of the store (monitoring's, else the stand-in)."""
    module = _monitoring()
    if module is not None:
        snapshot: Any = module.metrics_snapshot(store, now, breakers_path)
        return snapshot  # type: ignore[no-any-return]
    return _fallback_metrics(store)


def _fallback_health(store: Store) -> HealthSnapshot:
    """REPLACE-ME: database, active dead letters and the scheduler heartbeat only."""
    return HealthSnapshot(dead_letters=dl_store.count_active(store),
                          scheduler_heartbeat=sched_store.last_heartbeat(store))


def _fallback_metrics(store: Store) -> MetricsSnapshot:
    """REPLACE-ME: active dead letters and the scheduler heartbeat only."""
    beat = sched_store.last_heartbeat(store)
    return MetricsSnapshot(dead_letters=dl_store.count_active(store),
                           scheduler_heartbeat_timestamp=beat.timestamp() if beat else None)
