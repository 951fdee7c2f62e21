"""Sitemap promises a user sees, through `ingestctl run` against real local servers.

Duplicate URLs fire ``duplicate_keys``; ``Site-map:`` in robots.txt is followed; every date
form is read alike; a broken file keeps what was read before its error whatever its size; the
job's result names each failed file; an unchanged file is not parsed again even without
validators.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import rows, run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.sitemap_import_helpers import NS, index

HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>\n'


def urlset(locs: list[str], extra: str = "") -> bytes:
    body = "".join(f"<url><loc>{loc}</loc>{extra}</url>\n" for loc in locs)
    return (HEAD + body + "</urlset>\n").encode()


def result_of(home: Path, job: int = 1) -> dict[str, Any]:
    proc = run_cli(home, "jobs", "show", str(job), "--json")
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


class Files:
    """Serves a dict of path -> body, with no validators; records what it answered."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Response] = {}
        self.served: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        path = req.path.split("?")[0]
        with self.lock:
            self.served.append(path)
        body = self.files.get(path)
        if body is None:
            return Response(404, b"not found")
        return body if isinstance(body, Response) else Response(200, body)


@pytest.fixture
def site() -> Iterator[tuple[Files, LocalServer]]:
    files = Files()
    with LocalServer(files) as server:
        yield files, server


@pytest.mark.parametrize("helpers", ["0", "2"], ids=["threads", "helpers"])
def test_urls_listed_twice_fire_duplicate_keys(home: Path, site: tuple[Files, LocalServer],
                                               helpers: str) -> None:
    files, server = site
    base = server.base
    pages = [f"{base}/p{i}" for i in range(100)]
    files.files["/index.xml"] = index([f"{base}/a.xml", f"{base}/b.xml"])
    # 30 repeated inside a.xml, 20 of a.xml's listed again by b.xml.
    files.files["/a.xml"] = urlset(pages[:60] + pages[:30])
    files.files["/b.xml"] = urlset(pages[40:100])
    proc = run_cli(home, "run", "sitemap", f"{base}/index.xml",
                   INGESTCTL_SITEMAP__PARSE_PROCESSES=helpers)
    assert proc.returncode == 0, proc.stderr
    result = result_of(home)
    assert (result["items"], result["result"]["duplicate_keys"]) == (150, 50)
    [violation] = [v for v in result["quality"] if v["rule"] == "duplicate_keys"]
    assert violation["observed"] == 50
    assert rows(home, "SELECT count(*) FROM sitemap_urls") == [(100,)]
    # Unchanged on the next run: the same listing, the same count.
    again = run_cli(home, "run", "sitemap", f"{base}/index.xml")
    assert again.returncode == 0, again.stderr
    assert result_of(home, 2)["result"]["duplicate_keys"] == 50


def test_a_retried_request_does_not_count_its_urls_twice(home: Path) -> None:
    """The connection drops after the first staging file of a child was merged; the retried
    request reads the child again from its first URL."""
    count = 26_000
    body = urlset([f"http://x.example/p{i}" for i in range(count)])
    cut = body.index(b"/p23000<")
    tries: list[int] = []

    def handle(req: Request) -> Response:
        if req.path == "/index.xml":
            return Response(200, index([f"{server.base}/big.xml"]))
        tries.append(1)
        if len(tries) == 1:
            return Response(200, chunks=iter([body[:cut], None]), length=len(body))
        return Response(200, body)

    with LocalServer(handle) as server:
        proc = run_cli(home, "run", "sitemap", f"{server.base}/index.xml",
                       INGESTCTL_RETRY__INITIAL_DELAY="0")
    assert proc.returncode == 0, proc.stderr
    assert len(tries) == 2
    result = result_of(home)
    assert (result["items"], result["result"]["duplicate_keys"]) == (count, 0)
    assert not [v for v in result["quality"] if v["rule"] == "duplicate_keys"]


def test_site_map_lines_of_robots_txt_are_followed(home: Path,
                                                   site: tuple[Files, LocalServer]) -> None:
    files, server = site
    files.files["/robots.txt"] = b"User-agent: *\nDisallow: /private\nSite-map: /pages.xml\n"
    files.files["/pages.xml"] = urlset([f"{server.base}/p{i}" for i in range(7)])
    proc = run_cli(home, "run", "sitemap", f"{server.base}/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("job 1 completed: 7 URLs")
    assert "/sitemap.xml" not in files.served


DATES = ["2009-12-17 12:04:56Z", "2009-12-17t12:04:56Z", "2009-12-17T12:04:56+00:00",
         "2009-12-17T13:04:56+01:00", "2009-12-17T12:04:56.250Z", "2009-12-17 12:04:56+00:00",
         "Thu, 17 Dec 2009 12:04:56 GMT"]


@pytest.mark.parametrize("shape", ["urlset", "news", "rss"])
def test_every_date_form_is_normalised_alike(home: Path, site: tuple[Files, LocalServer],
                                             shape: str) -> None:
    files, server = site
    base = server.base
    if shape == "rss":
        items = "".join(f"<item><link>{base}/p{i}</link><pubDate>{d}</pubDate></item>"
                        for i, d in enumerate(DATES))
        body = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'
    else:
        news = ('<news:news><news:publication><news:name>N</news:name><news:language>en'
                '</news:language></news:publication><news:publication_date>{d}'
                '</news:publication_date><news:title>T</news:title></news:news>')
        entries = "".join(
            f"<url><loc>{base}/p{i}</loc><lastmod>{d}</lastmod>"
            + (news.format(d=d) if shape == "news" else "") + "</url>"
            for i, d in enumerate(DATES))
        body = (f'<?xml version="1.0"?><urlset {NS} xmlns:news="http://www.google.com/'
                f'schemas/sitemap-news/0.9">{entries}</urlset>')
    files.files["/s.xml"] = body.encode()
    proc = run_cli(home, "run", "sitemap", f"{base}/s.xml")
    assert proc.returncode == 0, proc.stderr
    assert rows(home, "SELECT DISTINCT lastmod FROM sitemap_urls") == [("2009-12-17T12:04:56Z",)]
    if shape == "news":
        assert rows(home, "SELECT DISTINCT publication_date FROM sitemap_news") == [
            ("2009-12-17T12:04:56Z",)]
    assert "problems" not in result_of(home)["result"]


def test_unreadable_lastmods_fire_their_rule(home: Path,
                                             site: tuple[Files, LocalServer]) -> None:
    files, server = site
    files.files["/s.xml"] = (HEAD + "".join(
        f"<url><loc>{server.base}/p{i}</loc><lastmod>{'soon' if i % 2 else '2024-01-02'}"
        "</lastmod></url>" for i in range(20)) + "</urlset>").encode()
    proc = run_cli(home, "run", "sitemap", f"{server.base}/s.xml")
    assert proc.returncode == 0, proc.stderr
    result = result_of(home)
    [violation] = [v for v in result["quality"] if v["rule"] == "unparseable_lastmod_share"]
    assert (violation["details"]["count"], violation["details"]["total"]) == (10, 20)
    assert result["result"]["problems"] == {"bad_lastmod": 10}


def truncated(count: int, base: str) -> bytes:
    """A urlset of ``count`` complete URLs, cut in the middle of the next one."""
    return urlset([f"{base}/p{i}" for i in range(count)])[:-len("</urlset>\n")] + \
        f"<url><loc>{base}/cut".encode()


@pytest.mark.parametrize("helpers", ["0", "2"], ids=["threads", "helpers"])
@pytest.mark.parametrize("count", [1_999, 2_000])
def test_a_truncated_child_keeps_the_urls_read_before_its_error(
        home: Path, site: tuple[Files, LocalServer], count: int, helpers: str) -> None:
    files, server = site
    base = server.base
    files.files["/index.xml"] = index([f"{base}/ok.xml", f"{base}/cut.xml"])
    files.files["/ok.xml"] = urlset([f"{base}/ok{i}" for i in range(5)])
    files.files["/cut.xml"] = truncated(count, base)
    proc = run_cli(home, "run", "sitemap", f"{base}/index.xml",
                   INGESTCTL_SITEMAP__PARSE_PROCESSES=helpers)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"job 1 completed with warnings: {count + 5:,} URLs")
    assert rows(home, "SELECT count(*) FROM sitemap_urls") == [(count + 5,)]
    [(status, urls, message)] = rows(
        home, "SELECT status, urls, error_message FROM sitemap_files WHERE url LIKE '%cut.xml'")
    line = count + 3  # the XML declaration, <urlset>, the URLs, the cut one
    assert (status, urls) == ("failed", count)
    assert message.startswith(f"{base}/cut.xml:{line}:")
    [failure] = result_of(home)["result"]["failures"]
    assert {k: failure[k] for k in ("url", "error_class", "line", "urls_kept")} == {
        "url": f"{base}/cut.xml", "error_class": "data", "line": line, "urls_kept": count}
    assert failure["column"] > 0


@pytest.mark.parametrize("count", [1_999, 2_000])
def test_a_truncated_root_fails_and_keeps_the_urls_read_before_its_error(
        home: Path, site: tuple[Files, LocalServer], count: int) -> None:
    files, server = site
    files.files["/cut.xml"] = truncated(count, server.base)
    proc = run_cli(home, "run", "sitemap", f"{server.base}/cut.xml")
    assert proc.returncode == 1
    assert f"data: {server.base}/cut.xml:{count + 3}:" in proc.stderr
    assert rows(home, "SELECT count(*) FROM sitemap_urls") == [(count,)]
    job = result_of(home)
    assert (job["status"], job["attempt_history"][0]["items"]) == ("failed", count)


def test_failures_name_each_failed_child_and_a_child_failing_every_run(
        home: Path, site: tuple[Files, LocalServer]) -> None:
    files, server = site
    base = server.base
    files.files["/index.xml"] = index([f"{base}/good.xml", f"{base}/bad.xml",
                                       f"{base}/gone.xml"])
    files.files["/good.xml"] = urlset([f"{base}/g{i}" for i in range(3)])
    files.files["/bad.xml"] = (HEAD + f"<url><loc>{base}/b1</loc></url>\n"
                               "<url><loc>x</lo></url>\n</urlset>").encode()
    for run in (1, 2):
        proc = run_cli(home, "run", "sitemap", f"{base}/index.xml")
        assert proc.returncode == 0, proc.stderr
        result = result_of(home, run)["result"]
        failures = {f["url"].rsplit("/", 1)[1]: f for f in result["failures"]}
        assert result["removal"] == "skipped: 2 files failed"
        assert (failures["bad.xml"]["error_class"], failures["bad.xml"]["line"],
                failures["bad.xml"]["urls_kept"]) == ("data", 4, 1)
        assert "Opening and ending tag mismatch" in failures["bad.xml"]["error"]
        assert (failures["gone.xml"]["error_class"], failures["gone.xml"]["http_status"]) == (
            "not_found", 404)
        previous = failures["gone.xml"].get("failed_before")
        assert previous == (None if run == 1 else {"job": 1, "error_class": "not_found"})


def test_unchanged_files_without_validators_are_not_parsed_again(
        home: Path, site: tuple[Files, LocalServer]) -> None:
    files, server = site
    base = server.base
    files.files["/index.xml"] = index([f"{base}/a.xml", f"{base}/b.xml", f"{base}/c.xml.gz"])
    files.files["/a.xml"] = urlset([f"{base}/a{i}" for i in range(4)])
    files.files["/b.xml"] = urlset([f"{base}/b{i}" for i in range(3)])
    gzipped = urlset([f"{base}/c{i}" for i in range(2)])
    files.files["/c.xml.gz"] = gzip.compress(gzipped, mtime=1)
    for run in range(2):
        proc = run_cli(home, "run", "sitemap", f"{base}/index.xml")
        assert proc.returncode == 0, proc.stderr
        # The server compresses again: other gzip bytes, the same content.
        files.files["/c.xml.gz"] = gzip.compress(gzipped, mtime=2 + run)
    second = result_of(home, 2)
    assert (second["items"], second["result"]["files"], second["result"]["not_modified"]) == (
        9, 0, 4)
    # Confirmed by their file rows, not rewritten: every URL still carries job 1.
    assert rows(home, "SELECT DISTINCT last_job_id, removed_at FROM sitemap_urls") == [
        (1, None)]
    assert rows(home, "SELECT DISTINCT status, http_status, job_id FROM sitemap_files") == [
        ("not_modified", 200, 2)]
    files.files["/b.xml"] = urlset([f"{base}/b{i}" for i in range(2)])
    proc = run_cli(home, "run", "sitemap", f"{base}/index.xml")
    assert proc.returncode == 0, proc.stderr
    third = result_of(home, 3)["result"]
    assert (third["files"], third["not_modified"], third["removed"]) == (1, 3, 1)
    assert rows(home, "SELECT url FROM sitemap_urls WHERE removed_at IS NOT NULL") == [
        (f"{base}/b2",)]


def test_a_staging_directory_that_cannot_be_made_is_one_clear_error(
        home: Path, site: tuple[Files, LocalServer]) -> None:
    files, server = site
    files.files["/s.xml"] = urlset([f"{server.base}/p"])
    home.mkdir(parents=True)
    (home / "staging").write_text("in the way")
    proc = run_cli(home, "run", "sitemap", f"{server.base}/s.xml",
                   INGESTCTL_JOBS__MAX_ATTEMPTS="1")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (f"store error: {home / 'staging'}: cannot create the staging directory: "
            "File exists") in proc.stderr
