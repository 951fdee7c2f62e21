"""Memory stays flat on every input within the limits, helpers included, and helpers never
outlive their import.

Each test runs `ingestctl run` as a process and samples the resident memory of its whole
process tree (the parse helpers are its children) from /proc.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import rows, spawn_env
from tests.httpserver import LocalServer, Request, Response
from tests.processes import TreePeak, cpu_seconds, descendants, running
from tests.sitemap_import_helpers import NS, index

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

HEAD = f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>\n'
VIDEO_NS = 'xmlns:video="http://www.google.com/schemas/sitemap-video/1.1"'
#: The peak the whole process tree must stay under.
LIMIT_MB = 200


def wide_children() -> bytes:
    """47 KB of gzip inflating to 48 MB: one <url> with twelve million empty children."""
    body = HEAD.encode() + b"<url><loc>https://a.example/x</loc>" + b"<a/>" * 12_000_000 + \
        b"</url></urlset>"
    return gzip.compress(body, 9)


def run_measured(home: Path, target: str, **env: str) -> tuple[int, str, TreePeak]:
    proc = subprocess.Popen([sys.executable, "-m", "ingestctl", "run", "sitemap", target],
                            env=spawn_env(home, INGESTCTL_SITEMAP__PARSE_PROCESSES="2", **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreePeak(proc.pid) as peak:
        _, err = proc.communicate(timeout=240)
    return proc.returncode, err, peak


def test_a_wide_entry_fails_cleanly_in_flat_memory(tmp_path: Path) -> None:
    bomb = wide_children()
    assert len(bomb) < 50_000

    def handle(req: Request) -> Response:
        if req.path == "/index.xml":
            return Response(200, index([f"{server.base}/w1.xml.gz", f"{server.base}/w2.xml.gz",
                                        f"{server.base}/ok.xml"]))
        if req.path == "/ok.xml":
            return Response(200, (HEAD + "<url><loc>https://a.example/ok</loc></url>"
                                  "</urlset>").encode())
        return Response(200, bomb)

    with LocalServer(handle) as server:
        code, err, index_peak = run_measured(tmp_path / "index", f"{server.base}/index.xml")
        root_code, root_err, root_peak = run_measured(tmp_path / "root",
                                                      f"{server.base}/w1.xml.gz")
    assert code == 0, err
    assert index_peak.most_processes >= 2  # the helpers were there, and counted
    assert index_peak.peak_mb < LIMIT_MB, index_peak.peak_mb
    failed = rows(tmp_path / "index", "SELECT url, error_class, error_message FROM "
                                      "sitemap_files WHERE status = 'failed' ORDER BY url")
    assert [(url.rsplit("/", 1)[1], cls) for url, cls, _ in failed] == [
        ("w1.xml.gz", "data"), ("w2.xml.gz", "data")]
    assert "no sitemap entry ended in the last 2,000,000 bytes or 50,000 tags" in str(
        failed[0][2])
    assert rows(tmp_path / "index", "SELECT url FROM sitemap_urls") == [("https://a.example/ok",)]
    assert root_code == 1 and "no sitemap entry ended in the last" in root_err
    assert root_peak.peak_mb < LIMIT_MB, root_peak.peak_mb


def big_child(n: int, entries: int = 40_000) -> bytes:
    """About 45 MB of URLs with a video each (the tree parser's shape), gzipped."""
    description = "A long description of the video. " * 30
    head = f'<?xml version="1.0"?>\n<urlset {NS} {VIDEO_NS}>\n'
    parts = [head]
    for i in range(entries):
        parts.append(f"<url><loc>https://a.example/{n}/v{i}</loc><video:video><video:title>"
                     f"Video {i}</video:title><video:description>{description}"
                     "</video:description></video:video></url>\n")
    parts.append("</urlset>\n")
    return gzip.compress("".join(parts).encode(), 6)


def test_an_index_of_two_big_files_imports_in_flat_memory(tmp_path: Path) -> None:
    children = {f"/big{n}.xml.gz": big_child(n) for n in range(2)}

    def handle(req: Request) -> Response:
        if req.path == "/index.xml":
            return Response(200, index([f"{server.base}{path}" for path in children]))
        return Response(200, children[req.path])

    with LocalServer(handle) as server:
        code, err, peak = run_measured(tmp_path, f"{server.base}/index.xml")
    assert code == 0, err
    assert rows(tmp_path, "SELECT count(*), sum(bytes > 0) FROM sitemap_files "
                          "WHERE status = 'ok'") == [(3, 3)]
    assert rows(tmp_path, "SELECT count(*) FROM sitemap_videos") == [(80_000,)]
    assert peak.most_processes >= 2
    assert peak.peak_mb < LIMIT_MB, peak.peak_mb


def test_helpers_die_with_an_import_killed_while_they_parse(tmp_path: Path) -> None:
    """Each helper is in the middle of one long parse (a single chunk inflating to 45 MB)
    when its import is killed with SIGKILL."""
    children = {f"/big{n}.xml.gz": big_child(n, 45_000) for n in range(2)}

    def handle(req: Request) -> Response:
        if req.path == "/index.xml":
            return Response(200, index([f"{server.base}{path}" for path in children]))
        return Response(200, children[req.path])

    with LocalServer(handle) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestctl", "run", "sitemap", f"{server.base}/index.xml"],
            env=spawn_env(tmp_path, INGESTCTL_SITEMAP__PARSE_PROCESSES="2"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            helpers: list[int] = []
            deadline = time.monotonic() + 60
            # Wait until both helpers are busy parsing (their CPU time is growing).
            while time.monotonic() < deadline:
                helpers = descendants(proc.pid)
                if len(helpers) == 2 and all(cpu_seconds(pid) > 0.3 for pid in helpers):
                    break
                time.sleep(0.05)
            assert len(helpers) == 2, "the parse helpers did not start"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = time.monotonic()
            while time.monotonic() - killed < 2 and any(running(pid) for pid in helpers):
                time.sleep(0.05)
            left = [pid for pid in helpers if running(pid)]
        finally:
            for pid in descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "parse helpers outlived their import by 2 s"
