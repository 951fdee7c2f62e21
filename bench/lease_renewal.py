"""How long a lease renewal waits behind a big sitemap import's writes, against an idle store.

Generates a sitemap index (20 children x 50,000 URLs by default, as ``sitemap_throughput.py``),
serves it on 127.0.0.1 and imports it in this process with a lease keeper renewing every
200 ms (``[jobs] heartbeat``; the lease stays at its 60 s default, so the keeper's busy
timeout is its default 2 s). Every renewal's wall time is recorded, lock wait included, and
every write transaction of the import (the longest one bounds how long a renewal can wait).
The peer is the same renewal on the same store with nothing else running.

    python bench/lease_renewal.py [--children 20] [--per-child 50000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

from sitemap_throughput import _Quiet, generate

from ingestctl.clock import SYSTEM
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs import runner as runner_module
from ingestctl.jobs.lease import LeaseKeeper
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import JobSpec
from ingestctl.store import Store


class TimedKeeper(LeaseKeeper):
    """A keeper that records how long each renewal took."""

    waits: list[float] = []
    renewed_at: list[float] = []
    failed = 0

    def renew(self) -> bool:
        started = time.perf_counter()
        done = super().renew()
        if done:
            TimedKeeper.waits.append(time.perf_counter() - started)
            TimedKeeper.renewed_at.append(time.perf_counter())
        else:
            TimedKeeper.failed += 1
        return done


@contextmanager
def timed_writes(store: Store, into: list[float]) -> Iterator[None]:
    """Record the duration of every write transaction the import's thread runs on ``store``."""
    original = store.write
    main = threading.get_ident()

    @contextmanager
    def write() -> Iterator[object]:
        started = time.perf_counter()
        with original() as conn:
            yield conn
        if threading.get_ident() == main:
            into.append(time.perf_counter() - started)

    store.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        store.write = original  # type: ignore[method-assign]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Run the import with the timed keeper, then the idle peer; print both and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--per-child", type=int, default=50000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        server = ThreadingHTTPServer(("127.0.0.1", 0),
                                     partial(_Quiet, directory=str(root)))
        base = f"http://127.0.0.1:{server.server_address[1]}"
        generate(root, base, args.children, args.per_child)
        threading.Thread(target=server.serve_forever, daemon=True).start()

        config = Config()
        config.jobs.heartbeat = 0.2
        store = Store(Path(tmp) / "home" / "ingestctl.db")
        runner_module.LeaseKeeper = TimedKeeper  # type: ignore[misc]
        writes: list[float] = []
        started = time.perf_counter()
        with timed_writes(store, writes):
            job = Runner(store, config, SYSTEM, EventBus()).submit_and_run(
                JobSpec("sitemap", f"{base}/index.xml"))
        took = time.perf_counter() - started
        busy = list(TimedKeeper.waits)
        moments = [started, *TimedKeeper.renewed_at]
        gap = max(b - a for a, b in zip(moments, moments[1:], strict=False))
        failed = TimedKeeper.failed
        server.shutdown()

        TimedKeeper.waits.clear()
        keeper = TimedKeeper(store.path, job.id, "bench:0:0", config.jobs, SYSTEM)
        for _ in range(200):
            keeper.renew()  # the job is completed: the UPDATE matches nothing, as cheap as it is
        idle = list(TimedKeeper.waits)
        keeper.stop()

    print(f"import: {job.status.value}, {job.items:,} URLs in {took:.1f} s; "
          f"{len(writes):,} write transactions, longest {max(writes) * 1000:.0f} ms, "
          f"p99 {percentile(writes, 0.99) * 1000:.1f} ms")
    print(f"renewals during the import: {len(busy)}, median {statistics.median(busy) * 1000:.1f}"
          f" ms, p99 {percentile(busy, 0.99) * 1000:.1f} ms, max {max(busy) * 1000:.0f} ms")
    print(f"renewals that gave up after the 2 s busy timeout (tried again 1 s later): {failed};"
          f" longest time without a renewal: {gap:.1f} s")
    print(f"renewals on the idle store:  {len(idle)}, median {statistics.median(idle) * 1000:.2f}"
          f" ms, max {max(idle) * 1000:.1f} ms")
    print(f"ratio: the slowest renewal took {max(busy) / statistics.median(idle):.0f}x an idle "
          f"one; the lease went unrenewed for at most {gap / config.jobs.lease * 100:.1f} % of "
          f"its {config.jobs.lease:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
