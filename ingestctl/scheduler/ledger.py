"""The missed-run ledger in the store, advanced by each scheduler step.

For each scheduled import a cursor marks the time up to which its slots are final. A step
classifies the slots between the cursor and ``now`` (:func:`ingestctl.scheduler.misfire.
classify_slots`, against the slots the scheduler fired), records the missed and coalesced ones,
emits one ``schedule_missed`` event per group of misses, and moves the cursor past every final
slot. On the very first step of an import the cursor starts at ``now``: nothing is backfilled.

The ``schedule_missed`` event: ``import_key`` is the import's name; ``data`` has ``import``,
``slot`` (the latest missed slot), ``last_run_at`` (the scheduler's last start of it, or None),
``count``, ``slots``, ``first_slot``, ``last_slot`` (ISO UTC, seconds), ``misfire_grace``
(seconds), ``coalesce``, ``schedule`` (its description) and ``source``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from ingestctl.clock import iso_out, to_iso
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.scheduler.configured import ScheduledImport
from ingestctl.scheduler.misfire import (
    SlotOutcome,
    SlotRecord,
    catch_up,
    classify_slots,
    expected_slots,
    missed_groups,
)
from ingestctl.store import Store
from ingestctl.store import scheduling as sched_store
from ingestctl.units import format_duration

log = logging.getLogger("ingestctl.scheduler")

_FINAL = (SlotOutcome.MISSED, SlotOutcome.COALESCED)


@dataclass
class LedgerStep:
    """What one ledger update found for one import."""

    name: str
    records: list[SlotRecord] = field(default_factory=list)
    missed: list[list[datetime]] = field(default_factory=list)
    due: list[datetime] = field(default_factory=list)  # pending slots already due (catch-up)


def update_import(store: Store, item: ScheduledImport, now: datetime,
                  events: EventBus) -> LedgerStep:
    """Classify and record the slots of one import since its cursor; see the module docstring."""
    name, cfg = item.name, item.config
    step = LedgerStep(name)
    cursor = sched_store.ledger_cursor(store, name)
    if cursor is None:
        sched_store.set_ledger_cursor(store, name, now, now)
        return step
    slots = expected_slots(item.schedule, cursor, now)
    if not slots:
        return step
    served = sched_store.served_slots(store, name, cursor)
    records = classify_slots(slots, served, now, cfg.misfire_grace, cfg.coalesce)
    step.records = records
    finals = [(r.slot, r.outcome.value, r.run_at) for r in records if r.outcome in _FINAL]
    new: set[datetime] = set()
    for slot, outcome, run_at in finals:
        if sched_store.record_outcomes(store, name, [(slot, outcome, run_at)], now):
            new.add(slot)
    fresh = [r for r in records if r.slot in new or r.outcome is not SlotOutcome.MISSED]
    for group in missed_groups(fresh, cfg.coalesce):
        slots_missed = [r.slot for r in group]
        step.missed.append(slots_missed)
        _emit_missed(store, events, item, slots_missed, now)
    step.due = catch_up(records, cfg.coalesce)
    first_pending = next((r.slot for r in records if r.outcome is SlotOutcome.PENDING), None)
    final_upto = [r.slot for r in records if first_pending is None or r.slot < first_pending]
    if final_upto:
        sched_store.set_ledger_cursor(store, name, final_upto[-1], now)
    return step


def _emit_missed(store: Store, events: EventBus, item: ScheduledImport,
                 slots: list[datetime], now: datetime) -> None:
    grace = format_duration(item.config.misfire_grace)
    stamps = [iso_out(to_iso(s)) or "" for s in slots]
    shown = stamps[0] if len(stamps) == 1 else f"{stamps[0]} to {stamps[-1]}"
    log.warning("import %s missed %d scheduled run(s) (%s): no run within the misfire grace "
                "of %s", item.name, len(slots), shown, grace,
                extra={"import_key": item.name})
    last_run = sched_store.last_run_at(store, item.name)
    events.emit(Event(EventKind.SCHEDULE_MISSED, now, None, item.name, {
        "import": item.name, "slot": stamps[-1], "last_run_at": iso_out(to_iso(last_run)),
        "count": len(slots), "slots": stamps,
        "first_slot": stamps[0], "last_slot": stamps[-1],
        "misfire_grace": item.config.misfire_grace, "coalesce": item.config.coalesce,
        "schedule": item.schedule.describe(), "source": item.config.source}))
