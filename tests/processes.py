"""A process and its descendants, read from /proc: their pids, states and resident memory."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Pids of every descendant of ``pid``.

    Children are listed per thread (``task/TID/children``): a process started by a thread
    other than the main one is only listed under that thread.
    """
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(child) for child in children)
            todo.extend(int(child) for child in children)
    return found


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """Resident kB of ``pid`` (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreePeak:
    """Samples the resident memory of a process tree in a thread; ``peak_mb`` is the most."""

    def __init__(self, pid: int, every: float = 0.01) -> None:
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self.most_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        """The highest sum seen, in MB."""
        return self.peak_kb / 1024

    def _run(self) -> None:
        while not self._stop.is_set() and running(self.pid):
            tree = [self.pid, *descendants(self.pid)]
            self.most_processes = max(self.most_processes, len(tree))
            self.peak_kb = max(self.peak_kb, sum(rss_kb(pid) for pid in tree))
            time.sleep(self.every)
