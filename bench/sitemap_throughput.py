"""End-to-end sitemap import throughput: ingestctl against ultimate-sitemap-parser 1.8.

Generates a sitemap index of 20 children x 50,000 URLs (half of the children gzipped; every
URL a page of the served site with lastmod, changefreq, priority and one image), serves it on
127.0.0.1 (a static server that answers ``If-Modified-Since`` with 304), then runs, each as
its own process:

1. ``python -m ingestctl run sitemap INDEX`` into a fresh home (a fresh SQLite store);
2. ultimate-sitemap-parser (``pip install ultimate-sitemap-parser==1.8.0``) fetching the
   same index and iterating ``all_pages()``;
3. ``ingestctl run sitemap INDEX`` again: the unchanged re-import (conditional requests).

It prints wall time, URLs per second and peak RSS (``wait4`` of each process) and the ratios.

    python bench/sitemap_throughput.py [--children 20] [--per-child 50000] [--skip-usp]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

USP_SCRIPT = """
import sys
from usp.fetch_parse import SitemapFetcher
tree = SitemapFetcher(url=sys.argv[1], recursion_level=0, web_client=None).sitemap()
print(sum(1 for _ in tree.all_pages()))
"""


def make_child(base: str, n: int, count: int) -> bytes:
    """One urlset of ``count`` pages of the site at ``base``, each with an image."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
             'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
             'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n']
    for i in range(count):
        sec = (n * count + i) % 86400
        parts.append(
            f"<url><loc>{base}/c{n:02d}/item-{i:06d}.html</loc>"
            f"<lastmod>2024-01-{i % 28 + 1:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:"
            f"{sec % 60:02d}+00:00</lastmod><changefreq>daily</changefreq>"
            f"<priority>0.8</priority><image:image><image:loc>https://cdn.example.com/img/"
            f"{n:02d}/{i:06d}.jpg</image:loc></image:image></url>\n")
    parts.append("</urlset>\n")
    return "".join(parts).encode()


def generate(root: Path, base: str, children: int, per_child: int) -> None:
    """Write the children and the index below ``root``."""
    names = []
    for n in range(children):
        body = make_child(base, n, per_child)
        if n % 2:
            name = f"child-{n:02d}.xml.gz"
            (root / name).write_bytes(gzip.compress(body, 6))
        else:
            name = f"child-{n:02d}.xml"
            (root / name).write_bytes(body)
        names.append(name)
    locs = "".join(f"<sitemap><loc>{base}/{name}</loc></sitemap>\n" for name in names)
    (root / "index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/'
        f'schemas/sitemap/0.9">\n{locs}</sitemapindex>\n')


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _tree_rss(pid: int) -> int:
    """Resident kB of ``pid`` and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next((int(line.split()[1]) for line in handle
                               if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS of the process and of its whole tree (MB), and its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    tree = [0]

    def sample() -> None:
        while proc.poll() is None:
            tree[0] = max(tree[0], _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    # communicate() reaped it; RUSAGE_CHILDREN holds the largest child's own peak.
    import resource
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(f"{argv[2:]} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return wall, peak, tree[0] / 1024, out


def run_isolated(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """:func:`measure` in a fresh helper process, so RUSAGE_CHILDREN is this run's alone."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from sitemap_throughput "
            "import measure; print(json.dumps(measure(json.loads(sys.argv[2]), "
            "dict(__import__('os').environ))))")
    import json
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent),
                           json.dumps(argv)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip()[-2000:])
    wall, peak, tree, out = json.loads(done.stdout)
    return float(wall), float(peak), float(tree), str(out)


def job_seconds(home: Path) -> float:
    """Start to finish of the last job, as the store recorded it."""
    import sqlite3
    from datetime import datetime
    with sqlite3.connect(home / "ingestctl.db") as conn:
        started, finished = conn.execute(
            "SELECT started_at, finished_at FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
    parse = datetime.fromisoformat
    return (parse(finished.replace("Z", "+00:00")) -
            parse(started.replace("Z", "+00:00"))).total_seconds()


def main() -> None:
    """Generate, serve, run both importers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--per-child", type=int, default=50_000)
    parser.add_argument("--skip-usp", action="store_true")
    args = parser.parse_args()
    total = args.children * args.per_child
    with tempfile.TemporaryDirectory(prefix="sitemap-bench-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
        base = f"http://127.0.0.1:{server.server_address[1]}"
        generate(site, base, args.children, args.per_child)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        index = f"{base}/index.xml"
        # INGESTCTL_SITEMAP__* overrides pass through (e.g. PARSE_PROCESSES=0 to compare).
        env = {k: v for k, v in os.environ.items()
               if k not in ("INGESTCTL_HOME", "INGESTCTL_CONFIG")}
        env.update({"INGESTCTL_HOME": str(Path(tmp) / "home"), "NO_COLOR": "1"})
        ingest = [sys.executable, "-m", "ingestctl", "run", "sitemap", index]
        print(f"index: {args.children} children x {args.per_child:,} URLs = {total:,} URLs "
              f"(half gzipped, one image each), {os.cpu_count()} CPUs")
        home = Path(env["INGESTCTL_HOME"])
        first, first_rss, first_tree, out = run_isolated(ingest, env)
        first_job = job_seconds(home)
        print(f"ingestctl   : {first:7.2f} s  {total / first:>10,.0f} URLs/s  peak RSS "
              f"{first_rss:6.1f} MB (with parse helpers {first_tree:.1f} MB)  "
              f"[job {first_job:.2f} s]  ({out.strip()})")
        if not args.skip_usp:
            usp, usp_rss, usp_tree, out = run_isolated([sys.executable, "-c", USP_SCRIPT, index],
                                                       env)
            print(f"usp 1.8     : {usp:7.2f} s  {total / usp:>10,.0f} URLs/s  "
                  f"peak RSS {usp_rss:6.1f} MB   ({out.strip()} pages)")
            print(f"ratio       : {usp / first:.1f}x the URLs/s of ultimate-sitemap-parser, "
                  f"{usp_rss / first_rss:.1f}x less memory (main process), "
                  f"{usp_rss / first_tree:.1f}x (with helpers)")
        again, again_rss, _, out = run_isolated(ingest, env)
        again_job = job_seconds(home)
        print(f"re-import   : {again:7.2f} s  (unchanged index: {first / again:.1f}x faster than "
              f"the first import; in-job {again_job:.2f} s vs {first_job:.2f} s = "
              f"{first_job / max(again_job, 1e-6):.0f}x; peak RSS {again_rss:.1f} MB)  "
              f"({out.strip()})")
        server.shutdown()


if __name__ == "__main__":
    main()
