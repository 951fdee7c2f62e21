"""Every file of the real-world corpus, served over HTTP, imported through the runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.models.jobs import JobStatus
from ingestctl.sources.sitemap.model import UrlEntry
from tests.httpserver import LocalServer, Request, Response, serve_directory
from tests.sitemap_import_helpers import Importer
from tests.sitemap_parse_helpers import manifest, parse

BROKEN = {
    "advertools/error_sitemap.xml": "3:19: malformed XML: Specification mandates value for "
                                    "attribute does",
    "sitemapjs/index-unescaped-lt.xml": "11:25: malformed XML: StartTag: invalid element name",
    "sitemapjs/unescaped-lt.xml": "6:24: malformed XML: StartTag: invalid element name",
}
HOSTS = (b"http://www.example.com", b"https://www.example.com", b"https://example.com")


class CorpusSite:
    """The corpus behind a local server, with example hosts pointing at the server."""

    def __init__(self, corpus: Path) -> None:
        self.corpus = corpus
        self.server = LocalServer(self.handle)

    def rewrite(self) -> dict[bytes, bytes]:
        return {host: self.server.base.encode() for host in HOSTS}

    def handle(self, req: Request) -> Response:
        return serve_directory(self.corpus, self.rewrite())(req)

    def content(self, path: str) -> bytes:
        """The bytes the server sends for ``path``."""
        data = (self.corpus / path).read_bytes()
        if not data.startswith(b"\x1f\x8b"):
            for old, new in self.rewrite().items():
                data = data.replace(old, new)
        return data


@pytest.fixture
def site(corpus: Path) -> Iterator[CorpusSite]:
    served = CorpusSite(corpus)
    with served.server:
        yield served


def _files(corpus: Path, kinds: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(path, entries or 0) for path, kind, entries in manifest(corpus)
            if kind.split(" (")[0] in kinds and path not in BROKEN]


def test_every_urlset_feed_and_text_file_stores_its_manifest_entries(
        tmp_path: Path, corpus: Path, site: CorpusSite) -> None:
    importer = Importer(tmp_path)
    checked = 0
    for path, entries in _files(corpus, ("urlset", "rss", "feed", "text sitemap")):
        job = importer.run(site.server.url(f"/{path}"))
        assert job.status is JobStatus.COMPLETED, (path, job.error)
        parser, got = parse(site.content(path))
        locs = [e.loc for e in got if isinstance(e, UrlEntry)]
        assert parser.count == entries, path  # the MANIFEST count, as served
        stored = importer.rows("SELECT url FROM sitemap_urls WHERE import_id = ?",
                               (job.import_id,))
        assert sorted(u for (u,) in stored) == sorted(set(locs)), path
        assert job.items == len(locs), path  # entries written; duplicates share a row
        checked += 1
    assert checked == 33
    # The one over the 50,000-URL limit keeps its first 50,000 and says so.
    over = importer.rows("SELECT f.urls, f.problems FROM sitemap_files f WHERE f.url LIKE ?",
                         ("%medium-list.txt.gz",))
    assert over[0][0] == 50_000 and '"over_url_limit": 1' in over[0][1]


def test_extensions_land_in_their_tables(tmp_path: Path, site: CorpusSite) -> None:
    importer = Importer(tmp_path)
    expected = {"images": 0, "videos": 0, "news": 0, "alternates": 0}
    for path in ("advertools/image_sitemap.xml", "advertools/video_sitemap.xml",
                 "advertools/news_sitemap.xml", "sitemapjs/alltags.xml",
                 "crawlercommons/sitemap-news.xml", "crawlercommons/sitemap-videos.xml"):
        job = importer.run(site.server.url(f"/{path}"))
        assert job.status is JobStatus.COMPLETED
        _, got = parse(site.content(path))
        urls = [e for e in got if isinstance(e, UrlEntry)]
        expected["images"] += sum(len(e.images) for e in urls)
        expected["videos"] += sum(len(e.videos) for e in urls)
        expected["news"] += sum(1 for e in urls if e.news is not None)
        expected["alternates"] += sum(len(e.alternates) for e in urls)
    counted = {name: importer.scalar(f"SELECT count(*) FROM sitemap_{name}")
               for name in expected}
    assert counted == expected
    assert all(counted.values())
    # Every extension row belongs to a stored URL.
    for name in expected:
        assert importer.scalar(f"SELECT count(*) FROM sitemap_{name} x LEFT JOIN sitemap_urls u "
                               "USING (import_id, url) WHERE u.url IS NULL") == 0
    video = importer.rows("SELECT title, content_loc, player_loc, thumbnail_loc FROM "
                          "sitemap_videos WHERE url LIKE '%some_video_landing_page.html'")
    base = site.server.base
    assert video == [("Grilling steaks for summer", f"{base}/video123.flv",
                      f"{base}/videoplayer.swf?video=123", f"{base}/thumbs/123.jpg")]


@pytest.mark.parametrize("path", sorted(BROKEN))
def test_broken_files_fail_with_a_data_error_naming_the_line(
        tmp_path: Path, site: CorpusSite, path: str) -> None:
    job = Importer(tmp_path).run(site.server.url(f"/{path}"))
    assert job.status is JobStatus.FAILED and job.attempts == 1
    assert job.error is not None and job.error.error_class == "data"
    assert job.error.message == f"{site.server.url('/' + path)}:{BROKEN[path]}"


def test_indexes_record_every_child_with_its_outcome(
        tmp_path: Path, corpus: Path, site: CorpusSite) -> None:
    importer = Importer(tmp_path)
    for path, entries in _files(corpus, ("sitemapindex",)):
        job = importer.run(site.server.url(f"/{path}"))
        # No child is local and on the server: zero items, an error under fail_on = "error".
        assert (job.status, job.items) == (JobStatus.FAILED, 0), path
        assert job.error is not None and job.error.error_class == "data", path
        assert "zero_items" in [v["rule"] for v in job.result["quality"]], path
        _, got = parse(site.content(path))
        children = importer.rows(
            "SELECT url, status, error_class FROM sitemap_files WHERE import_id = ? AND "
            "parent_url IS NOT NULL ORDER BY id", (job.import_id,))
        assert len(children) == len({e.loc for e in got}) <= entries, path
        for url, status, error_class in children:
            local = url.startswith(site.server.base)
            # The local ones do not exist on the server; the others are on other hosts.
            assert (status, error_class) == (("failed", "not_found") if local else
                                             ("refused", None)), (path, url)
    reasons = importer.rows("SELECT DISTINCT error_message FROM sitemap_files WHERE "
                            "url = 'https://www.google.com/adwords/sitemap_us.xml'")
    assert reasons == [("on another host (www.google.com) than its root sitemap; not followed "
                        "unless that host's robots.txt lists the root or allow_cross_host = "
                        "true",)]


@pytest.mark.parametrize("on_limit", ["warn", "error"])
def test_over_limit_text_sitemap_behaves_as_configured(
        tmp_path: Path, site: CorpusSite, on_limit: str) -> None:
    importer = Importer(tmp_path, on_limit=on_limit)
    url = site.server.url("/sitemapjs/medium-list.txt.gz")
    job = importer.run(url)
    if on_limit == "warn":
        assert (job.status, job.items) == (JobStatus.COMPLETED, 50_000)
        assert job.result is not None and job.result["problems"] == {"over_url_limit": 1}
        return
    assert job.status is JobStatus.FAILED and job.error is not None
    assert (job.error.error_class, job.error.message) == (
        "data", f"{url}:50001: more than 50,000 URLs in one file")
