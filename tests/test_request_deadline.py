"""The whole-request deadline, aborting on interruption, and what waits longest for data."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingestctl.clock import FakeClock
from ingestctl.config import HttpConfig, RetryConfig
from ingestctl.errors import TransientError
from ingestctl.interrupt import Cancellation, Interrupted
from ingestctl.sources.http import HttpFetcher, build_client, read_body
from ingestctl.sources.inflight import InFlight
from tests.cli import run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.stalling import SilentServer

ONE_REQUEST = RetryConfig(attempts=1)


class Dribble:
    """A server answering 200 and then a byte every 50 ms (``trickle``) or nothing (``stall``)
    until released."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.released = threading.Event()
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        return Response(200, chunks=self._body())

    def _body(self) -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        while not self.released.is_set():
            if self.mode == "trickle":
                yield b" "
            self.released.wait(0.05)

    def __enter__(self) -> Dribble:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.__exit__(*exc)


def _fetcher(deadline: float, *, timeout: float = 30.0,
             cancel: Cancellation | None = None) -> HttpFetcher:
    client = build_client(HttpConfig(timeout=timeout))
    return HttpFetcher(client, ONE_REQUEST, clock=FakeClock(), inflight=InFlight(deadline),
                       cancel=cancel)


def _read(response: httpx.Response) -> bytes:
    return read_body(response, url=str(response.url))


@pytest.mark.parametrize("mode", ["trickle", "stall"])
def test_a_response_past_the_deadline_is_a_transient_error_naming_url_and_time(
        mode: str) -> None:
    with Dribble(mode) as site:
        url = site.server.url("/slow.xml")
        fetcher = _fetcher(0.5)  # the read timeout (30 s) would never fire while it trickles
        began = time.monotonic()
        with pytest.raises(TransientError) as caught:
            fetcher.fetch(url, _read)
        took = time.monotonic() - began
    assert 0.5 <= took < 3
    message = str(caught.value)
    assert message.startswith(f"no complete response from {url} after ")
    assert "the request deadline is 500ms" in message
    assert caught.value.url == url


def test_a_server_that_never_answers_meets_the_deadline_before_the_read_timeout() -> None:
    with SilentServer() as server:
        url = server.url("/sitemap.xml")
        with pytest.raises(TransientError, match="the request deadline is 500ms"):
            _fetcher(0.5).fetch(url, _read)


def test_no_deadline_when_it_is_zero() -> None:
    with Dribble("stall") as site, pytest.raises(TransientError, match="read timeout"):
        _fetcher(0, timeout=0.3).fetch(site.server.url("/x.xml"), _read)


def test_cancelling_aborts_a_request_blocked_on_a_silent_server() -> None:
    cancel = Cancellation()
    fetcher = _fetcher(0, cancel=cancel)
    assert fetcher.inflight is not None
    cancel.on_cancel(fetcher.inflight.abort_all)
    outcome: list[BaseException] = []
    with SilentServer() as server:
        def fetch() -> None:
            try:
                fetcher.fetch(server.url("/sitemap.xml"), _read)
            except BaseException as exc:  # noqa: BLE001 - the thread hands it over
                outcome.append(exc)

        thread = threading.Thread(target=fetch)
        thread.start()
        while not server.accepted or fetcher.inflight.longest_wait() is None:
            time.sleep(0.01)
        began = time.monotonic()
        cancel.cancel("SIGTERM")
        thread.join(5)
        took = time.monotonic() - began
    assert not thread.is_alive() and took < 1
    assert [type(e) for e in outcome] == [Interrupted]
    assert isinstance(outcome[0], Interrupted) and outcome[0].signal_name == "SIGTERM"


def test_longest_wait_names_the_request_idle_longest() -> None:
    now = [100.0]
    inflight = InFlight(0, monotonic=lambda: now[0])
    assert inflight.longest_wait() is None
    first = inflight.begin("https://a.example/1.xml")
    now[0] = 105.0
    second = inflight.begin("https://a.example/2.xml")
    now[0] = 125.0
    assert inflight.longest_wait() == ("https://a.example/1.xml", 25.0)
    inflight.data(first)  # bytes arrived: it is no longer the one waiting
    assert inflight.longest_wait() == ("https://a.example/2.xml", 20.0)
    inflight.end(second)
    assert inflight.longest_wait() == ("https://a.example/1.xml", 0.0)


def test_waiting_line_shows_after_a_few_seconds() -> None:
    from ingestctl.cli.progress import waiting_line

    assert waiting_line(None) == ""
    assert waiting_line(("https://a.example/s.xml", 2.9)) == ""
    assert waiting_line(("https://a.example/s.xml", 25.4)) == \
        "waiting 25 s for https://a.example/s.xml"


def test_run_against_a_trickling_server_fails_naming_the_url_and_deadline(
        home: Path, tmp_path: Path) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[http]\nrequest_deadline = "1s"\n[retry]\nattempts = 1\n'
                      "[jobs]\nmax_attempts = 1\n", encoding="utf-8")
    with Dribble("trickle") as site:
        url = site.server.url("/sitemap.xml")
        proc = run_cli(home, "--config", str(config), "run", "sitemap", url)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ingestctl: error: job 1 failed after 1 attempt(s): "
                                  f"transient: no complete response from {url} after 1.")
    assert " s: the request deadline is 1s; a stalled or very slow server; raise [http] " \
           "request_deadline if the file is just big; it is in the dead-letter queue" \
           in proc.stderr
