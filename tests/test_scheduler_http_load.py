"""The scheduler's HTTP endpoint under hostile clients: idle connections by the thousand,
clients that hang up, clients that never read, more requests than workers."""

from __future__ import annotations

import re
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.config import Config
from ingestctl.paths import Home
from ingestctl.scheduler.http import Endpoints, Response, StatusServer
from tests.cli import rows, spawn_env, wait_until
from tests.httpserver import LocalServer
from tests.httpserver import Response as SiteResponse
from tests.sites import urlset

IDLE = 1000
START = re.compile(r"serving (http://127\.0\.0\.1:(\d+))$")


def _raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this test needs {wanted} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _usual_nofile() -> None:
    """The scheduler runs with the soft limit most systems give a service: 1024 files."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


def get(url: str, timeout: float) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def test_livez_answers_within_a_second_under_1000_idle_connections(home: Path,
                                                                   tmp_path: Path) -> None:
    _raise_nofile(IDLE + 512)
    body = urlset(["https://pages.example/a", "https://pages.example/b"])
    with LocalServer(lambda req: SiteResponse(200, body)) as site:
        config = tmp_path / "ingestctl.toml"
        config.write_text(f'[scheduler]\npoll_interval = "0.5s"\n[[imports]]\nname = "pages"\n'
                          f'url = "{site.url("/s.xml")}"\nschedule = "every 1s"\n')
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingestctl", "--config", str(config), "scheduler", "--http",
             "0"], env=spawn_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=_usual_nofile)
        idle: list[socket.socket] = []
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "the scheduler printed no start line"
            match = START.search(proc.stdout.readline().strip())
            assert match, "no http address in the start line"
            url, port = match.group(1), int(match.group(2))
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            started = time.monotonic()
            assert get(url + "/livez", timeout=1.0) == (200, b"ok\n")
            assert time.monotonic() - started < 1.0
            # The daemon still has file descriptors for its own work: an import completes
            # while the idle connections are open.
            before = rows(home, "SELECT count(*) FROM jobs WHERE status = 'completed'")[0][0]
            wait_until(lambda: rows(home, "SELECT count(*) FROM jobs WHERE status = "
                                          "'completed'")[0][0] > before, timeout=30)
            assert rows(home, "SELECT count(*) FROM jobs WHERE status = 'failed'") == [(0,)]
            assert get(url + "/metrics", timeout=5)[0] == 200
        finally:
            for sock in idle:
                sock.close()
            proc.terminate()
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Too many open files" not in err, err[-2000:]


def answers(url: str) -> bool:
    """True when ``url`` answers 200 (not 503 busy)."""
    try:
        return get(url, timeout=5)[0] == 200
    except urllib.error.HTTPError:
        return False


class Blocking(Endpoints):
    """Endpoints whose /slow waits until released; /big answers 8 MB."""

    def __init__(self, root: Path) -> None:
        super().__init__(Home(root), Config, lambda: True, lambda: None)  # type: ignore[arg-type]
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def handle(self, path: str) -> Response:
        if path == "/slow":
            self.entered.release()
            self.release.wait(30)
            return Response(200, "text/plain", b"slow\n")
        if path == "/big":
            return Response(200, "text/plain", b"x" * 8_000_000)
        return super().handle(path)


@pytest.fixture
def blocking(tmp_path: Path) -> Iterator[tuple[Blocking, StatusServer]]:
    endpoints = Blocking(tmp_path / "home")
    server = StatusServer(("127.0.0.1", 0), endpoints, workers=2, timeout=0.5)
    server.start()
    yield endpoints, server
    endpoints.release.set()
    server.stop()


def test_requests_beyond_the_workers_are_refused_at_once(
        blocking: tuple[Blocking, StatusServer]) -> None:
    endpoints, server = blocking
    results: list[tuple[int, bytes]] = []
    slow = [threading.Thread(target=lambda: results.append(get(server.url + "/slow", 30)))
            for _ in range(2)]
    for thread in slow:
        thread.start()
    for _ in slow:
        assert endpoints.entered.acquire(timeout=10)
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(server.url + "/livez", timeout=5)
    assert time.monotonic() - started < 1.0
    assert refused.value.code == 503
    assert refused.value.read() == b"busy: all 2 workers are answering; try again\n"
    endpoints.release.set()
    for thread in slow:
        thread.join(10)
    assert results == [(200, b"slow\n")] * 2
    assert get(server.url + "/livez", timeout=5) == (200, b"ok\n")


def test_idle_and_stalled_clients_time_out_and_free_their_worker(
        blocking: tuple[Blocking, StatusServer], capfd: pytest.CaptureFixture[str]) -> None:
    _, server = blocking
    port = int(server.url.rsplit(":", 1)[1])
    # Read timeout: a client that sends nothing is closed after the timeout.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        started = time.monotonic()
        assert idle.recv(100) == b""
        assert time.monotonic() - started < 5
    # Write timeout: two clients that ask for 8 MB and never read hold both workers only until
    # the timeout; then /livez is answered again.
    stalled = []
    for _ in range(2):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        stalled.append(sock)
    try:
        wait_until(lambda: answers(server.url + "/livez"), timeout=10)
    finally:
        for sock in stalled:
            sock.close()
    # A client that hangs up mid-answer (RST) is no traceback.
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        sock.close()
    wait_until(lambda: answers(server.url + "/livez"), timeout=10)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Error" not in captured.err, captured.err
