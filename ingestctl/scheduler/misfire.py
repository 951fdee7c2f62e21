"""The missed-run ledger, pure: which expected slots ran, were missed or were coalesced.

Driven by ``now`` and by the start times of the runs that happened, so it gives the same
answer in the daemon, in ``status`` and in ``health``. For each expected slot:

* ``run``: a run started within the grace time after the slot (``slot <= start <= slot +
  grace``);
* ``coalesced``: coalescing is on and a later slot's run started within the grace time of this
  one too: that one catch-up run covered both (APScheduler's ``coalesce``);
* ``missed``: the grace time passed with no run;
* ``pending``: no run yet, and the grace time has not passed.

Runs that match no slot (a manual ``ingestctl run NAME`` long after) are ignored. Defaults:
a grace time of one hour (not APScheduler's one second) and coalescing on.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ingestctl.config import ImportConfig
from ingestctl.scheduler.spec import EPOCH, Schedule, ScheduleKind, parse_schedule

DEFAULT_GRACE = 3600.0
DEFAULT_COALESCE = True
MAX_SLOTS = 10_000


class SlotOutcome(StrEnum):
    """What became of one expected slot."""

    RUN = "run"
    MISSED = "missed"
    COALESCED = "coalesced"
    PENDING = "pending"


@dataclass(frozen=True)
class SlotRecord:
    """One expected slot, its outcome and the start of the run that served it (if any)."""

    slot: datetime
    outcome: SlotOutcome
    run_at: datetime | None = None


def expected_slots(schedule: Schedule, since: datetime, until: datetime, *,
                   limit: int = MAX_SLOTS) -> list[datetime]:
    """The slots with ``since < slot <= until``, in UTC; only the latest ``limit`` if more."""
    slots: deque[datetime] = deque(maxlen=limit)
    end = until.astimezone(UTC)
    for slot in schedule.iter_runs(since):
        moment = slot.astimezone(UTC)
        if moment > end:
            break
        slots.append(moment)
    return list(slots)


def latest_slot(schedule: Schedule, at: datetime) -> datetime | None:
    """The latest slot at or before ``at``, in UTC (the slot a run fired at ``at`` serves).

    Jitter only delays a run, so the slot is the one before it; None when the schedule never
    fired in the last nine years.
    """
    moment = at.astimezone(UTC)
    if schedule.kind is ScheduleKind.INTERVAL:
        step = timedelta(seconds=schedule.interval)
        return EPOCH + step * ((moment - EPOCH) // step)
    for lookback in (timedelta(hours=2), timedelta(days=2), timedelta(days=63),
                     timedelta(days=366 * 9)):
        found = expected_slots(schedule, moment - lookback, moment, limit=1)
        if found:
            return found[-1]
    return None


def classify_slots(
    slots: Iterable[datetime],
    ran_at: Mapping[datetime, datetime] | Iterable[datetime],
    now: datetime,
    grace: float = DEFAULT_GRACE,
    coalesce: bool = DEFAULT_COALESCE,
) -> list[SlotRecord]:
    """Classify each slot as run, missed, coalesced or pending (see the module docstring).

    ``ran_at`` is either a mapping of slot to run start (when the scheduler recorded which
    slot a run was for) or the plain run start times, matched here: each run, oldest first,
    serves the latest slot not yet served that it started within grace of.
    """
    window = timedelta(seconds=grace)
    ordered = sorted({s.astimezone(UTC) for s in slots})
    served = _served(ordered, ran_at, window)
    # Earliest run start among the served slots after each position, for coalescing.
    later_run: list[datetime | None] = [None] * (len(ordered) + 1)
    for index in range(len(ordered) - 1, -1, -1):
        start = served.get(ordered[index])
        after = later_run[index + 1]
        later_run[index] = start if after is None or (start is not None and start < after) \
            else after
    records: list[SlotRecord] = []
    for index, slot in enumerate(ordered):
        start = served.get(slot)
        cover = later_run[index + 1]
        if start is not None:
            records.append(SlotRecord(slot, SlotOutcome.RUN, start))
        elif coalesce and cover is not None and cover - slot <= window:
            records.append(SlotRecord(slot, SlotOutcome.COALESCED, cover))
        elif now.astimezone(UTC) > slot + window:
            records.append(SlotRecord(slot, SlotOutcome.MISSED))
        else:
            records.append(SlotRecord(slot, SlotOutcome.PENDING))
    return records


def _served(ordered: list[datetime], ran_at: Mapping[datetime, datetime] | Iterable[datetime],
            window: timedelta) -> dict[datetime, datetime]:
    if isinstance(ran_at, Mapping):
        known = set(ordered)
        given = {s.astimezone(UTC): r.astimezone(UTC) for s, r in ran_at.items()}
        return {s: r for s, r in given.items() if s in known}
    served: dict[datetime, datetime] = {}
    for start in sorted(r.astimezone(UTC) for r in ran_at):
        low = bisect.bisect_left(ordered, start - window)
        high = bisect.bisect_right(ordered, start)
        free = [s for s in ordered[low:high] if s not in served]
        if free:
            served[free[-1]] = start
    return served


def missed_groups(records: Iterable[SlotRecord], coalesce: bool = DEFAULT_COALESCE,
                  ) -> list[list[SlotRecord]]:
    """Missed slots grouped for alerting: with coalescing one group (one alert) per unbroken
    series of misses, such as a daemon that was down; without it one group per miss."""
    groups: list[list[SlotRecord]] = []
    streak = False
    for record in records:
        if record.outcome is SlotOutcome.MISSED:
            if coalesce and streak:
                groups[-1].append(record)
            else:
                groups.append([record])
            streak = True
        else:
            streak = False
    return groups


def catch_up(records: Iterable[SlotRecord], coalesce: bool = DEFAULT_COALESCE) -> list[datetime]:
    """The pending slots already due that a (re)started daemon should run now, oldest first:
    only the latest one when coalescing."""
    pending = [r.slot for r in records if r.outcome is SlotOutcome.PENDING]
    return pending[-1:] if coalesce else pending


def apscheduler_job_kwargs(import_cfg: ImportConfig, *, path: str | None = None,
                           key: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``scheduler.add_job(func, **kwargs)`` for one configured import.

    ``import_cfg`` must have a schedule; ConfigError if it does not parse. The jitter is
    inside the trigger: ``add_job`` ignores a ``jitter`` keyword when given a trigger object.
    """
    schedule = parse_schedule(import_cfg.schedule, import_cfg.timezone, import_cfg.jitter,
                              path=path, key=key)
    return {
        "trigger": schedule.trigger(),
        "id": import_cfg.name,
        "name": import_cfg.name,
        # APScheduler wants a positive whole number of seconds.
        "misfire_grace_time": max(1, round(import_cfg.misfire_grace)),
        "coalesce": bool(import_cfg.coalesce),
        "max_instances": 1,
        "replace_existing": True,
    }
