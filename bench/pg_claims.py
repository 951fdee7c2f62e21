"""Jobs claimed per second: PostgreSQL against SQLite, in the same run.

Fills a queue with ``--jobs`` pending jobs, then ``--workers`` processes (and, for the
baseline, one) drain it the way ``ingestctl worker`` does: claim the job due soonest
(``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`` on PostgreSQL, the same UPDATE
under SQLite's write lock), record its attempt, complete it. No source runs, so this measures
the queue itself. Prints jobs per second for each backend and worker count, and the ratios.

PostgreSQL is the server at ``--url``; without it a throwaway cluster is started with the
test fixtures' helper (Debian's postgresql package: /usr/lib/postgresql/*/bin).

    python bench/pg_claims.py [--jobs 2000] [--workers 4] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingestctl.clock import SYSTEM, to_iso  # noqa: E402
from ingestctl.config import JobsConfig  # noqa: E402
from ingestctl.events import EventBus  # noqa: E402
from ingestctl.jobs.contract import AttemptReport  # noqa: E402
from ingestctl.jobs.queue import JobQueue  # noqa: E402
from ingestctl.models.jobs import JobSpec  # noqa: E402
from ingestctl.store import Store  # noqa: E402
from tests.pg import bench_cluster  # noqa: E402


def fill(location: Path | str, jobs: int) -> None:
    """``jobs`` pending jobs, one import each (an import has one active job at a time)."""
    with Store(location) as store:
        queue = JobQueue(store, JobsConfig(), SYSTEM, EventBus(), owner="bench:fill")
        for i in range(jobs):
            queue.submit(JobSpec("sitemap", f"https://site{i}.example/sitemap.xml"))


def drain(location: Path | str, owner: str, start: multiprocessing.synchronize.Event,
          done: multiprocessing.Queue[int]) -> None:
    """Claim and complete jobs until none is due; report how many."""
    with Store(location) as store:
        queue = JobQueue(store, JobsConfig(), SYSTEM, EventBus(), owner=owner)
        start.wait()
        count = 0
        while (job := queue.claim_next(to_iso(SYSTEM.now()) or "")) is not None:
            queue.complete(job, AttemptReport())
            count += 1
    done.put(count)


def measure(location: Path | str, jobs: int, workers: int) -> float:
    """Jobs per second of ``workers`` processes draining ``jobs`` jobs at ``location``."""
    fill(location, jobs)
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=drain, args=(location, f"bench:{i}:0", start, done))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let every worker connect before the clock starts
    began = time.perf_counter()
    start.set()
    claimed = sum(done.get() for _ in procs)
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    if claimed != jobs:
        raise SystemExit(f"claimed {claimed} of {jobs} jobs: the queue lost or doubled work")
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--url", help="a PostgreSQL database to use (emptied tables are not "
                                      "dropped: give a fresh one)")
    args = parser.parse_args()
    cluster = bench_cluster(args.url)
    try:
        results: dict[tuple[str, int], float] = {}
        for workers in sorted({1, args.workers}):
            with tempfile.TemporaryDirectory() as tmp:
                results["sqlite", workers] = measure(Path(tmp) / "bench.db", args.jobs, workers)
            url = cluster.new_database() if cluster is not None else args.url
            if cluster is None and workers != 1:
                raise SystemExit("--url measures one worker count; omit it to compare both")
            results["postgres", workers] = measure(url, args.jobs, workers)
        print(f"{args.jobs} jobs claimed and completed, jobs per second:")
        for (backend, workers), rate in sorted(results.items()):
            print(f"  {backend:<9} {workers} worker(s): {rate:8.0f}/s")
        for workers in sorted({1, args.workers}):
            ratio = results["postgres", workers] / results["sqlite", workers]
            print(f"  postgres / sqlite with {workers} worker(s): {ratio:.2f}x")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
