"""``ingestctl`` on a real pseudo-terminal: progress bars, live dashboards, Ctrl-C typed as keys."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.cli import spawn_env


class Terminal:
    """``ingestctl ARGS`` on the slave side of a pty (its controlling terminal), 80x24."""

    def __init__(self, home: Path, *args: str, rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.before = termios.tcgetattr(self.slave)
        env = spawn_env(home, TERM="xterm-256color")
        # A person at a terminal: CI runners set CI, which turns progress bars off.
        for name in ("NO_COLOR", "CI"):
            env.pop(name, None)
        slave = self.slave

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "ingestctl", *args], env=env,
                                     stdin=slave, stdout=slave, stderr=slave,
                                     preexec_fn=controlling_tty, close_fds=True)
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 20) -> bytes:
        """Output until ``needle`` appears (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not seen in {self.output[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
        return self.output

    def drain(self, seconds: float) -> None:
        """Collect output for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.output += os.read(self.master, 65536)

    def type(self, keys: bytes) -> None:
        """Send keys as if typed."""
        os.write(self.master, keys)

    def wait(self, timeout: float = 20) -> int:
        """The exit code; keeps draining output so the child never blocks on a full pty."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "still running"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.output += os.read(self.master, 65536)
        return self.proc.returncode

    def close(self) -> None:
        """Kill the child if needed and close both ends."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)
