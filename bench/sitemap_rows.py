"""Per-row cost of writing sitemap URLs: row-by-row binding against staging files + merge.

Parses 4 children x 50,000 URLs of the throughput benchmark's shape (query strings with
``&amp;``, one image each) once, then measures, as CPU time of this process (best of
``--runs``), per URL with its image:

1. the former writer: one ``executemany`` upsert of the URL rows and one of the image rows per
   batch of 2,000, every value bound through Python by the one thread owning the store;
2. staging: binding the same rows into a staging file (the parse helper's share);
3. merging: ``UrlWriter.merge`` of those staging files, one ``INSERT ... SELECT ... ON
   CONFLICT`` per table (the writer's share), with 4 KB and with 16 KB database pages.

    python bench/sitemap_rows.py [--runs 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingestctl.sources.sitemap.staging import StageWriter
from ingestctl.store import Store
from ingestctl.store.sitemaps import URL_CONFLICT, UrlWriter

sys.path.insert(0, str(Path(__file__).parent))
from sitemap_throughput import make_child  # noqa: E402

CHILDREN, PER_CHILD, BATCH = 4, 50_000, 2000
NOW = "2026-01-01T00:00:00Z"
OLD_UPSERT = (  # the former writer's statement, constants as literals
    "INSERT INTO sitemap_urls AS u (import_id, url, lastmod, changefreq, priority, file_id, "
    f"first_seen, last_seen, last_job_id, added_job_id) VALUES (1, ?, ?, ?, ?, 1, '{NOW}', "
    f"'{NOW}', 1, 1) {URL_CONFLICT}")
OLD_IMAGES = "INSERT OR REPLACE INTO sitemap_images VALUES (1, ?, ?, ?, ?, ?)"


def rows_of(base: str, tmp: Path) -> list[list[tuple[Any, ...]]]:
    """The URL rows of each child, as the parser gives them."""
    from ingestctl.sources.sitemap.model import Parsed
    from ingestctl.sources.sitemap.parser import SitemapParser
    found = []
    for n in range(CHILDREN):
        body = make_child(base, n, PER_CHILD)
        parser = SitemapParser(f"{base}/child-{n}.xml", lines=False)
        out: list[Parsed] = []
        for start in range(0, len(body), 256 * 1024):
            parser.feed_into(body[start:start + 256 * 1024], out)
        parser.close_into(out)
        found.append([row for row in out if isinstance(row, tuple)])
    return found


def fresh_store(path: Path, page_size: int) -> Store:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size = {page_size}")
    conn.execute("VACUUM")
    conn.close()
    store = Store(path)
    store.conn.execute("INSERT INTO imports (id, key, name, source, target, created_at) "
                       f"VALUES (1, 'k', 'n', 'sitemap', 't', '{NOW}')")
    return store


def stage(children: list[list[tuple[Any, ...]]], directory: Path, into: list[Any]) -> None:
    """Bind every row into staging files, about one 256 KB chunk of input per call."""
    for rows in children:
        writer = StageWriter(str(directory), None, "9999")
        for start in range(0, len(rows), 850):
            into.extend(writer.add(rows[start:start + 850]))
        into.extend(writer.flush())


def cpu(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def main() -> None:
    """Measure and print microseconds per URL (with its image)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    total = CHILDREN * PER_CHILD
    with tempfile.TemporaryDirectory(prefix="sitemap-rows-") as name:
        tmp = Path(name)
        children = rows_of("http://127.0.0.1:8000", tmp)
        results: dict[str, list[float]] = {}
        for run in range(args.runs):
            for page_size in (4096, 16384):
                store = fresh_store(tmp / f"old-{run}-{page_size}" / "x.db", page_size)

                def old(store: Store = store) -> None:
                    for rows in children:
                        for start in range(0, len(rows), BATCH):
                            part = rows[start:start + BATCH]
                            with store.write() as conn:
                                conn.executemany(OLD_UPSERT, [r[:4] for r in part])
                                conn.executemany(OLD_IMAGES, [(r[0], 0, r[4], None, None)
                                                              for r in part if r[4]])

                results.setdefault(f"row by row in the writer, {page_size // 1024} KB pages",
                                   []).append(cpu(old))
                store.close()
            stage_dir = tmp / f"stage-{run}"
            stage_dir.mkdir()
            staged: list[Any] = []
            results.setdefault("staging, in the parse helper", []).append(
                cpu(lambda d=stage_dir, into=staged: stage(children, d, into)))
            for page_size in (4096, 16384):
                store = fresh_store(tmp / f"new-{run}-{page_size}" / "x.db", page_size)
                writer = UrlWriter(store, 1, 1, NOW)
                results.setdefault(f"merge in the writer, {page_size // 1024} KB pages",
                                   []).append(cpu(lambda w=writer, parts=staged: [
                                       w.merge(1, part.path) for part in parts]))
                store.close()
        print(f"{total:,} URLs with one image each; CPU microseconds per URL, best of "
              f"{args.runs}")
        for label, times in results.items():
            print(f"  {label:45s} {min(times) / total * 1e6:6.2f}")


if __name__ == "__main__":
    main()
