"""Hostile sitemaps through the whole importer: each fails or is refused fast, memory bounded."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.models.jobs import JobStatus
from tests.cli import spawn_env
from tests.httpserver import LocalServer, Response
from tests.processes import TreePeak
from tests.sitemap_import_helpers import Importer, Site, index, urlset
from tests.test_sitemap_parse_hostile import HEAD, LAUGHS, _gzip_bomb, url_block

XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
       b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://a.example/'
       b'&xxe;</loc></url></urlset>')
DOCTYPE = "DOCTYPE with an internal subset (entity declarations) is not allowed"


@pytest.mark.parametrize("body", [LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_entity_tricks_fail_at_once_with_a_data_error(tmp_path: Path, body: bytes) -> None:
    importer = Importer(tmp_path)
    with LocalServer(lambda req: Response(200, body)) as server:
        started = time.monotonic()
        job = importer.run(server.url("/s.xml"))
    assert time.monotonic() - started < 5
    assert job.status is JobStatus.FAILED and job.error is not None
    assert (job.error.error_class, job.error.message) == (
        "data", f"{server.url('/s.xml')}:2:1: {DOCTYPE}")
    assert importer.scalar("SELECT count(*) FROM sitemap_urls") == 0


def _padded_urlset(total: int) -> Iterator[bytes]:
    """A urlset of one URL padded with whitespace to ``total`` bytes, streamed."""
    yield HEAD + url_block(1)
    pad = b" " * 65536
    for _ in range(total // len(pad)):
        yield pad
    yield b"</urlset>\n"


@pytest.mark.parametrize("on_limit", ["error", "warn"])
def test_sixty_megabyte_urlset_stops_at_fifty(tmp_path: Path, on_limit: str) -> None:
    importer = Importer(tmp_path, on_limit=on_limit)
    with LocalServer(lambda req: Response(200, chunks=_padded_urlset(60 * 1000**2))) as server:
        started = time.monotonic()
        job = importer.run(server.url("/big.xml"))
    assert time.monotonic() - started < 20
    if on_limit == "error":
        assert job.error is not None and (job.status, job.error.message) == (
            JobStatus.FAILED, f"{server.url('/big.xml')}: content larger than 50,000,000 bytes "
                              "(max_bytes_per_file)")
        return
    assert (job.status, job.items) == (JobStatus.COMPLETED, 1)
    assert job.result is not None and job.result["problems"] == {"over_size_limit": 1}


def test_ten_gigabyte_gzip_bomb_fails_fast_in_little_memory(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[sitemap]\non_limit = "error"\n')
    bomb = HEAD + url_block(1)
    with LocalServer(lambda req: Response(200, chunks=_gzip_bomb(bomb, 10 * 1000**3))) as server:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestctl", "--config", str(config), "run", "sitemap",
             server.url("/bomb.xml.gz")], env=spawn_env(tmp_path / "home"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Sampled from /proc: wait4's ru_maxrss would count the pytest process the child was
        # forked from (its memory is resident in the child until exec).
        with TreePeak(proc.pid) as tree:
            _, stderr = proc.communicate(timeout=120)
        elapsed = time.monotonic() - started
    peak_mb = tree.peak_mb
    assert proc.returncode == 1, stderr
    assert (f"data: {server.url('/bomb.xml.gz')}: content larger than 50,000,000 bytes "
            "(max_bytes_per_file)") in stderr
    assert elapsed < 30
    assert peak_mb < 200


def test_index_cycles_are_cut_and_noted(tmp_path: Path) -> None:
    site = Site()
    importer = Importer(tmp_path)
    with LocalServer(site) as server:
        base = server.base
        site.files["/a.xml"] = index([f"{base}/a.xml", f"{base}/b.xml"])
        site.files["/b.xml"] = index([f"{base}/a.xml", f"{base}/c.xml"])
        site.files["/c.xml"] = urlset([(f"{base}/page", None)])
        job = importer.run(f"{base}/a.xml")
        assert sorted(site.fetched()) == ["/a.xml", "/b.xml", "/c.xml"]
    assert (job.status, job.items) == (JobStatus.COMPLETED, 1)
    assert job.result is not None and job.result["cycles"] == 2
    notes = importer.scalar("SELECT problems FROM sitemap_files WHERE url = ?",
                            (f"{base}/a.xml",))
    assert f"cycle: lists {base}/a.xml, already read by this job" in notes


def test_cross_host_child_is_refused_unless_allowed(tmp_path: Path) -> None:
    site = Site()
    with LocalServer(site) as server:
        other = f"http://localhost:{server.port}"
        site.files["/index.xml"] = index([f"{server.base}/mine.xml", f"{other}/theirs.xml"])
        site.files["/mine.xml"] = urlset([(f"{server.base}/a", None)])
        site.files["/theirs.xml"] = urlset([(f"{other}/b", None)])
        refused = Importer(tmp_path / "strict").run(server.url("/index.xml"))
        assert sorted(site.fetched()) == ["/index.xml", "/mine.xml"]
        strict = Importer(tmp_path / "strict")
        allowed = Importer(tmp_path / "open", allow_cross_host=True).run(server.url("/index.xml"))
    assert (refused.status, refused.items) == (JobStatus.COMPLETED, 1)
    assert refused.result is not None and refused.result["refused_files"] == 1
    assert strict.rows("SELECT status, error_message FROM sitemap_files WHERE url = ?",
                       (f"{other}/theirs.xml",)) == [
        ("refused", f"on another host (localhost:{server.port}) than its root sitemap; not "
                    "followed unless that host's robots.txt lists the root or "
                    "allow_cross_host = true")]
    assert (allowed.status, allowed.items) == (JobStatus.COMPLETED, 2)


def test_depth_and_file_count_limits_refuse_the_rest(tmp_path: Path) -> None:
    site = Site()
    with LocalServer(site) as server:
        base = server.base
        site.files["/top.xml"] = index([f"{base}/mid.xml"] + [f"{base}/u{i}.xml"
                                                              for i in range(4)])
        site.files["/mid.xml"] = index([f"{base}/deep.xml"])
        for i in range(4):
            site.files[f"/u{i}.xml"] = urlset([(f"{base}/p{i}", None)])
        site.files["/deep.xml"] = urlset([(f"{base}/deep", None)])
        shallow = Importer(tmp_path / "a", max_depth=1)
        job = shallow.run(f"{base}/top.xml")
        few = Importer(tmp_path / "b", max_files=3)
        capped = few.run(f"{base}/top.xml")
    assert (job.status, job.items) == (JobStatus.COMPLETED, 4)
    assert shallow.rows("SELECT status, error_message FROM sitemap_files WHERE url LIKE "
                        "'%deep.xml'") == [("refused", "nested deeper than max_depth (1)")]
    # top, mid and u0 are read; u1 to u3 and mid's deep.xml are over the limit.
    assert (capped.status, capped.items) == (JobStatus.COMPLETED, 1)
    assert few.rows("SELECT count(*), min(error_message) FROM sitemap_files WHERE status = "
                    "'refused'") == [(4, "max_files (3) reached for this job")]
    assert capped.result is not None and capped.result["removal"] == (
        "skipped: max_files reached")
