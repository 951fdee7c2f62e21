"""Bulk loading on PostgreSQL: ``COPY`` into temporary staging tables, then one set-based merge.

Imported rows (sitemap URLs and their extensions, Merchant products, Search Console rows)
reach PostgreSQL this way instead of one ``INSERT`` per row: the rows stream with ``COPY``
into a temporary table of the writing transaction (``ON COMMIT DROP``), and one
``INSERT ... SELECT ... ON CONFLICT`` merges them into the target table. A staging table
numbers its rows (``seq``) in the order they arrived, and the merge reads the last row of each
key (:func:`latest`), so a key listed twice in one batch keeps its last listing, as SQLite's
one-row-at-a-time upserts do (PostgreSQL refuses to update one row twice in a statement).

Only PostgreSQL stores use this module; the callers import it when their store is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ingestctl.store.postgres import PostgresStore

#: The column numbering a staging table's rows in arrival order.
SEQ = "seq"
#: ``work_mem`` of a merging transaction: :func:`latest` sorts a staging table by key (a
#: sitemap staging file holds up to 20,000 URLs, about 20 MB to sort); PostgreSQL's default
#: 4 MB spills that sort to disk (merging 10 x 20,000 URLs took 1.03 s so, 0.75 s in memory).
MERGE_WORK_MEM = "64MB"


def sort_in_memory(store: PostgresStore) -> None:
    """Let the current transaction sort a staging table in memory (``SET LOCAL``)."""
    store.conn.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")


def copy_rows(store: PostgresStore, table: str, columns: str,
              rows: Iterable[Sequence[Any]]) -> int:
    """``COPY`` ``rows`` into ``table`` on the thread's transaction; how many were sent."""
    count = 0
    with (store.errors(), store.connection() as raw, raw.cursor() as cursor,
          cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def stage(store: PostgresStore, name: str, like: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> int:
    """Create the temporary table ``name`` with ``columns`` typed as in the table ``like``
    (no constraints) plus :data:`SEQ`, dropped at COMMIT, and ``COPY`` ``rows`` into it in
    order; how many rows. Call it inside ``store.write()``."""
    listed = ", ".join(columns)
    sort_in_memory(store)
    store.conn.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT 0::bigint AS {SEQ}, "
                       f"{listed} FROM {like} WITH NO DATA")
    return copy_rows(store, name, f"{SEQ}, {listed}",
                     ((seq, *row) for seq, row in enumerate(rows)))


def latest(name: str, columns: Sequence[str], key: Sequence[str], where: str = "true") -> str:
    """A subquery (``AS staged``) of the staging table ``name``: of its rows matching
    ``where``, the last of each key."""
    keys = ", ".join(key)
    return (f"(SELECT DISTINCT ON ({keys}) {', '.join(columns)} FROM {name} WHERE {where} "
            f"ORDER BY {keys}, {SEQ} DESC) AS staged")
