"""Every command works the same on both backends: one operator's day, run as `ingestctl`
subprocesses on SQLite and on PostgreSQL (``INGESTCTL_DB_URL``): a sitemap import from a local
server, status, jobs, health, metrics, a failing import dead-lettered and retried, a prune of
aged history, db check. Exit codes, printed lines and rows are asserted on each backend."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingestctl.store import Store
from tests.backends import Backend
from tests.cli import run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.pg import PASSWORD
from tests.sites import urlset


class Site:
    """/index.xml: three urlsets of 400 URLs on this host; /feed.xml: 404 until ``fixed``,
    then five URLs."""

    def __init__(self) -> None:
        self.fixed = False
        self.server = LocalServer(self.handle)

    def pages(self, prefix: str, n: int) -> bytes:
        return urlset([f"{self.server.base}/{prefix}/{i}" for i in range(n)])

    def handle(self, req: Request) -> Response:
        base = self.server.base
        if req.path == "/index.xml":
            locs = "".join(f"<sitemap><loc>{base}/child-{n}.xml</loc></sitemap>"
                           for n in range(3))
            return Response(200, ('<?xml version="1.0"?><sitemapindex xmlns="http://www.'
                                  f'sitemaps.org/schemas/sitemap/0.9">{locs}</sitemapindex>'
                                  ).encode())
        if req.path.startswith("/child-"):
            return Response(200, self.pages(req.path[1:8], 400))
        if req.path == "/feed.xml" and self.fixed:
            return Response(200, self.pages("feed", 5))
        return Response(404, b"gone")


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    with served.server:
        yield served


def health(cli: Any) -> dict[str, str]:
    """``health --format json``: each check's worst status."""
    proc = cli("health", "--format", "json")
    order = ["pass", "warn", "fail"]
    return {name: max((r["status"] for r in results), key=order.index)
            for name, results in json.loads(proc.stdout)["checks"].items()}


def test_one_day_of_commands_on_each_backend(home: Path, backend: Backend,
                                             site: Site) -> None:
    def cli(*args: str) -> Any:
        return run_cli(home, *args, INGESTCTL_HOSTNAME="host-a", **backend.env)

    index = site.server.url("/index.xml")
    for run in (1, 2, 3):
        done = cli("run", "sitemap", index, "--name", "pages")
        assert done.returncode == 0, done.stderr
        assert done.stdout == (f"job {run} completed: 1,200 URLs from {index} (pages) in 1 "
                               "attempt(s)\n")
    assert backend.query("SELECT count(*), count(DISTINCT url) FROM sitemap_urls") == [
        (1200, 1200)]
    assert backend.query("SELECT count(*) FROM sitemap_files WHERE status IN "
                         "('ok', 'not_modified')") == [(4,)]

    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    [sitemaps] = json.loads(status.stdout)["sources"]
    assert (sitemaps["source"], sitemaps["completed"], sitemaps["failed"]) == ("sitemap", 3, 0)
    assert PASSWORD not in status.stdout

    jobs = cli("jobs", "list", "--json")
    assert jobs.returncode == 0, jobs.stderr
    assert [(j["id"], j["status"], j["items"]) for j in json.loads(jobs.stdout)] == [
        (3, "completed", 1200), (2, "completed", 1200), (1, "completed", 1200)]

    # No alert channel is configured: WARNING, whatever the backend; the rest passes.
    nagios = cli("health", "--format", "nagios")
    assert nagios.returncode == 1, nagios.stdout + nagios.stderr
    assert nagios.stdout.startswith("INGESTCTL WARNING - no alert channel is on")
    checks = health(cli)
    assert {name: state for name, state in checks.items() if state != "pass"} == {
        "alerts:channels": "warn"}
    database = {"database:writable", "database:schema"} | (
        {"database:pool"} if backend.name == "postgres" else set())
    assert database <= set(checks)

    # A failing import: dead-lettered, visible to health, metrics and dlq; retried once fixed.
    feed = site.server.url("/feed.xml")
    failed = cli("run", "sitemap", feed, "--name", "feed")
    assert failed.returncode == 1
    assert failed.stderr.startswith("ingestctl: error: job 4 failed after 1 attempt(s): "
                                    "not_found: "), failed.stderr
    letters = cli("dlq", "list", "--json")
    assert letters.returncode == 0, letters.stderr
    [letter] = json.loads(letters.stdout)
    assert (letter["job_id"], letter["error"]["class"]) == (4, "not_found")
    checks = health(cli)
    assert (checks["dead_letters:count"], checks["jobs:success_rate"]) == ("warn", "warn")
    metrics = cli("metrics")
    assert metrics.returncode == 0, metrics.stderr
    assert "ingestctl_dead_letters 1.0" in metrics.stdout
    assert 'ingestctl_jobs_total{source="sitemap",status="completed"} 3.0' in metrics.stdout
    assert 'ingestctl_jobs_total{source="sitemap",status="failed"} 1.0' in metrics.stdout
    # The serving process names its host and backend; on PostgreSQL its pool too.
    assert (f'ingestctl_info{{backend="{backend.name}",host="host-a",version="'
            in metrics.stdout), metrics.stdout
    pool = re.findall(r'ingestctl_database_pool_connections\{host="host-a",state="(\w+)"\}',
                      metrics.stdout)
    assert sorted(pool) == (["idle", "max", "open", "waiting"]
                            if backend.name == "postgres" else [])
    assert PASSWORD not in metrics.stdout
    site.fixed = True
    retried = cli("dlq", "retry", str(letter["id"]))
    assert retried.returncode == 0, retried.stderr
    assert "job 4 completed: 5 URLs" in retried.stdout, retried.stdout
    assert json.loads(cli("dlq", "list", "--json").stdout) == []
    shown = cli("jobs", "show", "4", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [(a["number"], a["outcome"]) for a in json.loads(shown.stdout)["attempt_history"]] == [
        (1, "failed"), (2, "completed")]
    purged = cli("dlq", "purge", "--older-than", "1d")
    assert purged.returncode == 0, purged.stderr
    assert backend.query("SELECT count(*) FROM dead_letters WHERE active = 0") == [(1,)]
    assert backend.query("SELECT count(*) FROM sitemap_urls") == [(1205,)]

    # A prune of aged history: jobs 1 and 2 finished 200 days ago go, job 3 (the newest
    # of its import) stays whatever its age.
    backend.execute("UPDATE jobs SET finished_at = '2025-01-01T00:00:00.000000Z' "
                    "WHERE id IN (1, 2, 3)")
    dry = cli("prune", "--older-than", "90d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["removed"]["jobs"] == 2
    pruned = cli("prune", "--older-than", "90d", "--json")
    assert pruned.returncode == 0, pruned.stderr
    removed = json.loads(pruned.stdout)["removed"]
    assert (removed["jobs"], removed["attempts"]) == (2, 2)
    assert backend.query("SELECT id FROM jobs ORDER BY id") == [(3,), (4,)]
    assert backend.query("SELECT count(*) FROM attempts WHERE job_id NOT IN "
                         "(SELECT id FROM jobs)") == [(0,)]
    # Counters are summary tables: the prune changes no metric.
    after = cli("metrics").stdout
    assert 'ingestctl_jobs_total{source="sitemap",status="completed"} 4.0' in after

    check = cli("db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r"schema: version (\d+) of \1 \(up to date\)", check.stdout), check.stdout
    if backend.name == "postgres":
        assert not (home / "ingestctl.db").exists()


REPEATS = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:xhtml="http://www.w3.org/1999/xhtml">
<url><loc>https://a.example/1</loc><lastmod>2026-01-01</lastmod>
  <image:image><image:loc>https://a.example/1a.jpg</image:loc></image:image>
  <image:image><image:loc>https://a.example/1b.jpg</image:loc></image:image>
  <xhtml:link rel="alternate" hreflang="de" href="https://a.example/de/1"/></url>
<url><loc>https://a.example/2</loc><changefreq>daily</changefreq>
  <image:image><image:loc>https://a.example/2.jpg</image:loc></image:image></url>
<url><loc>https://a.example/1</loc><lastmod>2026-01-05</lastmod><priority>0.7</priority>
  <image:image><image:loc>https://a.example/1c.jpg</image:loc></image:image>
  <xhtml:link rel="alternate" hreflang="fr" href="https://a.example/fr/1"/></url>
<url><loc>https://a.example/3</loc>
  <news:news><news:publication><news:name>A</news:name><news:language>en</news:language>
  </news:publication><news:publication_date>2026-01-02</news:publication_date>
  <news:title>First</news:title></news:news></url>
<url><loc>https://a.example/2</loc><changefreq>weekly</changefreq></url>
<url><loc>https://a.example/3</loc>
  <news:news><news:publication><news:name>A</news:name><news:language>en</news:language>
  </news:publication><news:publication_date>2026-01-03</news:publication_date>
  <news:title>Second</news:title></news:news></url>
</urlset>
"""


def _dump(location: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    tables = {"sitemap_urls": "url, lastmod, changefreq, priority, removed_at",
              "sitemap_images": "url, position, loc", "sitemap_news": "url, title",
              "sitemap_alternates": "url, position, hreflang, href"}
    with Store(location) as store:
        return {table: [tuple(r) for r in store.query(
            f"SELECT {columns} FROM {table} ORDER BY {columns}")]
            for table, columns in tables.items()}


def test_urls_listed_twice_in_one_file_store_alike_on_both_backends(
        home: Path, tmp_path: Path, pg_url: str) -> None:
    sitemap = tmp_path / "repeats.xml"
    sitemap.write_text(REPEATS)
    stores: dict[str, Path | str] = {"sqlite": home / "ingestctl.db", "postgres": pg_url}
    dumps = {}
    for name, location in stores.items():
        env = {"INGESTCTL_DB_URL": pg_url} if name == "postgres" else {}
        done = run_cli(home, "run", "sitemap", str(sitemap), **env)
        assert done.returncode == 0, done.stderr
        assert "6 URLs" in done.stdout and "duplicate_keys (3)" in done.stdout, done.stdout
        dumps[name] = _dump(location)
    assert dumps["postgres"] == dumps["sqlite"]
    # A URL listed twice keeps its last listing.
    assert [r[:4] for r in dumps["sqlite"]["sitemap_urls"]] == [
        ("https://a.example/1", "2026-01-05", None, 0.7),
        ("https://a.example/2", None, "weekly", None),
        ("https://a.example/3", None, None, None)]
    assert dumps["sqlite"]["sitemap_news"] == [("https://a.example/3", "Second")]
