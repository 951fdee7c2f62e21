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
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sitemap_throughput import Run, _Quiet, generate, run_isolated, serve  # noqa: E402

from ingestctl.store import Store  # noqa: E402

CHILDREN = 20


def stored(location: Path | str) -> tuple[int, int, float]:
    """URL rows, image rows and the last job's seconds from start to finish."""
    with Store(location) as store:
        urls = int(store.scalar("SELECT count(*) FROM sitemap_urls") or 0)
        images = int(store.scalar("SELECT count(*) FROM sitemap_images") or 0)
        [row] = store.query("SELECT started_at, finished_at FROM jobs ORDER BY id DESC LIMIT 1")
    started, finished = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in row)
    return urls, images, (finished - started).total_seconds()


def main() -> None:
    """Generate, serve, import into both backends and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000,
                        help="URLs in all (20 children of URLS/20)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="import this often into each backend and keep the fastest")
    parser.add_argument("--url", help="a fresh PostgreSQL database to use (one import only)")
    args = parser.parse_args()
    per_child = max(1, args.urls // CHILDREN)
    total = per_child * CHILDREN
    cluster = None
    if args.url is None:
        from tests.pg import Cluster, _binaries, _free_port, _run_as

        bindir = _binaries()
        if bindir is None:
            raise SystemExit("no PostgreSQL binaries: apt-get install postgresql, or --url")
        cluster = Cluster(bindir, Path(tempfile.mkdtemp(prefix="ingestctl-bench-pg-")),
                          _free_port(), _run_as())
        cluster.start()
    elif args.repeat != 1:
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
            results: dict[str, tuple[Run, tuple[int, int, float]]] = {}
            for backend in ("sqlite", "postgres"):
                runs = []
                for attempt in range(args.repeat):
                    home = Path(tmp) / f"home-{backend}-{attempt}"
                    location: Path | str = home / "ingestctl.db"
                    run_env = {**env, "INGESTCTL_HOME": str(home)}
                    if backend == "postgres":
                        location = (cluster.new_database() if cluster is not None
                                    else str(args.url))
                        run_env["INGESTCTL_DB_URL"] = str(location)
                    ingest = [sys.executable, "-m", "ingestctl", "run", "sitemap", index]
                    runs.append((run_isolated(ingest, run_env), stored(location)))
                run, (urls, images, job) = min(runs, key=lambda item: item[0].wall)
                if urls != total:
                    raise SystemExit(f"{backend}: {urls:,} URL rows stored, not {total:,}")
                results[backend] = (run, (urls, images, job))
                print(f"{backend:<9}: {run.wall:7.2f} s  {total / run.wall:>9,.0f} URLs/s  "
                      f"[job {job:.2f} s]  CPU {run.cpu:6.2f} s (ingestctl's process tree)  "
                      f"{urls:,} URLs + {images:,} images stored")
            server.shutdown()
        sqlite, postgres = results["sqlite"][0], results["postgres"][0]
        print(f"postgres / sqlite: {sqlite.wall / postgres.wall:.2f}x the URLs/s "
              f"(job time {results['sqlite'][1][2] / results['postgres'][1][2]:.2f}x)")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
