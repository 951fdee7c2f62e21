"""Conditional fetch, change tracking, partial failure and resume, robots.txt discovery."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from ingestctl.jobs.contract import AttemptReport
from ingestctl.models.jobs import Job, JobStatus
from tests.httpserver import LocalServer, Response
from tests.sitemap_import_helpers import Importer, Site, index, urlset


def pages(base: str, names: str, lastmod: str = "2026-01-01") -> list[tuple[str, str | None]]:
    return [(f"{base}/{name}", lastmod) for name in names]


def test_unchanged_children_answer_304_and_stay_current(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        base = server.base
        site.files["/index.xml"] = index([f"{base}/a.xml", f"{base}/b.xml.gz"])
        site.files["/a.xml"] = urlset(pages(base, "pqr"))
        site.files["/b.xml.gz"] = gzip.compress(urlset(pages(base, "st")))
        first = importer.run(f"{base}/index.xml")
        assert (first.status, first.items) == (JobStatus.COMPLETED, 5)
        site.answers.clear()
        second = importer.run(f"{base}/index.xml")
        # Children are fetched concurrently: their order varies.
        assert sorted(site.answers) == [("/a.xml", 304), ("/b.xml.gz", 304), ("/index.xml", 304)]
        conditional = [r.headers.get("if-none-match") for r in server.requests[-3:]]
        assert all(conditional)
        # A changed child is fetched again; the unchanged one is not, and keeps its URLs.
        site.files["/b.xml.gz"] = gzip.compress(urlset(pages(base, "su")))
        site.answers.clear()
        third = importer.run(f"{base}/index.xml")
        assert sorted(site.answers) == [("/a.xml", 304), ("/b.xml.gz", 200), ("/index.xml", 304)]
    assert (second.status, second.items) == (JobStatus.COMPLETED, 5)
    assert second.result == {"files": 0, "not_modified": 3, "added": 0, "changed": 0,
                             "removed": 0, "duplicate_keys": 0, "quality": []}
    assert third.result == {"files": 1, "not_modified": 2, "added": 1, "changed": 0,
                            "removed": 1, "duplicate_keys": 0, "quality": []}
    assert importer.urls() == [f"{base}/{n}" for n in "pqrsu"]
    assert importer.rows("SELECT url, removed_job_id FROM sitemap_urls WHERE removed_at IS NOT "
                         "NULL") == [(f"{base}/t", third.id)]
    files = importer.rows("SELECT url, status, job_id, urls FROM sitemap_files ORDER BY id")
    assert files == [(f"{base}/index.xml", "not_modified", third.id, 0),
                     (f"{base}/a.xml", "not_modified", third.id, 3),
                     (f"{base}/b.xml.gz", "ok", third.id, 2)]


def test_changes_are_counted_across_three_imports(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        base = server.base
        url = f"{base}/s.xml"
        site.files["/s.xml"] = urlset(pages(base, "abc"))
        jobs = [importer.run(url)]
        # b changes its lastmod, c goes, d comes.
        site.files["/s.xml"] = urlset([(f"{base}/a", "2026-01-01"), (f"{base}/b", "2026-02-01"),
                                       (f"{base}/d", None)])
        jobs.append(importer.run(url))
        assert importer.urls() == [f"{base}/a", f"{base}/b", f"{base}/d"]
        # c comes back, d goes, a loses its lastmod.
        site.files["/s.xml"] = urlset([(f"{base}/a", None), (f"{base}/b", "2026-02-01"),
                                       (f"{base}/c", "2026-01-01")])
        jobs.append(importer.run(url))
    counts = [{k: j.result[k] for k in ("added", "changed", "removed")} for j in jobs
              if j.result]
    assert counts == [{"added": 3, "changed": 0, "removed": 0},
                      {"added": 1, "changed": 1, "removed": 1},
                      {"added": 1, "changed": 1, "removed": 1}]
    assert importer.urls() == [f"{base}/a", f"{base}/b", f"{base}/c"]
    assert importer.urls(live=False) == [f"{base}/{n}" for n in "abcd"]
    assert importer.rows("SELECT url, first_seen < last_seen, removed_job_id FROM sitemap_urls "
                         "ORDER BY url") == [(f"{base}/a", 1, None), (f"{base}/b", 1, None),
                                             (f"{base}/c", 1, None),
                                             (f"{base}/d", 0, jobs[2].id)]


def _capture(importer: Importer) -> tuple[Any, list[AttemptReport]]:
    runner = importer.runner()
    reports: list[AttemptReport] = []
    complete = runner.queue.complete

    def keep(job: Job, report: AttemptReport) -> Job:
        reports.append(report)
        return complete(job, report)

    runner.queue.complete = keep  # type: ignore[method-assign]
    return runner, reports


def test_a_child_failing_transiently_is_the_only_file_fetched_on_retry(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    down = {"now": True}

    def child_1() -> Response:
        if down["now"]:
            return Response(503, b"busy")
        return Response(200, urlset(pages(server.base, ["c1-a", "c1-b"])))

    with LocalServer(site) as server:
        base = server.base
        site.files["/index.xml"] = index([f"{base}/c0.xml", f"{base}/c1.xml", f"{base}/c2.xml"])
        site.files["/c0.xml"] = urlset(pages(base, ["c0-a"]))
        site.files["/c1.xml"] = child_1
        site.files["/c2.xml"] = urlset(pages(base, ["c2-a", "c2-b", "c2-c"]))
        job = importer.run(f"{base}/index.xml")
        assert job.status is JobStatus.RETRYING and job.error is not None
        assert job.error.error_class == "transient"
        assert job.error.message == (
            "1 of 4 sitemap files failed; a retry fetches only the failed ones; first: "
            f"HTTP 503 Service Unavailable from {base}/c1.xml")
        # The other children's URLs are stored already.
        assert importer.urls() == [f"{base}/{n}" for n in ("c0-a", "c2-a", "c2-b", "c2-c")]
        assert importer.rows("SELECT url, status, error_class FROM sitemap_files WHERE url "
                             "LIKE '%c1.xml'") == [(f"{base}/c1.xml", "failed", "transient")]
        down["now"] = False
        server.requests.clear()
        importer.clock.advance(10)
        runner, reports = _capture(importer)
        [done] = runner.run_due()
        assert server.paths() == ["/c1.xml"]
    assert (done.status, done.attempts, done.items) == (JobStatus.COMPLETED, 2, 6)
    assert done.result == {"files": 1, "resumed_files": 3, "added": 6, "changed": 0,
                           "removed": 0, "duplicate_keys": 0, "quality": []}
    assert len(importer.urls()) == 6
    [summary] = reports[0].summaries
    # The child shares cover the whole index (3 children), not only the file fetched again.
    assert (summary.urls, summary.child_sitemaps, summary.failed_child_sitemaps,
            summary.index_children) == (2, 3, 0, 3)


def test_a_resumed_jobs_failed_child_share_counts_the_whole_index(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    answer = {"status": 503}
    with LocalServer(site) as server:
        base = server.base
        children = [f"{base}/c{n}.xml" for n in range(8)]
        site.files["/index.xml"] = index(children)
        for n in range(8):
            site.files[f"/c{n}.xml"] = urlset(pages(base, [f"c{n}-a"]))
        site.files["/c7.xml"] = lambda: Response(answer["status"], b"no")
        assert importer.run(f"{base}/index.xml").status is JobStatus.RETRYING
        answer["status"] = 404  # gone for good on the retry: the job completes with a warning
        importer.clock.advance(10)
        [done] = importer.runner().run_due()
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    [violation] = [v for v in done.result["quality"]
                   if v["rule"] == "failed_child_sitemap_share"]
    assert violation["message"] == "1 of 8 child sitemaps (12.5 %) failed; warning above 0 %"


def test_a_child_failing_for_good_does_not_lose_the_others(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        base = server.base
        site.files["/index.xml"] = index([f"{base}/c0.xml", f"{base}/gone.xml"])
        site.files["/c0.xml"] = urlset(pages(base, "ab"))
        runner, reports = _capture(importer)
        job = runner.submit_and_run(_spec(f"{base}/index.xml"), inline_wait=False)
    assert (job.status, job.items) == (JobStatus.COMPLETED, 2)
    quality = job.result.pop("quality")
    assert job.result == {"files": 2, "failed_files": 1, "added": 2, "changed": 0,
                          "removed": 0, "duplicate_keys": 0, "removal": "skipped: 1 file failed",
                          "failures": [{
                              "url": f"{base}/gone.xml", "parent": f"{base}/index.xml",
                              "error_class": "not_found", "http_status": 404,
                              "error": f"HTTP 404 Not Found for {base}/gone.xml; check the URL"}]}
    assert [(v["rule"], v["severity"]) for v in quality] == [
        ("failed_child_sitemap_share", "warning")]
    assert importer.rows("SELECT status, error_class, error_message FROM sitemap_files WHERE "
                         "url LIKE '%gone.xml'") == [
        ("failed", "not_found", f"HTTP 404 Not Found for {base}/gone.xml; check the URL")]
    [summary] = reports[0].summaries
    assert (summary.urls, summary.child_sitemaps, summary.failed_child_sitemaps) == (2, 2, 1)


def _spec(target: str) -> Any:
    from ingestctl.models.jobs import JobSpec
    return JobSpec("sitemap", target)


def test_site_root_discovers_every_sitemap_line_of_robots_txt(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        base, other = server.base, f"http://localhost:{server.port}"
        site.files["/robots.txt"] = (f"User-agent: *\nDisallow: /x\nSitemap: /one.xml\n"
                                     f"sitemap: {base}/one.xml\nSitemap: {other}/two.xml\n"
                                     ).encode()
        site.files["/one.xml"] = urlset(pages(base, "ab"))
        # two.xml is on another host but cross-submitted by robots.txt; it may list children
        # on its own host and on the robots.txt host, not on a third one.
        site.files["/two.xml"] = index([f"{other}/three.xml", f"{base}/four.xml",
                                        "http://third.invalid/five.xml"])
        site.files["/three.xml"] = urlset(pages(other, "c"))
        site.files["/four.xml"] = urlset(pages(base, "d"))
        job = importer.run(f"{base}/")
    assert (job.status, job.items) == (JobStatus.COMPLETED, 4), job.error
    assert importer.rows("SELECT url, kind, status, depth FROM sitemap_files ORDER BY id") == [
        (f"{base}/robots.txt", "robots", "ok", 0),
        (f"{base}/one.xml", "urlset", "ok", 0),
        (f"{other}/two.xml", "sitemapindex", "ok", 0),
        (f"{other}/three.xml", "urlset", "ok", 1),
        (f"{base}/four.xml", "urlset", "ok", 1),
        ("http://third.invalid/five.xml", None, "refused", 1)]


def test_site_root_without_robots_txt_falls_back_to_sitemap_xml(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        site.files["/sitemap.xml"] = urlset(pages(server.base, "ab"))
        job = importer.run(server.base)
        assert site.answers == [("/robots.txt", 404), ("/sitemap.xml", 200)]
        site.files["/robots.txt"] = b"User-agent: *\nDisallow:\n"
        site.answers.clear()
        again = importer.run(f"{server.base}/robots.txt")
        # Another target is another import: nothing to be conditional on.
        assert site.answers == [("/robots.txt", 200), ("/sitemap.xml", 200)]
    assert (job.status, job.items, again.status, again.items) == (
        JobStatus.COMPLETED, 2, JobStatus.COMPLETED, 2)
