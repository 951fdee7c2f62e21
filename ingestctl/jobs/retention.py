"""Retention: ``ingestctl prune`` and the scheduler's daily prune (docs/guide/operations.md).

A prune deletes the history older than ``[retention] older_than`` that
:mod:`ingestctl.store.retention` allows (never an active dead letter, never what ``health``,
``status`` or ``metrics`` read), then runs ``PRAGMA optimize`` and an incremental vacuum.
The limit can never be shorter than a day nor than ``[health] window``, so the window the
read models look at is always kept whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingestctl.clock import from_iso, iso_out, to_iso
from ingestctl.config import Config
from ingestctl.errors import ConfigError, UsageError
from ingestctl.scheduler.misfire import latest_slot
from ingestctl.scheduler.spec import LOCAL, parse_schedule
from ingestctl.store import Store
from ingestctl.store import retention as retention_store
from ingestctl.store import scheduling as sched_store
from ingestctl.store.retention import Removed, SpaceReport
from ingestctl.units import format_duration

log = logging.getLogger("ingestctl.jobs.retention")

MIN_OLDER_THAN = 86400.0
LAST_RUN_KEY = "retention_last_run"


def shortest_limit(config: Config) -> float:
    """The shortest retention allowed: a day, or ``[health] window`` when longer."""
    return max(MIN_OLDER_THAN, config.health.window)


def check_older_than(seconds: float, config: Config, *, option: bool) -> None:
    """Refuse a limit shorter than :func:`shortest_limit` (a usage or a config error)."""
    floor = shortest_limit(config)
    if seconds >= floor:
        return
    why = (f"{format_duration(seconds)} is shorter than {format_duration(floor)} (a day, or "
           "[health] window when longer): health, status and metrics read that window")
    if option:
        raise UsageError(f"--older-than {why}", hint="pass a longer limit such as 90d")
    raise ConfigError(f"found {format_duration(seconds)}: {why}",
                      path=str(config.path) if config.path else None,
                      key="retention.older_than")


def check_config(config: Config) -> None:
    """Validate ``[retention]``: its limit and its schedule (ConfigError naming the key)."""
    check_older_than(config.retention.older_than, config, option=False)
    retention_schedule(config)


def retention_schedule(config: Config) -> Any:
    """The parsed ``[retention] schedule`` (host time, as cron reads it)."""
    return parse_schedule(config.retention.schedule, LOCAL, 0,
                          path=str(config.path) if config.path else None, key="retention")


@dataclass
class PruneReport:
    """What a prune removed (or would remove) and the space it gave back."""

    cutoff: datetime
    older_than: float
    dry_run: bool
    removed: Removed
    space: SpaceReport | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``prune --json`` object."""
        space = self.space
        return {
            "cutoff": iso_out(to_iso(self.cutoff)), "older_than": self.older_than,
            "dry_run": self.dry_run, "removed": self.removed.as_dict(),
            "space": None if space is None else {
                "auto_vacuum": space.auto_vacuum, "page_size": space.page_size,
                "free_pages_before": space.free_pages_before,
                "free_pages_after": space.free_pages_after,
                "bytes_released": (space.free_pages_before - space.free_pages_after)
                * space.page_size,
                "bytes_reusable": space.free_pages_after * space.page_size},
        }


def prune(store: Store, config: Config, now: datetime, *, older_than: float | None = None,
          dry_run: bool = False, vacuum: bool = False,
          between_batches: Callable[[], None] | None = None) -> PruneReport:
    """Delete (or with ``dry_run`` count) the history older than the limit, then vacuum."""
    limit = config.retention.older_than if older_than is None else older_than
    check_older_than(limit, config, option=older_than is not None)
    cutoff = now - timedelta(seconds=limit)
    stamp = to_iso(cutoff) or ""
    if dry_run:
        return PruneReport(cutoff, limit, True, retention_store.count_old(store, stamp))
    removed = retention_store.delete_old(store, stamp, between_batches=between_batches)
    space = retention_store.optimize_and_vacuum(store, full=vacuum)
    log.info("pruned history older than %s (%s): %s", format_duration(limit),
             iso_out(stamp), ", ".join(f"{n} {table}" for table, n in
                                       removed.as_dict().items()) or "nothing")
    return PruneReport(cutoff, limit, False, removed, space)


class RetentionHook:
    """The scheduler's daily prune: once per slot of ``[retention] schedule``, caught up once
    after the daemon was down."""

    def __init__(self, between_batches: Callable[[], None] | None = None) -> None:
        self.between_batches = between_batches

    def __call__(self, store: Store, config: Config, now: datetime) -> None:
        if not config.retention.enabled:
            return

        slot = latest_slot(retention_schedule(config), now)
        last = from_iso(sched_store.get_state(store, LAST_RUN_KEY))
        if slot is None or (last is not None and last >= slot):
            return
        sched_store.set_state(store, LAST_RUN_KEY, to_iso(now) or "", now)
        prune(store, config, now, between_batches=self.between_batches)
