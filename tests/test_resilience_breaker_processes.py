"""Eight real processes share one breakers.json: no lost updates, one opening, one probe."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import SYSTEM, to_iso
from tests.httpserver import LocalServer, Response

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "breaker_worker.py"
KEY = "sitemap:127.0.0.1"
PROCESSES = 8


class Workers:
    """Eight long-lived worker processes; each command is released to all at once."""

    def __init__(self, path: Path, url: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs = [subprocess.Popen(
            [sys.executable, str(WORKER), str(path), KEY, url, f"w{i}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            for i in range(PROCESSES)]
        for proc in self.procs:
            assert self._out(proc).readline().strip() == "ready"

    def run(self, command: str) -> list[dict[str, Any]]:
        """Send ``command`` to every worker and collect their answers."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return [json.loads(self._out(proc).readline()) for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        assert [proc.wait(timeout=10) for proc in self.procs] == [0] * PROCESSES

    @staticmethod
    def _out(proc: subprocess.Popen[str]) -> Any:
        assert proc.stdout is not None
        return proc.stdout


class Watcher(threading.Thread):
    """Reads the breaker file as fast as it can and keeps any read that is not valid JSON."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.reads = 0
        self.bad: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                continue
            try:
                json.loads(text)
            except ValueError:
                self.bad.append(text)
            self.reads += 1


@pytest.fixture
def down_server() -> Iterator[LocalServer]:
    with LocalServer(lambda req: Response(503, b"down")) as server:
        yield server


def rewrite_open_until_into_the_past(path: Path) -> None:
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text())
        data["breakers"][KEY]["open_until"] = to_iso(SYSTEM.now() - timedelta(seconds=1))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def test_eight_processes_share_one_breaker(tmp_path: Path, down_server: LocalServer) -> None:
    path = tmp_path / "home" / "breakers.json"
    workers = Workers(path, down_server.url("/sitemap.xml"))
    watcher = Watcher(path)
    watcher.start()
    try:
        results = workers.run("hammer 6")
        hits = len(down_server.requests)
        state = json.loads(path.read_text())["breakers"][KEY]
        # Every call reached the server and every failure was recorded: no lost update.
        assert sum(r["calls"] for r in results) == hits
        assert state["failures"] == hits
        # It opened at the fifth failure; at most the seven others had a call in flight.
        assert 5 <= hits <= 5 + PROCESSES - 1
        assert sum(r["refused"] for r in results) == PROCESSES * 6 - hits
        assert state["state"] == "open"

        # Later runs are deferred without touching the network.
        later = workers.run("hammer 1")
        assert [r["refused"] for r in later] == [1] * PROCESSES
        assert len(down_server.requests) == hits

        # Once open_until has passed, exactly one process of eight gets the probe.
        rewrite_open_until_into_the_past(path)
        probes = workers.run("probe")
        winners = [r["owner"] for r in probes if r["probes"]]
        assert len(winners) == 1
        assert sum(r["refused"] for r in probes) == PROCESSES - 1
        state = json.loads(path.read_text())["breakers"][KEY]
        assert state["state"] == "half_open" and state["probe_owner"] == winners[0]
        assert len(down_server.requests) == hits
    finally:
        watcher.stop.set()
        watcher.join()
        workers.close()
    assert watcher.bad == [] and watcher.reads > 0
