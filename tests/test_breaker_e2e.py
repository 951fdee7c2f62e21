"""Circuit breakers through real ``ingestctl`` processes and through the CLI.

Eight processes import eight sitemaps of one dead host (one breaker key); the server counts
every request, a watcher thread parses ``breakers.json`` the whole time, and the JSON log
of every process records each breaker transition.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ingestctl.clock import from_iso
from tests.cli import invoke, run_cli, start_cli
from tests.faults import Faults
from tests.httpserver import LocalServer, Request, Response

ENV = {"INGESTCTL_RETRY__ATTEMPTS": "1", "INGESTCTL_BREAKER__RESET_TIMEOUT": "10s",
       "INGESTCTL_JOBS__RETRY_DELAYS": "60s"}


class Dead:
    """Answers 503 to everything and counts the requests."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self.lock:
            self.count += 1
        return Response(503, b"down")


class FileWatcher(threading.Thread):
    """Parses the breaker file over and over; any half-written or invalid read is kept."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.reads = 0
        self.bad: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                time.sleep(0.001)
                continue
            try:
                data = json.loads(text)
                assert isinstance(data["breakers"], dict)
            except (ValueError, KeyError, AssertionError):
                self.bad.append(text)
            self.reads += 1
            time.sleep(0.001)


def wave(home: Path, urls: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``ingestctl run sitemap URL --no-wait`` for every URL at once."""
    procs = [start_cli(home, "run", "sitemap", url, "--no-wait", **ENV) for url in urls]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def transitions(home: Path) -> list[str]:
    lines = (home / "logs" / "ingestctl.jsonl").read_text().splitlines()
    return [entry["message"].rsplit(": ", 1)[1] for entry in map(json.loads, lines)
            if entry["message"].startswith("circuit breaker ")]


def jobs(home: Path, first: int, last: int) -> list[sqlite3.Row]:
    with sqlite3.connect(home / "ingestctl.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM jobs WHERE id BETWEEN ? AND ? ORDER BY id",
                            (first, last)).fetchall()


def breaker(home: Path) -> dict[str, object]:
    data = json.loads((home / "breakers.json").read_text())
    [entry] = data["breakers"].values()
    assert isinstance(entry, dict)
    return entry


def test_eight_processes_against_one_dead_host(home: Path) -> None:
    dead = Dead()
    watcher = FileWatcher(home / "breakers.json")
    watcher.start()
    with LocalServer(dead) as server:
        key = f"sitemap:127.0.0.1:{server.port}"
        url = server.url

        # Wave 1: all eight race; the fifth failure opens the breaker, exactly once.
        first = wave(home, [url(f"/a{n}.xml") for n in range(8)])
        assert [p.returncode for p in first] == [75] * 8, [p.stderr for p in first]
        hits = dead.count
        tried = [j for j in jobs(home, 1, 8) if j["attempts"] == 1]
        assert 5 <= hits <= 8 and len(tried) == hits
        assert all(j["attempts"] == 0 and j["error_class"] == "circuit_open"
                   for j in jobs(home, 1, 8) if j["attempts"] == 0)
        assert transitions(home) == ["closed -> open"]
        assert sum("closed -> open" in p.stderr for p in first) == 1
        state = breaker(home)
        assert (state["state"], state["failures"]) == ("open", hits)
        open_until = from_iso(str(state["open_until"]))
        assert open_until is not None

        # Wave 2, while open: deferred to the reopen time without touching the network.
        second = wave(home, [url(f"/b{n}.xml") for n in range(8)])
        assert datetime.now(UTC) < open_until, "wave 2 outlived the open window"
        assert [p.returncode for p in second] == [75] * 8
        assert dead.count == hits
        for proc in second:
            assert f"(circuit_open: circuit breaker {key} is open until " in proc.stderr
        waiting = jobs(home, 9, 16)
        assert {(j["status"], j["attempts"], j["error_class"]) for j in waiting} == {
            ("retrying", 0, "circuit_open")}
        assert {from_iso(j["next_attempt_at"]) for j in waiting} == {open_until}

        # Wave 3, after the reset timeout: exactly one process probes (and fails again).
        time.sleep(max(0.0, (open_until - datetime.now(UTC)).total_seconds()) + 0.1)
        third = wave(home, [url(f"/c{n}.xml") for n in range(8)])
        assert [p.returncode for p in third] == [75] * 8
        assert dead.count == hits + 1
        assert [j["attempts"] for j in jobs(home, 17, 24)].count(1) == 1
        assert transitions(home) == ["closed -> open", "open -> half_open", "half_open -> open"]
    watcher.done.set()
    watcher.join()
    assert watcher.bad == [] and watcher.reads > 0
    state = breaker(home)
    assert (state["state"], state["failures"], state["probe_owner"]) == ("open", hits + 1, None)
    with sqlite3.connect(home / "ingestctl.db") as conn:
        assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == hits + 1


def test_open_breaker_defers_then_list_and_reset_through_the_cli(home: Path) -> None:
    faults = Faults()
    env: dict[str, str] = {"INGESTCTL_BREAKER__FAILURE_THRESHOLD": "3",
                           "INGESTCTL_JOBS__RETRY_DELAYS": "0s"}
    with LocalServer(faults) as server:
        key = f"sitemap:127.0.0.1:{server.port}"
        failed = run_cli(home, "run", "sitemap", server.url("/status/503"),
                         **{**env, "INGESTCTL_RETRY__ATTEMPTS": "1"})
        assert failed.returncode == 1
        assert f"ingestctl: warning: circuit breaker {key}: closed -> open\n" in failed.stderr
        deferred = run_cli(home, "run", "sitemap", server.url("/ok"), **env)
        assert deferred.returncode == 75
        assert faults.hits["/ok"] == 0
        assert deferred.stderr.startswith("ingestctl: error: job 2 deferred until ")
        assert f"circuit breaker {key} is open until " in deferred.stderr

        listed = run_cli(home, "breaker", "list", "--json")
        assert listed.returncode == 0
        [entry] = json.loads(listed.stdout)
        assert set(entry) == {"key", "state", "failures", "successes", "opened_at",
                              "open_until", "probe_owner", "probe_until", "last_error_class",
                              "updated_at"}
        assert (entry["key"], entry["state"], entry["failures"], entry["last_error_class"]) == (
            key, "open", 3, "transient")
        table = run_cli(home, "breaker", "list")
        # PROBE OWNER is left out while no breaker has one; times name their zone.
        assert table.stdout.split("\n")[0].split() == ["KEY", "STATE", "FAILURES", "OPEN",
                                                       "UNTIL", "(UTC)", "LAST", "ERROR"]
        assert key in table.stdout and "open" in table.stdout

        unknown = run_cli(home, "breaker", "reset", "sitemap:nowhere")
        assert (unknown.returncode, unknown.stdout) == (1, "")
        assert unknown.stderr == ("ingestctl: error: no circuit breaker 'sitemap:nowhere'; "
                                  "see `ingestctl breaker list`\n")
        both = run_cli(home, "breaker", "reset", key, "--all")
        assert both.returncode == 2
        assert both.stderr == "ingestctl: error: breaker reset: give a KEY or --all (not both)\n"

        reset = run_cli(home, "breaker", "reset", key)
        assert reset.returncode == 0
        assert (reset.stdout, reset.stderr) == (f"circuit breaker {key} reset (was open)\n", "")
        assert json.loads(run_cli(home, "breaker", "list", "--json").stdout) == []
        # The deferred job runs as soon as it is retried by hand, now the breaker is closed.
        again = run_cli(home, "retry", "2")
        assert again.returncode == 0, again.stderr
        assert faults.hits["/ok"] == 1
    log = (home / "logs" / "ingestctl.jsonl").read_text()
    assert f"circuit breaker {key}: open -> closed (reset by hand)" in log


def test_reset_all(home: Path) -> None:
    path = home / "breakers.json"
    home.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "breakers": {
        "sitemap:a": {"state": "open", "failures": 5, "open_until": "2999-01-01T00:00:00Z"},
        "sitemap:b": {"state": "closed", "failures": 2}}}))
    result = invoke("breaker", "reset", "--all")
    assert result.exit_code == 0
    assert result.stdout == "reset 2 circuit breaker(s); 1 were not closed\n"
    assert json.loads(path.read_text()) == {"version": 1, "breakers": {}}


def test_corrupt_breaker_file_warns_then_behaves_normally(home: Path) -> None:
    path = home / "breakers.json"
    home.mkdir(parents=True)
    path.write_text('{"version": 1, "breakers": {"sitemap:x": {"state": "op')
    listed = run_cli(home, "breaker", "list")
    assert listed.returncode == 0
    assert listed.stdout == "no circuit breakers\n"
    assert listed.stderr.startswith(f"ingestctl: warning: circuit breaker file {path} is "
                                    "unreadable or invalid (not valid JSON: ")
    assert listed.stderr.endswith("); the breakers it cannot read are treated as closed; the "
                                  f"file is rewritten and the old one kept as {path}.corrupt\n")
    assert listed.stderr.count("\n") == 1
    assert json.loads(path.read_text()) == {"version": 1, "breakers": {}}  # rewritten

    faults = Faults()
    with LocalServer(faults) as server:
        run = run_cli(home, "run", "sitemap", server.url("/ok"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("job 1 completed with warnings: 50 URLs from ")
    assert run.stderr == ""  # warned about once, by the first reader
    clean = run_cli(home, "breaker", "list")
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "no circuit breakers\n", "")
