"""One process of the breaker concurrency test, driven by commands on stdin.

    python tests/breaker_worker.py PATH KEY URL OWNER

PATH is breakers.json, or a postgresql:// URL whose store keeps the breakers (then OWNER
``-`` names the process as the product does: INGESTCTL_HOSTNAME:pid).

Prints "ready" once imported, then runs one command per stdin line and prints one JSON line
with what happened:
    hammer N   N times: admit -> GET URL -> record a transient failure on a 5xx answer
    probe      admit once and report whether this process got the probe; records nothing,
               so the probe lease stays held
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from ingestctl.clock import SYSTEM
from ingestctl.config import BreakerConfig
from ingestctl.errors import CircuitOpenError, ErrorClass
from ingestctl.resilience.breaker import BreakerBoard, default_owner
from ingestctl.resilience.breaker_files import StoreBook
from ingestctl.store import Store

CFG = BreakerConfig(failure_threshold=5, reset_timeout=60.0, success_threshold=2,
                    probe_lease=60.0)


def main() -> None:
    path, key, url, owner = sys.argv[1:5]
    owner = default_owner() if owner == "-" else owner
    if path.startswith("postgresql://"):
        board = BreakerBoard(Path("unused.json"), CFG, SYSTEM, owner=owner,
                             book=StoreBook(Store(path)))
    else:
        board = BreakerBoard(Path(path), CFG, SYSTEM, owner=owner)
    client = httpx.Client(timeout=5.0)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        calls = refused = probes = 0
        for _ in range(int(args[0]) if args else 1):
            try:
                admission = board.admit(key)
            except CircuitOpenError:
                refused += 1
                continue
            probes += admission.is_probe
            if command == "probe":
                continue
            calls += 1
            if client.get(url).status_code >= 500:
                board.record_failure(key, ErrorClass.TRANSIENT)
        print(json.dumps({"owner": owner, "calls": calls, "refused": refused,
                          "probes": probes}), flush=True)
    client.close()


if __name__ == "__main__":
    main()
