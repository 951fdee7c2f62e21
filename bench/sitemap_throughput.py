"""End-to-end sitemap import throughput: ingestctl against ultimate-sitemap-parser 1.8.

Generates a sitemap index of 20 children x 50,000 URLs (half of the children gzipped; every
URL a page of the served site with lastmod, changefreq, priority and one image; with
``--shape query`` (the default) every URL also carries a query string with ``&amp;``), serves
it on 127.0.0.1, then runs, each as its own process:

1. ``python -m ingestctl run sitemap INDEX`` into a fresh home (a fresh SQLite store);
2. ultimate-sitemap-parser (``pip install -e '.[bench]'``) fetching the same index and
   iterating ``all_pages()``;
3. ``ingestctl run sitemap INDEX`` again: the unchanged re-import, once against a server that
   sends ``Last-Modified`` and answers ``If-Modified-Since`` with 304, once against a server
   that sends no validators at all (``--validators``: ``both``, ``yes`` or ``none``).

It prints wall time, URLs per second and peak RSS of the whole process tree (parse helpers
included) and the ratios.

    python bench/sitemap_throughput.py [--children 20] [--per-child 50000] [--shape query]
                                       [--validators both] [--skip-usp]
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
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

USP_SCRIPT = """
import sys
from usp.fetch_parse import SitemapFetcher
tree = SitemapFetcher(url=sys.argv[1], recursion_level=0, web_client=None).sitemap()
print(sum(1 for _ in tree.all_pages()))
"""


def make_child(base: str, n: int, count: int, shape: str = "query") -> bytes:
    """One urlset of ``count`` pages of the site at ``base``, each with an image."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
             'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
             'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n']
    for i in range(count):
        sec = (n * count + i) % 86400
        parts.append(
            f"<url><loc>{base}/c{n:02d}/item-{i:06d}.html{query(n, i, shape)}</loc>"
            f"<lastmod>2024-01-{i % 28 + 1:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:"
            f"{sec % 60:02d}+00:00</lastmod><changefreq>daily</changefreq>"
            f"<priority>0.8</priority><image:image><image:loc>https://cdn.example.com/img/"
            f"{n:02d}/{i:06d}.jpg</image:loc></image:image></url>\n")
    parts.append("</urlset>\n")
    return "".join(parts).encode()


def query(n: int, i: int, shape: str) -> str:
    """The query string of a page in the ``query`` shape (escaped for XML), else nothing."""
    if shape != "query":
        return ""
    return f"?id={n * 1_000_000 + i}&amp;utm_source=sitemap&amp;variant={i % 7}"


def generate(root: Path, base: str, children: int, per_child: int, shape: str) -> None:
    """Write the children and the index below ``root``."""
    names = []
    for n in range(children):
        body = make_child(base, n, per_child, shape)
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
    """Static files with Last-Modified, 304 for an unchanged If-Modified-Since."""

    def log_message(self, *args: object) -> None:
        pass


class _NoValidators(_Quiet):
    """Static files without Last-Modified or ETag (many CDNs and generated sitemaps)."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() not in ("last-modified", "etag"):
            super().send_header(keyword, value)

    def send_head(self):  # type: ignore[no-untyped-def]
        for name in ("If-Modified-Since", "If-None-Match"):
            del self.headers[name]
        return super().send_head()


def _tree_rss(pid: int) -> int:
    """Resident kB of ``pid`` and all its descendants, from /proc.

    Children are listed per thread (``task/TID/children``): a process started by another
    thread than the main one is only listed under that thread.
    """
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next((int(line.split()[1]) for line in handle
                               if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Run:
    """One measured process: wall seconds, CPU seconds of its whole tree, peak RSS of the
    tree (MB), its stdout."""

    wall: float
    cpu: float
    rss: float
    out: str


def measure(argv: list[str], env: dict[str, str]) -> Run:
    """Run ``argv`` to the end, sampling the RSS of its process tree."""
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
    # Reaped: RUSAGE_CHILDREN holds its CPU time and that of the helpers it waited for.
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[2:]} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, tree[0] / 1024, out.strip())


def run_isolated(argv: list[str], env: dict[str, str]) -> Run:
    """:func:`measure` in a fresh helper process, so RUSAGE_CHILDREN is this run's alone."""
    code = ("import dataclasses, json, sys; sys.path.insert(0, sys.argv[1]); from "
            "sitemap_throughput import measure; print(json.dumps(dataclasses.astuple(measure("
            "json.loads(sys.argv[2]), dict(__import__('os').environ)))))")
    import json
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent),
                           json.dumps(argv)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip()[-2000:])
    wall, cpu, rss, out = json.loads(done.stdout)
    return Run(float(wall), float(cpu), float(rss), str(out))


def best(runs: list[Run]) -> Run:
    """The fastest of repeated runs (a shared machine only ever makes a run slower)."""
    return min(runs, key=lambda run: run.wall)


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


def serve(site: Path, handler: type[_Quiet]) -> ThreadingHTTPServer:
    """A static server of ``site`` on an ephemeral port of 127.0.0.1, running."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Generate, serve, run both importers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--per-child", type=int, default=50_000)
    parser.add_argument("--shape", choices=["query", "plain"], default="query")
    parser.add_argument("--validators", choices=["both", "yes", "none"], default="both")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each first import this often and keep the fastest")
    parser.add_argument("--skip-usp", action="store_true")
    args = parser.parse_args()
    total = args.children * args.per_child
    modes = ["yes", "none"] if args.validators == "both" else [args.validators]
    with tempfile.TemporaryDirectory(prefix="sitemap-bench-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        # One port for both servers: the stored URLs (and the index) name it.
        servers = {"yes": serve(site, _Quiet)}
        base = f"http://127.0.0.1:{servers['yes'].server_address[1]}"
        generate(site, base, args.children, args.per_child, args.shape)
        index = f"{base}/index.xml"
        # INGESTCTL_SITEMAP__* overrides pass through (e.g. PARSE_PROCESSES=0 to compare).
        # Bytecode is cached as in any installed package (site-packages, usp included, has
        # its .pyc files; an editable checkout would otherwise recompile at every start).
        env = {k: v for k, v in os.environ.items()
               if k not in ("INGESTCTL_HOME", "INGESTCTL_CONFIG", "PYTHONDONTWRITEBYTECODE")}
        print(f"index: {args.children} children x {args.per_child:,} URLs = {total:,} URLs "
              f"(half gzipped, one image each, shape {args.shape}), {os.cpu_count()} CPUs")
        usp: Run | None = None
        if not args.skip_usp:
            usp = best([run_isolated([sys.executable, "-c", USP_SCRIPT, index], env)
                        for _ in range(args.repeat)])
            print(f"usp 1.8     : {usp.wall:7.2f} s  {total / usp.wall:>10,.0f} URLs/s  "
                  f"CPU {usp.cpu:6.2f} s  peak RSS {usp.rss:6.1f} MB   ({usp.out} pages)")
        for mode in modes:
            if mode == "none":
                servers["yes"].shutdown()
                servers["yes"].server_close()
                port = int(base.rsplit(":", 1)[1])
                servers["none"] = ThreadingHTTPServer(
                    ("127.0.0.1", port), partial(_NoValidators, directory=str(site)))
                threading.Thread(target=servers["none"].serve_forever, daemon=True).start()
            label = "validators" if mode == "yes" else "no validators"
            firsts = []
            for attempt in range(args.repeat):
                home = Path(tmp) / f"home-{mode}-{attempt}"
                env.update({"INGESTCTL_HOME": str(home), "NO_COLOR": "1"})
                ingest = [sys.executable, "-m", "ingestctl", "run", "sitemap", index]
                firsts.append((run_isolated(ingest, env), job_seconds(home), home))
            first, first_job, home = min(firsts, key=lambda item: item[0].wall)
            env["INGESTCTL_HOME"] = str(home)
            print(f"ingestctl   : {first.wall:7.2f} s  {total / first.wall:>10,.0f} URLs/s  "
                  f"CPU {first.cpu:6.2f} s  peak RSS {first.rss:6.1f} MB (process tree)  "
                  f"[job {first_job:.2f} s] [{label}]  ({first.out})")
            if usp is not None:
                print(f"ratio       : {usp.wall / first.wall:.1f}x the URLs/s of "
                      f"ultimate-sitemap-parser 1.8 ({usp.cpu / first.cpu:.1f}x less CPU), "
                      f"{usp.rss / first.rss:.1f}x less memory (process trees)")
            again = run_isolated(ingest, env)
            again_job = job_seconds(home)
            print(f"re-import   : {again.wall:7.2f} s  unchanged, {label}: "
                  f"{first.wall / again.wall:.1f}x faster than the first import (in-job "
                  f"{again_job:.2f} s vs {first_job:.2f} s = "
                  f"{first_job / max(again_job, 1e-6):.0f}x; CPU {again.cpu:.2f} s); peak RSS "
                  f"{again.rss:.1f} MB  ({again.out})")
        for server in servers.values():
            server.shutdown()


if __name__ == "__main__":
    main()
