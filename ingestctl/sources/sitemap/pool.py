"""Parse processes: :class:`FileParser` behind a pipe, so parsing uses more than one core.

Parsing is CPU-bound Python; in threads it shares the GIL with the store writer. A
:class:`ParsePool` starts up to ``size`` small helper processes (``python -m`` this module:
they import the parser and nothing else, about 22 MB each) and lends one to a worker thread
for one file. The thread still fetches (retries, counting and classification stay in the
main process) and passes each raw chunk over the pipe; the helper answers every message
with exactly one reply (lockstep, so neither side can block the other on a full pipe):
the batches that chunk completed, as plain tuples.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingestctl.errors import DataError, TransientError
from ingestctl.sources.sitemap.fileparse import FileParser, FileResult, Rows
from ingestctl.sources.sitemap.model import SitemapLimits

#: Seconds a helper may take over one chunk (a few ms in practice) before it is given up.
REPLY_TIMEOUT = 120.0
_ROOT = str(Path(__file__).resolve().parents[3])


class _Helper:
    """One helper process and its two pipe ends."""

    def __init__(self) -> None:
        # The helper must import this very ingestctl, wherever it was imported from.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True, env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.inp = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.healthy = True

    def call(self, message: Any, url: str) -> Any:
        try:
            self.out.send(message)
            if not self.inp.poll(REPLY_TIMEOUT):
                raise OSError(f"no answer in {REPLY_TIMEOUT:.0f} s")
            reply = self.inp.recv()
        except (OSError, EOFError) as exc:
            self.healthy = False
            raise TransientError(f"sitemap parse process failed ({exc})", url=url) from None
        if reply[0] == "ok":
            return reply
        if reply[0] == "data":
            _, problem, where, line, column, hint = reply
            raise DataError(problem, url=where, line=line, column=column, hint=hint)
        raise RuntimeError(f"sitemap parse process: {reply[1]}")

    def stop(self) -> None:
        if not self.healthy:
            self.proc.kill()
        with contextlib.suppress(OSError):
            self.out.send(None)
        self.out.close()
        self.inp.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class RemoteParser:
    """The :class:`FileParser` interface, run by a helper process."""

    def __init__(self, helper: _Helper, url: str, limits: SitemapLimits, now: datetime) -> None:
        self.helper = helper
        self.url = url
        self.done = False
        helper.call(("start", url, limits, now), url)

    def feed(self, chunk: bytes) -> list[Rows]:
        """Batches completed by ``chunk``."""
        _, batches, self.done = self.helper.call(("feed", chunk), self.url)
        result: list[Rows] = batches
        return result

    def close(self) -> tuple[list[Rows], FileResult]:
        """The last batches and the file's result."""
        _, batches, result = self.helper.call(("close",), self.url)
        return batches, result


class ParsePool:
    """Up to ``size`` helper processes, started on first use, lent one file at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[_Helper] = []
        self._all: list[_Helper] = []
        self._changed = threading.Condition()

    def acquire(self) -> _Helper:
        """A helper for this thread; waits while all are busy."""
        with self._changed:
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self.size:
                    helper = _Helper()
                    self._all.append(helper)
                    return helper
                self._changed.wait()

    def release(self, helper: _Helper) -> None:
        """Give the helper back (a broken one is stopped, and replaced when next needed)."""
        with self._changed:
            if helper.healthy:
                self._idle.append(helper)
            else:
                self._all.remove(helper)
            self._changed.notify()
        if not helper.healthy:
            helper.stop()

    def close(self) -> None:
        """Stop every helper."""
        with self._changed:
            helpers, self._all, self._idle = self._all, [], []
        for helper in helpers:
            helper.stop()


def _serve(inp: Connection, out: Connection) -> None:
    parser: FileParser | None = None
    while True:
        try:
            message = inp.recv()
        except EOFError:
            return
        if message is None:
            return
        try:
            if message[0] == "start":
                parser = FileParser(*message[1:])
                out.send(("ok",))
            elif message[0] == "feed":
                assert parser is not None
                out.send(("ok", parser.feed(message[1]), parser.done))
            else:
                assert parser is not None
                batches, result = parser.close()
                parser = None
                out.send(("ok", batches, result))
        except DataError as exc:
            parser = None
            out.send(("data", exc.problem, exc.url, exc.line, exc.column, exc.hint or None))
        except Exception as exc:  # reported to the parent, which treats it as a bug
            parser = None
            out.send(("crash", f"{type(exc).__name__}: {exc}"))


def main() -> None:
    """The helper process: serve parse requests on stdin/stdout until told to stop."""
    # Ctrl-C reaches the whole process group: the parent decides, the helper ends with its pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp = Connection(os.dup(0), writable=False)
    out = Connection(os.dup(1), readable=False)
    sys.stdout = sys.stderr  # nothing may write into the reply pipe
    _serve(inp, out)


if __name__ == "__main__":
    main()
