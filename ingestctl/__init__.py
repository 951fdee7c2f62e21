"""ingestctl: run and schedule data imports into SQLite that never fail silently."""

__version__ = "0.1.0"
