"""Monotonic counters kept in the store, so short-lived cron processes lose no increment."""

from __future__ import annotations

import json

from ingestctl.store.database import Connection, Store


def label_key(labels: dict[str, str]) -> str:
    """The canonical text form of a label set."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def increment(conn: Connection, name: str, labels: dict[str, str],
              by: float = 1) -> None:
    """Add ``by`` to the counter ``name{labels}``."""
    conn.execute(
        "INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) "
        "ON CONFLICT(name, labels) DO UPDATE SET value = counters.value + excluded.value",
        (name, label_key(labels), by))


def read(store: Store, name: str) -> list[tuple[dict[str, str], float]]:
    """Every label set of counter ``name`` with its value."""
    rows = store.query("SELECT labels, value FROM counters WHERE name = ?", (name,))
    return [(json.loads(r["labels"]), float(r["value"])) for r in rows]
