"""A large sitemap import into PostgreSQL against SQLite, in the same run.

Generates and serves the index of ``bench/sitemap_throughput.py`` (20 children, half gzipped,
every URL with lastmod, changefreq, priority, one image and a query string), then runs
``python -m ingestctl run sitemap INDEX`` as its own process into a fresh SQLite home and into
a fresh PostgreSQL database (``INGESTCTL_DB_URL``), where the parse helpers' rows are loaded
with ``COPY`` into temporary staging tables and merged with ``INSERT ... ON CONFLICT``. Prints
wall time, URLs per second, the job's own time (start to finish as the store recorded it),
the rows stored, and the ratio.

PostgreSQL is the server at ``--url``; without it a throwaway cluster is started with the
test fixtures' helper (Debian's postgresql package: /usr/lib/postgresql/*/bin), tuned as the
tests tune it (fsync off).

    python bench/pg_import.py [--urls 1000000] [--repeat 1] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sitemap_throughput import Run, _Quiet, generate, run_isolated, serve  # noqa: E402

from ingestctl.store import Store  # noqa: E402
from tests.pg import bench_cluster  # noqa: E402

CHILDREN = 20


def stored(location: Path | str) -> tuple[int, int, float]:
    """URL rows, image rows and the last job's seconds from start to finish."""
    with Store(location) as store:
        urls = int(store.scalar("SELECT count(*) FROM sitemap_urls") or 0)
        images = int(store.scalar("SELECT count(*) FROM sitemap_images") or 0)
        [row] = store.query("SELECT started_at, finished_at FROM jobs ORDER BY id DESC LIMIT 1")
    started, finished = (datetime.fromisoformat(str(row[i]).replace("Z", "+00:00"))
                         for i in (0, 1))
    return urls, images, (finished - started).total_seconds()


def google_pages(url_of: Callable[[], str]) -> None:
    """Pages of Merchant products and Search Console rows into PostgreSQL: COPY and a merge
    against the row-by-row upserts (``executemany``, pipelined) SQLite uses, same data."""
    from ingestctl.models.jobs import JobSpec
    from ingestctl.sources.google.merchant_api import parse_product
    from ingestctl.store import google as g_store
    from ingestctl.store import jobs as job_store
    from ingestctl.store import search_console as sc_store
    from tests.fakes.merchant_data import product

    products = [[parse_product(product("1", p * 1000 + i), url="bench").columns()
                 for i in range(1000)] for p in range(20)]
    rows = [[(f"2026-01-{1 + i % 28:02d}", f"query {p}-{i}", f"https://shop.example/{i}",
              "deu", "MOBILE", "", 1.0, 10.0, 0.1, 3.0, "final") for i in range(25_000)]
            for p in range(4)]
    timings: dict[str, tuple[float, float]] = {}
    for mode in ("copy", "executemany"):
        with Store(url_of()) as store:
            if mode == "executemany":
                # The SQLite branch of the store functions: one upsert per row.
                store.dialect = "sqlite"  # type: ignore[misc]
            spec = JobSpec("merchant", "1")
            with store.write() as conn:
                import_id = job_store.ensure_import(conn, spec, "2026-01-01T00:00:00Z")
                job = job_store.insert_job(conn, spec, import_id, 3, "2026-01-01T00:00:00Z")
            began = time.perf_counter()
            for n, page in enumerate(products):
                g_store.upsert_products(store, import_id, job, page, "2026-01-01T00:00:00Z",
                                        {"page": n})
            middle = time.perf_counter()
            for n, batch in enumerate(rows):
                sc_store.upsert_rows(store, import_id, job, "web",
                                     "date,query,page,country,device", batch,
                                     "2026-01-01T00:00:00Z", {"page": n})
            timings[mode] = (middle - began, time.perf_counter() - middle)
        print(f"{mode:<12}: products 20 x 1,000 {timings[mode][0]:6.2f} s "
              f"({20_000 / timings[mode][0]:>7,.0f}/s); search rows 4 x 25,000 "
              f"{timings[mode][1]:6.2f} s ({100_000 / timings[mode][1]:>7,.0f}/s)")
    print(f"COPY / executemany: products {timings['executemany'][0] / timings['copy'][0]:.2f}x, "
          f"search rows {timings['executemany'][1] / timings['copy'][1]:.2f}x the rows/s")


def main() -> None:
    """Generate, serve, import into both backends and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000,
                        help="URLs in all (20 children of URLS/20)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="import this often into each backend and keep the fastest")
    parser.add_argument("--url", help="a fresh PostgreSQL database to use (one import only)")
    parser.add_argument("--skip-google", action="store_true",
                        help="skip the pages of products and search rows")
    args = parser.parse_args()
    per_child = max(1, args.urls // CHILDREN)
    total = per_child * CHILDREN
    cluster = bench_cluster(args.url)
    if cluster is None and args.repeat != 1:
        raise SystemExit("--url holds one import; omit it to repeat")
    try:
        with tempfile.TemporaryDirectory(prefix="pg-import-bench-") as tmp:
            site = Path(tmp) / "site"
            site.mkdir()
            server = serve(site, _Quiet)
            base = f"http://127.0.0.1:{server.server_address[1]}"
            generate(site, base, CHILDREN, per_child, "query")
            index = f"{base}/index.xml"
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("INGESTCTL_") and k != "PYTHONDONTWRITEBYTECODE"}
            env.update({"NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
            print(f"index: {CHILDREN} children x {per_child:,} URLs = {total:,} URLs (half "
                  f"gzipped, one image each), {os.cpu_count()} CPUs")
            # Alternate the backends, so a load that comes and goes on a shared machine
            # weighs on both alike; the fastest run of each counts.
            runs: dict[str, list[tuple[Run, tuple[int, int, float]]]] = {
                "sqlite": [], "postgres": []}
            for attempt in range(args.repeat):
                for backend, done in runs.items():
                    home = Path(tmp) / f"home-{backend}-{attempt}"
                    location: Path | str = home / "ingestctl.db"
                    run_env = {**env, "INGESTCTL_HOME": str(home)}
                    if backend == "postgres":
                        location = (cluster.new_database() if cluster is not None
                                    else str(args.url))
                        run_env["INGESTCTL_DB_URL"] = str(location)
                    ingest = [sys.executable, "-m", "ingestctl", "run", "sitemap", index]
                    done.append((run_isolated(ingest, run_env), stored(location)))
            results: dict[str, tuple[Run, tuple[int, int, float]]] = {}
            for backend, done in runs.items():
                run, (urls, images, job) = min(done, key=lambda item: item[0].wall)
                if urls != total:
                    raise SystemExit(f"{backend}: {urls:,} URL rows stored, not {total:,}")
                results[backend] = (run, (urls, images, job))
                walls = ", ".join(f"{r.wall:.1f}" for r, _ in done)
                print(f"{backend:<9}: {run.wall:7.2f} s  {total / run.wall:>9,.0f} URLs/s  "
                      f"[job {job:.2f} s]  CPU {run.cpu:6.2f} s (ingestctl's process tree)  "
                      f"{urls:,} URLs + {images:,} images stored  (runs: {walls} s)")
            server.shutdown()
        sqlite, postgres = results["sqlite"][0], results["postgres"][0]
        print(f"postgres / sqlite: {sqlite.wall / postgres.wall:.2f}x the URLs/s "
              f"(job time {results['sqlite'][1][2] / results['postgres'][1][2]:.2f}x)")
        if cluster is not None and not args.skip_google:
            google_pages(cluster.new_database)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
