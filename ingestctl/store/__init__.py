"""SQLite storage: the only package that knows SQL and sqlite-utils."""

from ingestctl.store.database import Store

__all__ = ["Store"]
