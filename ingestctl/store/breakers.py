"""Circuit breaker rows of a PostgreSQL store (``breakers``): one per key, the shape of an
entry of breakers.json, which SQLite homes keep instead.

A state change reads the key's row ``FOR UPDATE`` and writes it back in one transaction, so
processes on every host see one breaker, and of those asking at once exactly one becomes the
half-open probe (the row lock orders them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ingestctl.store.database import POSTGRES, Connection, Store

COLUMNS = ("key", "state", "failures", "successes", "opened_at", "open_until", "probe_owner",
           "probe_until", "last_error_class", "updated_at")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM breakers"


def _lock(store: Store) -> str:
    return " FOR UPDATE" if store.dialect == POSTGRES else ""


def lock(store: Store, key: str | None, *, create: bool = False) -> dict[str, dict[str, Any]]:
    """Inside ``store.write()``: the row of ``key`` (every row when None), locked until the
    transaction ends. ``create`` first adds a closed row for a new key, so the lock has a row
    to hold; :func:`save` drops it again if nothing was recorded."""
    if key is None:
        rows = store.query(_SELECT + " ORDER BY key" + _lock(store))
    else:
        if create:
            store.conn.execute("INSERT INTO breakers (key, state) VALUES (?, 'closed') "
                               "ON CONFLICT DO NOTHING", (key,))
        rows = store.query(_SELECT + " WHERE key = ?" + _lock(store), (key,))
    return {row["key"]: {name: row[name] for name in COLUMNS} for row in rows}


def save(conn: Connection, rows: Mapping[str, Mapping[str, Any]], deleted: Iterable[str]) -> None:
    """Write ``rows`` (the JSON shape of a breaker) and delete the keys in ``deleted``."""
    for key in deleted:
        conn.execute("DELETE FROM breakers WHERE key = ?", (key,))
    assignments = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[1:])
    marks = ", ".join("?" * len(COLUMNS))
    for key, row in rows.items():
        conn.execute(f"INSERT INTO breakers ({', '.join(COLUMNS)}) VALUES ({marks}) "
                     f"ON CONFLICT(key) DO UPDATE SET {assignments}",
                     [key, *(row.get(name) for name in COLUMNS[1:])])


def load(store: Store) -> list[dict[str, Any]]:
    """Every breaker row, by key (no lock)."""
    return [{name: row[name] for name in COLUMNS} for row in store.query(_SELECT + " ORDER BY key")]
