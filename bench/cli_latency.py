"""Latency of the read-only commands on a big store, next to ``python -c pass``, with and
without ``ANALYZE``.

Builds (once, in a temporary or ``--keep`` directory) a store holding 1,000,000 jobs over about
a year with one attempt each, 100,000 of them failed with an active dead letter, 20 configured
imports, a few running, retrying and pending jobs, counters and circuit breakers. Then runs
``ingestctl health --format nagios``, ``ingestctl status --json`` and ``ingestctl metrics`` as
subprocesses, interleaved with ``python -c pass`` (the interpreter's own start-up), in two
phases that alternate within every run: the store without statistics, and after ``ANALYZE``
(what ``PRAGMA optimize`` or any SQLite tool leaves behind: ``sqlite_stat1``, which once made
``status`` scan every job). Each phase prints each median wall time, its overhead over the
interpreter and the ratio. Target: each
ratio at most 4.5x in both passes; exit 1 when one is above.

Bytecode caching is on, as in any pip installation (``PYTHONDONTWRITEBYTECODE`` is dropped and
the caches go to a temporary ``PYTHONPYCACHEPREFIX``, so the working tree stays clean);
``--no-bytecode`` measures without it.

    python bench/cli_latency.py [--jobs 1000000] [--dead-letters 100000] [--runs 15] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingestctl.clock import to_iso  # noqa: E402
from ingestctl.store import Store  # noqa: E402
from tests.monitoring_helpers import write_scheduled_config  # noqa: E402

SOURCES = ("sitemap", "sitemap", "sitemap", "merchant", "search-console")
TARGET_RATIO = 4.5  # times `python -c pass` of the same interpreter
IMPORTS = 20


def _iso(moment: datetime) -> str:
    return to_iso(moment) or ""


def build(home: Path, jobs: int, dead: int, now: datetime) -> None:
    """Fill the store with executemany in one transaction per table."""
    home.mkdir(parents=True, exist_ok=True)
    store = Store(home / "ingestctl.db")
    conn = store.conn
    step = timedelta(seconds=30)
    start = now - step * jobs
    # Every tenth run of each import fails (job ids cycle through the imports).
    every_failed = max(jobs // dead, 1) if dead else 0
    with store.write():
        conn.executemany(
            "INSERT INTO imports (id, key, name, source, target, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(n + 1, f"import-{n:02d}", f"import-{n:02d}", SOURCES[n % len(SOURCES)],
              f"target-{n}", _iso(start)) for n in range(IMPORTS)])

        def job_rows() -> object:
            for i in range(1, jobs + 1):
                created = start + step * i
                imp = i % IMPORTS
                failed = every_failed and (i // IMPORTS) % every_failed == every_failed - 1
                yield (i, imp + 1, f"import-{imp:02d}", f"import-{imp:02d}",
                       SOURCES[imp % len(SOURCES)], f"target-{imp}",
                       "failed" if failed else "completed", 3 if failed else 1,
                       0 if failed else 250, "transient" if failed else None,
                       "TransientError" if failed else None,
                       "HTTP 503 from upstream" if failed else None, _iso(created),
                       _iso(created), _iso(created + timedelta(seconds=5 + i % 200)))

        conn.executemany(
            "INSERT INTO jobs (id, import_id, import_key, name, source, target, status, attempts, "
            "items, error_class, error_type, error_message, created_at, started_at, finished_at, "
            "max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3)", job_rows())
        conn.execute(
            "INSERT INTO attempts (job_id, number, owner, started_at, finished_at, outcome, "
            "error_class, error_type, error_message, items) SELECT id, attempts, 'bench:1', "
            "started_at, finished_at, status, error_class, error_type, error_message, items "
            "FROM jobs")
        conn.execute(
            "INSERT INTO dead_letters (job_id, name, source, target, options, error_class, "
            "error_type, error_message, attempts, created_at, updated_at) SELECT id, name, "
            "source, target, options, error_class, error_type, error_message, attempts, "
            "finished_at, finished_at FROM jobs WHERE status = 'failed'")
        conn.execute("UPDATE imports SET last_success_at = (SELECT max(finished_at) FROM jobs "
                     "WHERE import_id = imports.id AND status = 'completed')")
        lease = now + timedelta(days=1)  # valid for as long as the benchmark may run
    # Unfinished jobs: two running with progress, two retrying, one pending.
        for n, (status, extra) in enumerate([
                ("processing", {"lease_owner": "host:1", "lease_expires_at": lease,
                                "progress": json.dumps({"items": 4200, "current":
                                                        "https://shop0.example.com/s-3.xml"})}),
                ("processing", {"lease_owner": "host:2", "lease_expires_at": lease,
                                "progress": json.dumps({"items": 17})}),
                ("retrying", {"next_attempt_at": now + step}),
                ("retrying", {"next_attempt_at": now + step * 2}),
                ("pending", {})]):
            conn.execute(
                "INSERT INTO jobs (import_id, import_key, name, source, target, status, "
                "max_attempts, created_at, started_at, lease_owner, lease_expires_at, progress, "
                "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 3, ?, ?, ?, ?, ?, ?)",
                (n + 1, f"import-{n:02d}", f"import-{n:02d}", SOURCES[n % len(SOURCES)],
                 f"target-{n}", status, _iso(now - step), _iso(now - step),
                 extra.get("lease_owner"),
                 _iso(extra["lease_expires_at"]) if "lease_expires_at" in extra else None,
                 extra.get("progress"),
                 _iso(extra["next_attempt_at"]) if "next_attempt_at" in extra else None))
        conn.executemany("INSERT INTO counters (name, labels, value) VALUES (?, ?, ?)", [
            ("retries_total", '{"error_class":"transient","source":"sitemap"}', 5000),
            ("api_requests_total", '{"api":"merchant","code":"200"}', 90000),
            ("api_requests_total", '{"api":"merchant","code":"429"}', 40)])
    store.close()
    (home / "breakers.json").write_text(json.dumps({"version": 1, "breakers": {
        "sitemap:shop3.example.com": {"state": "open", "failures": 5,
                                      "opened_at": _iso(now), "open_until": _iso(now + step)},
        "merchant:1003": {"state": "closed", "failures": 0}}}), encoding="utf-8")


Statistics = list[tuple[str, str | None, str]]  # the rows of sqlite_stat1


def analyze(database: Path) -> tuple[Statistics, float]:
    """Run ``ANALYZE`` once: the rows it left in ``sqlite_stat1`` and the seconds it took."""
    store = Store(database)  # opening read-write applies any migration the store lacks
    try:
        store.conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
        began = time.perf_counter()
        store.conn.execute("ANALYZE")
        took = time.perf_counter() - began
        rows = [(str(t), i, str(st)) for t, i, st in
                store.conn.execute("SELECT tbl, idx, stat FROM sqlite_stat1")]
    finally:
        store.close()
    return rows, took


def use_statistics(database: Path, rows: Statistics) -> None:
    """Leave exactly ``rows`` in ``sqlite_stat1`` (none: the planner's defaults, as before
    any ANALYZE); each command's new connection reads them when it loads the schema."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM sqlite_stat1")
        conn.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int, database: Path,
            phases: dict[str, Statistics]) -> dict[str, dict[str, float]]:
    """Median wall time (ms) of each command in each phase, after one warm-up run each.

    Phases alternate within every run (the statistics are swapped between them), so a
    machine getting busier or quieter weighs on both alike.
    """
    times: dict[str, dict[str, list[float]]] = {
        phase: {name: [] for name in commands} for phase in phases}
    for rows in phases.values():
        use_statistics(database, rows)
        for argv in commands.values():
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(runs):
        for phase, rows in phases.items():
            use_statistics(database, rows)
            for name, argv in commands.items():
                began = time.perf_counter()
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                times[phase][name].append((time.perf_counter() - began) * 1000)
    return {phase: {name: statistics.median(values) for name, values in by_name.items()}
            for phase, by_name in times.items()}


def report(title: str, medians: dict[str, float], runs: int) -> list[str]:
    """Print one pass's table; the commands above the target ratio."""
    base = medians["python -c pass"]
    print(f"\n{title}: median of {runs} runs, interleaved with the other phase")
    print(f"{'command':<26}{'median':>10}{'overhead':>11}{'ratio':>8}")
    missed = []
    for name, value in medians.items():
        over = name != "python -c pass" and value / base > TARGET_RATIO
        if over:
            missed.append(name)
        print(f"{name:<26}{value:>8.1f}ms{value - base:>9.1f}ms{value / base:>7.2f}x"
              f"{'  > target' if over else ''}")
    return missed


def main() -> int:
    """Build the store, measure without and with ANALYZE, print; exit 1 above the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--dead-letters", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the store in this directory")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="measure without bytecode caches (compile every module each run)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ingestctl-bench-"))
    home, config = work / "home", work / "ingestctl.toml"
    database = home / "ingestctl.db"
    now = datetime.now(UTC)
    if not database.exists():
        began = time.perf_counter()
        build(home, args.jobs, args.dead_letters, now)
        print(f"built {args.jobs:,} jobs and {args.dead_letters:,} dead letters in "
              f"{time.perf_counter() - began:.1f}s at {home}")
    write_scheduled_config(config, SOURCES, IMPORTS)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("INGESTCTL_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    cli = [sys.executable, "-m", "ingestctl", "--home", str(home), "--config", str(config)]
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "health --format nagios": [*cli, "health", "--format", "nagios"],
                "status --json": [*cli, "status", "--json"],
                "metrics": [*cli, "metrics"]}
    print(f"{sys.executable} ({'no ' if args.no_bytecode else ''}bytecode cache); "
          f"target: each command at most {TARGET_RATIO}x python -c pass")
    rows, took = analyze(database)
    print(f"ANALYZE took {took:.1f}s ({len(rows)} rows in sqlite_stat1)")
    phases: dict[str, Statistics] = {"without ANALYZE": [], "after ANALYZE": rows}
    for phase, stats in phases.items():
        use_statistics(database, stats)
        check = subprocess.run(commands["health --format nagios"], env=env,
                               capture_output=True, text=True)
        print(f"{phase}: health exit {check.returncode}: "
              f"{check.stdout.split(' | ')[0][:80]}")
    medians = measure(commands, env, args.runs, database, phases)
    missed = []
    ratios: dict[str, dict[str, float]] = {}
    for phase, by_name in medians.items():
        missed += [f"{name} ({phase})" for name in report(phase, by_name, args.runs)]
        base = by_name["python -c pass"]
        ratios[phase] = {name: value / base for name, value in by_name.items()}
    print(f"\n{'ratio to python -c pass':<26}{'without':>10}{'ANALYZE':>10}")
    for name in commands:
        if name != "python -c pass":
            print(f"{name:<26}{ratios['without ANALYZE'][name]:>9.2f}x"
                  f"{ratios['after ANALYZE'][name]:>9.2f}x")
    if missed:
        print("above the target: " + ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
