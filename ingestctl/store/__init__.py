"""Storage: the only package that knows SQL (SQLite, or PostgreSQL through psycopg)."""

from ingestctl.store.database import POSTGRES, SQLITE, Store, location, open_store

__all__ = ["POSTGRES", "SQLITE", "Store", "location", "open_store"]
