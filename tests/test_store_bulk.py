"""Imported Google rows on both backends: the same rows after the same pages, whether they went
in row by row (SQLite) or through COPY into a staging table and one merge (PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingestctl.models.jobs import JobSpec
from ingestctl.sources.google.merchant_api import parse_product
from ingestctl.store import Store
from ingestctl.store import google as g_store
from ingestctl.store import jobs as job_store
from ingestctl.store import search_console as sc_store
from ingestctl.store.database import POSTGRES
from tests.fakes.merchant_data import product

ACCOUNT = "4242"
T1, T2, T3 = "2026-01-10T10:00:00.000000Z", "2026-01-11T10:00:00.000000Z", \
    "2026-01-12T10:00:00.000000Z"


def _import_and_jobs(store: Store, spec: JobSpec, jobs: int) -> tuple[int, list[int]]:
    """An import and ``jobs`` jobs of it, each but the last finished (one is active at most)."""
    ids = []
    with store.write() as conn:
        import_id = job_store.ensure_import(conn, spec, T1)
        for _ in range(jobs):
            ids.append(job_store.insert_job(conn, spec, import_id, 3, T1))
            if len(ids) < jobs:
                conn.execute("UPDATE jobs SET status = 'completed', finished_at = ? "
                             "WHERE id = ?", (T1, ids[-1]))
    return import_id, ids


def _columns(index: int, **changes: Any) -> dict[str, Any]:
    item = product(ACCOUNT, index)
    item["productAttributes"].update(changes)
    return parse_product(item, url="https://merchantapi.example/").columns()


def _products(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.query("SELECT * FROM merchant_products ORDER BY name")
    return {r["name"]: {k: r[k] for k in r.keys() if k != "id"}  # noqa: SIM118
            for r in rows}


@pytest.fixture
def copies(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(staging table, rows) of every COPY the PostgreSQL store ran (none on SQLite)."""
    seen: list[tuple[str, int]] = []
    if store.dialect != POSTGRES:
        return seen
    from ingestctl.store import bulk_pg

    real = bulk_pg.copy_rows

    def spy(store: Any, table: str, columns: str, rows: Any) -> int:
        count = real(store, table, columns, rows)
        seen.append((table, count))
        return count

    monkeypatch.setattr(bulk_pg, "copy_rows", spy)
    return seen


def test_products_pages_upsert_update_and_clear_removal(
        store: Store, copies: list[tuple[str, int]]) -> None:
    import_id, (job1, job2) = _import_and_jobs(store, JobSpec("merchant", ACCOUNT), 2)
    first = [_columns(i) for i in range(250)]
    # A product listed twice in one page keeps its last listing, as row-by-row upserts do.
    first.append(_columns(7, title="Seventh, listed again"))
    assert g_store.upsert_products(store, import_id, job1, first, T1, {"page": 1}) == 251
    rows = _products(store)
    assert len(rows) == 250
    seventh = rows[f"accounts/{ACCOUNT}/products/en~US~sku0007"]
    assert seventh["title"] == "Seventh, listed again"
    assert (seventh["price_micros"], seventh["currency"]) == (8_000_000, "EUR")
    assert json.loads(seventh["raw"])["offerId"] == "sku0007"
    assert json.loads(seventh["gtins"]) == first[7]["gtins"]
    assert (seventh["first_seen"], seventh["last_seen"], seventh["last_job_id"]) == (
        T1, T1, job1)
    assert g_store.load_cursor(store, job1) == {"page": 1}

    # The second job lists 100 of them, one changed: the rest are marked removed...
    second = [_columns(i) for i in range(100)]
    second[3] = _columns(3, price={"amountMicros": "123", "currencyCode": "USD"})
    assert g_store.upsert_products(store, import_id, job2, second, T2, {"page": 2}) == 100
    assert g_store.mark_removed_products(store, import_id, job2, T2) == 150
    assert g_store.count_listed_products(store, import_id) == 100
    rows = _products(store)
    third = rows[f"accounts/{ACCOUNT}/products/en~US~sku0003"]
    assert (third["price_micros"], third["currency"], third["first_seen"],
            third["last_seen"], third["last_job_id"]) == (123, "USD", T1, T2, job2)
    gone = rows[f"accounts/{ACCOUNT}/products/en~US~sku0200"]
    assert (gone["removed_at"], gone["removed_job_id"]) == (T2, job2)

    # ...and listed again, a product is back.
    g_store.upsert_products(store, import_id, job2, [_columns(200)], T3, {"page": 3})
    back = _products(store)[f"accounts/{ACCOUNT}/products/en~US~sku0200"]
    assert (back["removed_at"], back["removed_job_id"], back["last_seen"]) == (None, None, T3)
    assert g_store.count_products(store, import_id, job2) == 101
    if store.dialect == POSTGRES:
        assert copies == [("stage_products", 251), ("stage_products", 100),
                          ("stage_products", 1)]
        # The staging tables went with their transactions.
        assert store.scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'stage_%'") == 0
    else:
        assert copies == []


def _analytics(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query(
        "SELECT search_type, dimensions, date, query, page, country, device, "
        "search_appearance, clicks, impressions, ctr, position, data_state, last_job_id "
        "FROM search_analytics ORDER BY dimensions, date, query, page")]


def test_search_analytics_pages_upsert_and_keep_the_last_of_a_key(
        store: Store, copies: list[tuple[str, int]]) -> None:
    import_id, (job1, job2) = _import_and_jobs(
        store, JobSpec("search_console", "sc-domain:shop.example"), 2)
    dims = "date,query,page,country,device"
    page = [(f"2026-01-0{1 + i % 3}", f"query {i}", f"https://shop.example/{i}", "deu",
             "MOBILE", "", float(i), float(10 * i), 0.1, 2.5 + i, "all") for i in range(300)]
    # Same key twice: the later row wins.
    page.append(("2026-01-01", "query 0", "https://shop.example/0", "deu", "MOBILE", "",
                 9.0, 90.0, 0.1, 1.25, "all"))
    assert sc_store.upsert_rows(store, import_id, job1, "web", dims, page, T1,
                                {"row": 301}) == 301
    totals = [("2026-01-01", "", "", "", "", "", 4.0, 400.0, 0.01, None, "final")]
    sc_store.upsert_rows(store, import_id, job1, "web", "date", totals, T1, {"row": 1})
    rows = _analytics(store)
    assert len(rows) == 301
    assert rows[0] == ("web", "date", "2026-01-01", "", "", "", "", "", 4.0, 400.0, 0.01, None,
                       "final", job1)
    first = next(r for r in rows if r[3] == "query 0")
    assert first[8:] == (9.0, 90.0, 0.1, 1.25, "all", job1)

    # A final version of the same rows replaces the provisional figures.
    final = [(*row[:6], row[6] + 1, row[7], row[8], row[9], "final") for row in page[:50]]
    sc_store.upsert_rows(store, import_id, job2, "web", dims, final, T2, {"row": 50})
    rows = _analytics(store)
    assert len(rows) == 301
    assert sum(1 for r in rows if r[12] == "final" and r[13] == job2) == 50
    assert next(r for r in rows if r[3] == "query 1")[8:] == (2.0, 10.0, 0.1, 3.5, "final",
                                                              job2)
    assert g_store.load_cursor(store, job2) == {"row": 50}
    if store.dialect == POSTGRES:
        assert copies == [("stage_analytics", 301), ("stage_analytics", 1),
                          ("stage_analytics", 50)]
    else:
        assert copies == []


def test_a_failing_merge_leaves_neither_rows_nor_cursor(store: Store) -> None:
    import_id, (job,) = _import_and_jobs(store, JobSpec("merchant", ACCOUNT), 1)
    bad = _columns(1)
    bad["offer_id"] = None  # NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.IntegrityError or StoreError
        g_store.upsert_products(store, import_id, job, [_columns(0), bad], T1, {"page": 1})
    assert _products(store) == {}
    assert g_store.load_cursor(store, job) is None
