"""One scheduler per home directory: an exclusive ``flock`` on ``scheduler.lock``, held for life.

The kernel drops the lock when the process dies, however it dies, so a stale file never blocks
a new scheduler. The file names the holder (pid, host, start time, HTTP address) so a second
scheduler can say who is in the way.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ingestctl.errors import EXIT_DEFERRED, IngestError

LOCK_NAME = "scheduler.lock"


class SchedulerAlreadyRunning(IngestError):
    """Another scheduler holds the home directory's lock."""

    exit_code = EXIT_DEFERRED

    def __init__(self, home: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        pid = holder.get("pid", "?")
        where = f"pid {pid} on {holder.get('host', '?')}"
        if holder.get("started_at"):
            where += f", started {holder['started_at']}"
        super().__init__(f"a scheduler is already running for {home} ({where})",
                         hint=f"stop it first (kill -TERM {pid}) or use another --home")


class InstanceLock:
    """The scheduler's lock file; :meth:`acquire` raises SchedulerAlreadyRunning when taken."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock without waiting and write ``info`` (pid, host, ...) into the file."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise SchedulerAlreadyRunning(self.home, holder) from None
        self._fd = fd
        self.update(info)

    def update(self, info: dict[str, Any]) -> None:
        """Rewrite the holder's details (e.g. once the HTTP address is known)."""
        if self._fd is None:
            return
        data = (json.dumps(info, sort_keys=True) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        """Drop the lock (the file stays: unlinking a lock file races with the next taker)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._fd is not None


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
