"""The one summary line of `ingestctl run`: what a user must know, warnings at exit 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.jobs.outcome import completed_line
from ingestctl.models.jobs import Job, JobStatus
from tests.cli import run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset

BROKEN = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
          b'<url><loc>http://a.example/x</loc></url><url><loc>')


class Index:
    """/index.xml lists /good.xml (5 URLs) and the children in ``extra``."""

    def __init__(self, *extra: str) -> None:
        self.extra = list(extra)
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        base = self.server.base
        if req.path == "/index.xml":
            locs = "".join(f"<sitemap><loc>{base}/{name}</loc></sitemap>"
                           for name in ["good.xml", *self.extra])
            return Response(200, ('<?xml version="1.0"?><sitemapindex xmlns="http://www.'
                                  f'sitemaps.org/schemas/sitemap/0.9">{locs}</sitemapindex>'
                                  ).encode())
        if req.path == "/good.xml":
            return Response(200, urlset([f"{base}/p{i}" for i in range(5)]))
        if req.path == "/broken.xml":
            return Response(200, BROKEN)
        return Response(404, b"not found")

    @property
    def url(self) -> str:
        return self.server.url("/index.xml")


@pytest.fixture
def index(request: pytest.FixtureRequest) -> Iterator[Index]:
    site = Index(*getattr(request, "param", ()))
    with site.server:
        yield site


def _run(home: Path, url: str) -> str:
    proc = run_cli(home, "run", "sitemap", url)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert proc.stdout.count("\n") == 1, proc.stdout
    return proc.stdout.rstrip("\n")


def test_a_clean_index_says_completed_and_its_urls(home: Path, index: Index) -> None:
    assert _run(home, index.url) == (f"job 1 completed: 5 URLs from {index.url} "
                                     f"(sitemap:{index.url}) in 1 attempt(s)")


@pytest.mark.parametrize("index", [("broken.xml",)], indirect=True)
def test_an_index_with_a_malformed_child_names_it(home: Path, index: Index) -> None:
    line = _run(home, index.url)
    # broken.xml's one URL before its error is kept (and counted): 6, not 5.
    head = (f"job 1 completed with warnings: 6 URLs from {index.url} (sitemap:{index.url}) in "
            "1 attempt(s); 1 of 3 files failed (broken.xml")
    assert line.startswith(head), line
    # The kept URL (http://a.example/x) is off the index's host: that rule speaks too.
    assert line.endswith("; quality: off_host_url_share (1 of 6), "
                         "failed_child_sitemap_share (1 of 2)"), line


@pytest.mark.parametrize("index", [("gone.xml",)], indirect=True)
def test_a_child_that_404s_on_every_run_says_removals_are_not_tracked(
        home: Path, index: Index) -> None:
    _run(home, index.url)
    line = _run(home, index.url)
    assert line.startswith("job 2 completed with warnings: 5 URLs from "), line
    assert "; 1 of 3 files failed (gone.xml" in line, line
    assert "; removed URLs not tracked (" in line, line


def _job(result: dict[str, object], source: str = "sitemap", items: int = 48_210) -> Job:
    return Job(id=7, import_id=1, import_key="shop", name="shop", source=source,
               target="https://shop.example.com/sitemap.xml", options={},
               status=JobStatus.COMPLETED, attempts=1, max_attempts=3, items=items,
               error=None, created_at="2026-03-01T00:00:00Z", started_at=None,
               finished_at=None, next_attempt_at=None, lease_owner=None,
               lease_expires_at=None, heartbeat_at=None, progress={}, result=result)


def test_per_file_failure_facts_name_the_line_and_column() -> None:
    result = {"files": 20, "failed_files": 1, "quality": [
        {"rule": "duplicate_keys", "severity": "warning", "message": "50 items repeat",
         "observed": 50, "threshold": 0, "details": {"duplicates": 50}}],
        "failures": [{"url": "https://shop.example.com/sitemap-3.xml", "error_class": "data",
                      "error": "https://shop.example.com/sitemap-3.xml:6:24: malformed XML: "
                               "StartTag: invalid element name", "line": 6, "column": 24}]}
    assert completed_line(_job(result)) == (
        "job 7 completed with warnings: 48,210 URLs from https://shop.example.com/sitemap.xml "
        "(shop) in 1 attempt(s); 1 of 21 files failed (sitemap-3.xml: malformed XML at 6:24); "
        "quality: duplicate_keys (50)")


def test_a_child_failing_run_after_run_says_so_and_why_removals_stop() -> None:
    result = {"files": 2, "failed_files": 1, "removal": "skipped: 1 file failed",
              "failures": [{"url": "https://shop.example.com/gone.xml", "error_class":
                            "not_found", "error": "HTTP 404 Not Found for "
                            "https://shop.example.com/gone.xml; check the URL",
                            "http_status": 404, "failed_before": {"job": 6,
                                                                  "error_class": "not_found"}}]}
    assert completed_line(_job(result, items=5)) == (
        "job 7 completed with warnings: 5 URLs from https://shop.example.com/sitemap.xml (shop) "
        "in 1 attempt(s); 1 of 3 files failed (gone.xml: HTTP 404, also failed in job 6); "
        "removed URLs not tracked (1 file failed)")


def test_unknown_shapes_are_left_out_not_fatal() -> None:
    result = {"failed_files": "two", "failures": "nope", "quality": [{"rule": 3}],
              "removal": 5}
    assert completed_line(_job(result, "merchant", 3)) == (
        "job 7 completed: 3 products from https://shop.example.com/sitemap.xml (shop) in "
        "1 attempt(s)")
