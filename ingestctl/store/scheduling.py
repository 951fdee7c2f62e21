"""Queries of the scheduler: its state (heartbeat, ledger cursors) and the schedule-slot ledger.

``scheduler_state`` holds one row per key; ``heartbeat`` (value and ``updated_at``: the ISO
time of the last beat) is what the health check and the metrics read. ``schedule_slots`` has one
row per expected slot of a scheduled import once its outcome is known: ``run``, ``skipped``
(fired while the import was still running or waiting for a retry), ``coalesced`` or
``missed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingestctl.clock import from_iso, to_iso
from ingestctl.models.jobs import Job
from ingestctl.store.database import Store
from ingestctl.store.jobs import _job

HEARTBEAT = "heartbeat"
INFO = "scheduler"
CURSOR_PREFIX = "ledger_cursor:"
SERVED = ("run", "skipped")


def set_state(store: Store, key: str, value: str, now: datetime) -> None:
    """Write one state value."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO scheduler_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at", (key, value, to_iso(now)))


def get_state(store: Store, key: str) -> str | None:
    """One state value, or None."""
    value = store.scalar("SELECT value FROM scheduler_state WHERE key = ?", (key,))
    return str(value) if value is not None else None


def write_heartbeat(store: Store, now: datetime, info: dict[str, Any] | None = None) -> None:
    """Record that the scheduler is alive (and who it is) now."""
    stamp = to_iso(now) or ""
    with store.write() as conn:
        rows = [(HEARTBEAT, stamp)]
        if info is not None:
            rows.append((INFO, json.dumps(info, sort_keys=True)))
        for key, value in rows:
            conn.execute(
                "INSERT INTO scheduler_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at", (key, value, stamp))


def ledger_cursor(store: Store, name: str) -> datetime | None:
    """The time up to which the slots of import ``name`` are final."""
    return from_iso(get_state(store, CURSOR_PREFIX + name))


def set_ledger_cursor(store: Store, name: str, cursor: datetime, now: datetime) -> None:
    """Move the ledger cursor of import ``name``."""
    set_state(store, CURSOR_PREFIX + name, to_iso(cursor) or "", now)


def record_run(store: Store, name: str, slot: datetime, run_at: datetime, outcome: str,
               job_id: int | None, now: datetime) -> None:
    """Record that the scheduler fired import ``name`` for ``slot`` (``run`` or ``skipped``)."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO schedule_slots (import_name, slot_at, outcome, run_at, job_id, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(import_name, slot_at) DO UPDATE "
            "SET outcome = excluded.outcome, run_at = excluded.run_at, "
            "job_id = coalesce(excluded.job_id, schedule_slots.job_id), "
            "recorded_at = excluded.recorded_at",
            (name, to_iso(slot), outcome, to_iso(run_at), job_id, to_iso(now)))


def claim_slot(store: Store, name: str, slot: datetime, run_at: datetime,
               now: datetime) -> bool:
    """Record that import ``name`` runs for ``slot``, unless the slot was already run or
    skipped; True when this call claimed it. One statement, so of two schedulers firing the
    same slot (a leader that just died and its successor) exactly one runs it."""
    with store.write() as conn:
        row = conn.execute(
            "INSERT INTO schedule_slots (import_name, slot_at, outcome, run_at, recorded_at) "
            "VALUES (?, ?, 'run', ?, ?) ON CONFLICT(import_name, slot_at) DO UPDATE "
            "SET outcome = 'run', run_at = excluded.run_at, recorded_at = excluded.recorded_at "
            f"WHERE schedule_slots.outcome NOT IN {SERVED} RETURNING slot_at",
            (name, to_iso(slot), to_iso(run_at), to_iso(now))).fetchone()
    return row is not None


def set_slot_job(store: Store, name: str, slot: datetime, job_id: int) -> None:
    """Attach the job a fired slot created or picked up."""
    with store.write() as conn:
        conn.execute("UPDATE schedule_slots SET job_id = ? WHERE import_name = ? AND slot_at = ?",
                     (job_id, name, to_iso(slot)))


def record_outcomes(store: Store, name: str,
                    outcomes: Iterable[tuple[datetime, str, datetime | None]],
                    now: datetime) -> int:
    """Record classified slots (slot, outcome, run_at) not yet in the ledger; returns how many."""
    added = 0
    with store.write() as conn:
        for slot, outcome, run_at in outcomes:
            cursor = conn.execute(
                "INSERT INTO schedule_slots (import_name, slot_at, outcome, run_at, "
                "recorded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (name, to_iso(slot), outcome, to_iso(run_at), to_iso(now)))
            added += cursor.rowcount
    return added


def slot_outcome(store: Store, name: str, slot: datetime) -> str | None:
    """The recorded outcome of one slot, if any."""
    value = store.scalar("SELECT outcome FROM schedule_slots WHERE import_name = ? AND "
                         "slot_at = ?", (name, to_iso(slot)))
    return str(value) if value is not None else None


def last_run_at(store: Store, name: str) -> datetime | None:
    """When the scheduler last started import ``name`` for a slot."""
    return from_iso(store.scalar("SELECT max(run_at) FROM schedule_slots WHERE import_name = ? "
                                 "AND outcome = 'run'", (name,)))


def served_slots(store: Store, name: str, since: datetime) -> dict[datetime, datetime]:
    """Slots after ``since`` that the scheduler fired, mapped to when it fired them."""
    rows = store.query(
        "SELECT slot_at, run_at FROM schedule_slots WHERE import_name = ? AND slot_at > ? "
        f"AND outcome IN {SERVED} AND run_at IS NOT NULL", (name, to_iso(since)))
    served: dict[datetime, datetime] = {}
    for row in rows:
        slot, run = from_iso(row["slot_at"]), from_iso(row["run_at"])
        if slot is not None and run is not None:
            served[slot] = run
    return served


@dataclass
class SlotSummary:
    """The ledger of one import at a glance."""

    import_name: str
    missed: int = 0
    coalesced: int = 0
    run: int = 0
    skipped: int = 0
    last_slot: str | None = None
    last_outcome: str | None = None
    last_missed: str | None = None


def slot_summaries(store: Store, since: datetime | None = None) -> dict[str, SlotSummary]:
    """Per import: counts of each outcome (after ``since`` when given) and the latest slot."""
    bound = to_iso(since) or ""
    summaries: dict[str, SlotSummary] = {}
    for row in store.query(
            "SELECT import_name, outcome, count(*) AS n, max(slot_at) AS latest "
            "FROM schedule_slots WHERE slot_at > ? GROUP BY import_name, outcome", (bound,)):
        summary = summaries.setdefault(row["import_name"], SlotSummary(row["import_name"]))
        if row["outcome"] in ("missed", "coalesced", "run", "skipped"):
            setattr(summary, row["outcome"], int(row["n"]))
        if row["outcome"] == "missed":
            summary.last_missed = row["latest"]
    for row in store.query(
            "SELECT s.import_name, s.slot_at, s.outcome FROM schedule_slots s JOIN ("
            "SELECT import_name, max(slot_at) AS latest FROM schedule_slots WHERE slot_at > ? "
            "GROUP BY import_name) m ON m.import_name = s.import_name AND m.latest = s.slot_at",
            (bound,)):
        summary = summaries.setdefault(row["import_name"], SlotSummary(row["import_name"]))
        summary.last_slot, summary.last_outcome = row["slot_at"], row["outcome"]
    return summaries


def latest_jobs(store: Store, import_keys: Iterable[str]) -> dict[str, Job]:
    """The newest job of each import key that has one."""
    keys = list(import_keys)
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    # Through imports (jobs.import_key is a copy of imports.key): one indexed max(id) per
    # import instead of a scan of every job's key.
    rows = store.query(
        "SELECT j.* FROM imports i JOIN jobs j ON j.id = (SELECT max(id) FROM jobs "
        f"WHERE import_id = i.id) WHERE i.key IN ({marks})", keys)
    return {row["import_key"]: _job(row) for row in rows}
