"""Where `ingestctl` subprocesses keep their store on each backend, and how a test reads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestctl.store import Store


@dataclass
class Backend:
    """A store location (SQLite file or PostgreSQL URL) and the environment that selects it."""

    name: str
    location: Path | str
    env: dict[str, str]

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` as tuples."""
        with Store(self.location) as store:
            return [tuple(r) for r in store.query(sql, params)]

    def execute(self, sql: str, params: Any = ()) -> None:
        """Run ``sql`` in a write transaction."""
        with Store(self.location) as store, store.write() as conn:
            conn.execute(sql, params)
