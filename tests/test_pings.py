"""Cron-monitor pings of configured imports, received by a local server (`ingestctl run NAME`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import invoke
from tests.faults import closed_port
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset


@pytest.fixture
def monitor() -> Iterator[LocalServer]:
    with LocalServer(lambda req: Response(200, b"OK")) as server:
        yield server


class Site:
    """A sitemap that answers ``statuses`` first (e.g. 503), then a urlset of two URLs."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    def __call__(self, req: Request) -> Response:
        if self.statuses:
            return Response(self.statuses.pop(0), b"nope")
        return Response(200, urlset(["https://p.example/1", "https://p.example/2"]))


def config(tmp_path: Path, url: str, ping_url: str) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(f'[jobs]\nretry_delays = ["0.1s"]\n[retry]\nattempts = 1\n'
                    f'[[imports]]\nname = "shop"\nurl = "{url}"\nping_url = "{ping_url}"\n')
    return path


def requests(server: LocalServer) -> list[tuple[str, str, bytes]]:
    return [(r.method, r.path, r.body) for r in server.requests]


def test_start_then_success(home: Path, tmp_path: Path, monitor: LocalServer) -> None:
    with LocalServer(Site()) as site:
        path = config(tmp_path, site.url("/sitemap.xml"), monitor.url("/ping/abc"))
        result = invoke("--config", str(path), "run", "shop")
    assert result.exit_code == 0, result.stderr
    assert requests(monitor) == [("GET", "/ping/abc/start", b""), ("GET", "/ping/abc", b"")]


def test_a_retry_pings_start_again_and_nothing_else(home: Path, tmp_path: Path,
                                                    monitor: LocalServer) -> None:
    with LocalServer(Site(503)) as site:
        path = config(tmp_path, site.url("/sitemap.xml"), monitor.url("/ping/abc"))
        result = invoke("--config", str(path), "run", "shop")
    assert result.exit_code == 0, result.stderr
    assert [p for _, p, _ in requests(monitor)] == ["/ping/abc/start", "/ping/abc/start",
                                                     "/ping/abc"]


def test_a_failed_job_pings_fail_with_its_error(home: Path, tmp_path: Path,
                                                monitor: LocalServer) -> None:
    with LocalServer(Site(404)) as site:
        path = config(tmp_path, site.url("/sitemap.xml"), monitor.url("/ping/abc"))
        result = invoke("--config", str(path), "run", "shop")
    assert result.exit_code == 1
    sent = requests(monitor)
    assert [(m, p) for m, p, _ in sent] == [("GET", "/ping/abc/start"),
                                            ("POST", "/ping/abc/fail")]
    assert sent[1][2].startswith(b"not_found: ")
    assert sent[1][2].endswith(b"; job 1")


def test_a_dead_monitor_never_fails_the_import(home: Path, tmp_path: Path) -> None:
    with LocalServer(Site()) as site:
        path = config(tmp_path, site.url("/sitemap.xml"),
                      f"http://127.0.0.1:{closed_port()}/ping/abc")
        result = invoke("--config", str(path), "run", "shop")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "ingestctl: warning: ping start to http://127.0.0.1/... failed: ConnectError: "
        "[Errno 111] Connection refused",
        "ingestctl: warning: ping success to http://127.0.0.1/... failed: ConnectError: "
        "[Errno 111] Connection refused"]
    with sqlite3.connect(home / "ingestctl.db") as conn:
        assert conn.execute("SELECT status, items FROM jobs").fetchall() == [("completed", 2)]


def test_imports_without_ping_url_send_nothing(home: Path, tmp_path: Path,
                                               monitor: LocalServer) -> None:
    with LocalServer(Site()) as site:
        result = invoke("run", "sitemap", site.url("/sitemap.xml"))
    assert result.exit_code == 0
    assert monitor.requests == []
