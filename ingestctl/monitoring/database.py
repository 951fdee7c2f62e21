"""``ingestctl db check`` and ``ingestctl db migrate``: the store's backend, reachability,
migration level and (PostgreSQL) pool, read without migrating anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestctl.config import StoreConfig
from ingestctl.errors import StoreError
from ingestctl.paths import Home
from ingestctl.store import SQLITE, location, open_store
from ingestctl.store.schema import MIGRATIONS


@dataclass
class DatabaseReport:
    """What ``db check`` says about the store."""

    backend: str
    where: str
    reachable: bool = False
    error: str | None = None
    server: str | None = None
    schema_version: int | None = None
    schema_latest: int = len(MIGRATIONS)
    pool: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        """Migrations this database has not applied yet."""
        return max(0, self.schema_latest - (self.schema_version or 0))

    @property
    def ok(self) -> bool:
        """Reachable and at exactly the schema this ingestctl knows."""
        return self.reachable and self.schema_version == self.schema_latest

    def to_json(self) -> dict[str, Any]:
        """The ``db check --json`` shape."""
        return {"backend": self.backend, "database": self.where, "reachable": self.reachable,
                "error": self.error, "server": self.server,
                "schema_version": self.schema_version, "schema_latest": self.schema_latest,
                "pending_migrations": self.pending, "pool": self.pool, "ok": self.ok}


def check_database(home: Home, cfg: StoreConfig) -> DatabaseReport:
    """Open the store read-only (nothing is migrated) and describe it."""
    backend = "postgres" if cfg.url else SQLITE
    report = DatabaseReport(backend, _shown(home, cfg))
    try:
        with open_store(home, cfg, readonly=True) as store:
            report.where = store.where
            report.server = store.server_version
            report.schema_version = store.schema_version
            report.pool = dict(store.pool_stats())
            report.reachable = True
    except StoreError as exc:
        report.error = exc.reason
    return report


def migrate_database(home: Home, cfg: StoreConfig) -> tuple[int, int]:
    """Bring the store to the latest schema (creating it if needed): (before, after)."""
    before = check_database(home, cfg)
    if not before.reachable and cfg.url:
        raise StoreError(before.where, before.error or "unreachable",
                         "check that the server runs and [store] url (or INGESTCTL_DB_URL)")
    home.ensure()
    with open_store(home, cfg) as store:  # opening read-write migrates
        return before.schema_version or 0, store.schema_version


def _shown(home: Home, cfg: StoreConfig) -> str:
    from ingestctl.redact import redact_url

    return redact_url(cfg.url) if cfg.url else str(location(home, cfg))
