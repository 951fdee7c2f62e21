"""Shared state on PostgreSQL: eight processes on two "hosts" share one circuit breaker and
its one probe; three processes flushing the outbox at once send an alert once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingestctl.clock import SYSTEM, to_iso
from ingestctl.store import Store
from ingestctl.store import breakers as breaker_rows
from ingestctl.store.alerts import DatabaseOutboxStore
from tests.alerts_helpers import sample_dead_letter
from tests.cli import start_cli
from tests.httpserver import LocalServer, Request, Response

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "breaker_worker.py"
KEY = "sitemap:127.0.0.1"
HOSTS = ("host-a", "host-b")
PER_HOST = 4


class Processes:
    """Eight breaker processes, four per host name; each command goes to all at once."""

    def __init__(self, url: str, target: str) -> None:
        self.procs = [subprocess.Popen(
            [sys.executable, str(WORKER), url, KEY, target, "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "INGESTCTL_HOSTNAME": host})
            for host in HOSTS for _ in range(PER_HOST)]
        for proc in self.procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def run(self, command: str) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return [json.loads(proc.stdout.readline()) for proc in self.procs  # type: ignore[union-attr]
                ]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        assert [proc.wait(timeout=20) for proc in self.procs] == [0] * len(self.procs)


@pytest.fixture
def down_server() -> Iterator[LocalServer]:
    with LocalServer(lambda req: Response(503, b"down")) as server:
        yield server


def _state(store: Store) -> dict[str, Any]:
    [row] = breaker_rows.load(store)
    return row


def _reopen_for_a_probe(store: Store) -> None:
    with store.write() as conn:
        conn.execute("UPDATE breakers SET open_until = ?, probe_owner = NULL, probe_until = NULL",
                     (to_iso(SYSTEM.now() - timedelta(seconds=1)),))


def test_eight_processes_on_two_hosts_share_one_breaker_and_one_probe(
        pg_url: str, down_server: LocalServer) -> None:
    with Store(pg_url) as store:
        procs = Processes(pg_url, down_server.url("/sitemap.xml"))
        try:
            results = procs.run("hammer 6")
            hits = len(down_server.requests)
            state = _state(store)
            # Every failure was recorded (row locks lose no update) and it opened once.
            assert sum(r["calls"] for r in results) == hits
            assert state["failures"] == hits and state["state"] == "open"
            assert 5 <= hits <= 5 + len(procs.procs) - 1
            assert sum(r["refused"] for r in results) == len(procs.procs) * 6 - hits

            # Open: every process on both hosts is refused without a request.
            assert [r["refused"] for r in procs.run("hammer 1")] == [1] * len(procs.procs)
            assert len(down_server.requests) == hits

            # Reset timeout passed: exactly one process of eight becomes the probe, and while
            # its probe lease runs nobody else is let through, round after round.
            _reopen_for_a_probe(store)
            winners = [r["owner"] for r in procs.run("probe") if r["probes"]]
            assert len(winners) == 1
            state = _state(store)
            assert (state["state"], state["probe_owner"]) == ("half_open", winners[0])
            assert winners[0].split(":")[0] in HOSTS
            again = procs.run("probe")
            assert sum(r["probes"] for r in again) == 1  # only the holder may probe again
            assert [r["owner"] for r in again if r["probes"]] == winners
            assert len(down_server.requests) == hits
        finally:
            procs.close()


def test_three_processes_flushing_at_once_send_an_alert_once(tmp_path: Path,
                                                             pg_url: str) -> None:
    def hook(req: Request) -> Response:
        time.sleep(0.5)  # the delivery is in flight while the other flushes look
        return Response(200, b"ok")

    earlier = SYSTEM.now() - timedelta(hours=1)  # the adding process's claim has lapsed
    with Store(pg_url) as store:
        alert_id = DatabaseOutboxStore(store).add(sample_dead_letter(earlier), ["webhook"],
                                                  earlier)
    with LocalServer(hook) as server:
        flushes = [start_cli(tmp_path / f"home{i}", "alerts", "flush", INGESTCTL_DB_URL=pg_url,
                             INGESTCTL_HOSTNAME=f"host-{i}",
                             INGESTCTL_WEBHOOK_URL=server.url("/hook"))
                   for i in range(3)]
        outputs = [proc.communicate(timeout=60) for proc in flushes]
    assert len(server.requests) == 1
    delivered = [out for out, _ in outputs if out.startswith("alerts flush: 1 delivered")]
    assert len(delivered) == 1, outputs
    with Store(pg_url) as store:
        [row] = store.query("SELECT alert_id, channel, attempts, sent_at FROM alert_deliveries")
        assert (row["alert_id"], row["channel"], row["attempts"]) == (alert_id, "webhook", 0)
        assert row["sent_at"] is not None
