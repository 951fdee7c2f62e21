"""Parse processes: :class:`FileParser` behind a pipe, so parsing uses more than one core.

Parsing and binding rows is CPU-bound Python; in threads it would share the GIL with the
store writer. A :class:`ParsePool` starts up to ``size`` small helper processes (``python -m``
this module: they import the parser and nothing else) and lends one to a worker thread for one
file. The thread still fetches (retries, counting and classification stay in the main
process) and passes each raw chunk over the pipe; the helper parses it, writes the rows into
staging files (:mod:`.staging`) and answers every message with exactly one reply (lockstep, so
neither side can block the other on a full pipe): the staging files that chunk filled and the
child sitemaps it listed.

A helper never outlives its parent: it asks the kernel for SIGKILL when the parent dies
(``PR_SET_PDEATHSIG`` on Linux), and a watchdog thread ends it when the pipe from the parent
closes (elsewhere, or should the signal be missed). Helpers are started by one long-lived
thread of the pool, because the kernel sends that signal when the *thread* that started the
child ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ingestctl.errors import DataError, TransientError
from ingestctl.sources.sitemap.fileparse import FileParser, FileResult, Parts
from ingestctl.sources.sitemap.heap import keep_heap_small
from ingestctl.sources.sitemap.model import SitemapLimits

#: Seconds a helper may take over one chunk (a few ms in practice) before it is given up.
REPLY_TIMEOUT = 120.0
_ROOT = str(Path(__file__).resolve().parents[3])
_PR_SET_PDEATHSIG = 1
#: Environment variable naming the parent's pid, checked once the death signal is armed.
_PARENT_ENV = "INGESTCTL_PARSE_PARENT"
#: Environment variable naming the lifeline pipe's read end.
_LIFELINE_ENV = "INGESTCTL_PARSE_LIFELINE"

ErrorTuple = tuple[str, str | None, int | None, int | None, str | None]


def error_tuple(exc: DataError) -> ErrorTuple:
    """A DataError as plain values (its constructor takes keywords, so it does not pickle)."""
    return exc.problem, exc.url, exc.line, exc.column, exc.hint or None


def error_from(values: ErrorTuple) -> DataError:
    """The DataError of :func:`error_tuple`."""
    problem, url, line, column, hint = values
    return DataError(problem, url=url, line=line, column=column, hint=hint)


class _Helper:
    """One helper process and its pipe ends; started from the pool's spawner thread."""

    def __init__(self) -> None:
        # The helper must import this very ingestctl, wherever it was imported from.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        env[_PARENT_ENV] = str(os.getpid())
        # The lifeline: only this process holds its write end, so the helper reads EOF on
        # it as soon as this process is gone, however it died.
        lifeline, self._lifeline = os.pipe()
        env[_LIFELINE_ENV] = str(lifeline)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True, pass_fds=(lifeline,), env=env)
        finally:
            os.close(lifeline)
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
        os.close(self._lifeline)


class RemoteParser:
    """The :class:`FileParser` interface, run by a helper process."""

    def __init__(self, helper: _Helper, url: str, limits: SitemapLimits, now: datetime,
                 stage_dir: str) -> None:
        self.helper = helper
        self.url = url
        self.done = False
        helper.call(("start", url, limits, now, stage_dir), url)

    def feed(self, chunk: bytes) -> Parts:
        """What ``chunk`` completed."""
        _, parts, self.done = self.helper.call(("feed", chunk), self.url)
        result: Parts = parts
        return result

    def close(self) -> tuple[Parts, FileResult]:
        """The last staged parts and the file's result."""
        _, parts, result, error = self.helper.call(("close",), self.url)
        result.error = error_from(error) if error is not None else None
        return parts, result

    def discard(self) -> None:
        """Drop what the helper staged but did not hand over."""
        if self.helper.healthy:
            self.helper.call(("discard",), self.url)


class ParsePool:
    """Up to ``size`` helper processes, started on first use, lent one file at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[_Helper] = []
        self._all: list[_Helper] = []
        self._changed = threading.Condition()
        # One thread starts every helper and lives until close(): see the module docstring.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-spawner")

    def acquire(self) -> _Helper:
        """A helper for this thread; waits while all are busy."""
        with self._changed:
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self.size:
                    helper = self._spawner.submit(_Helper).result()
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

    def pids(self) -> list[int]:
        """Process ids of the helpers running now."""
        with self._changed:
            return [h.proc.pid for h in self._all]

    def close(self) -> None:
        """Stop every helper, then the spawner thread."""
        with self._changed:
            helpers, self._all, self._idle = self._all, [], []
        for helper in helpers:
            helper.stop()
        self._spawner.shutdown(wait=True)


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
                if parser is not None:
                    parser.discard()
                parser = FileParser(*message[1:])
                out.send(("ok",))
            elif message[0] == "feed":
                assert parser is not None
                out.send(("ok", parser.feed(message[1]), parser.done))
            elif message[0] == "discard":
                if parser is not None:
                    parser.discard()
                parser = None
                out.send(("ok",))
            else:
                assert parser is not None
                parts, result = parser.close()
                parser = None
                error = error_tuple(result.error) if result.error is not None else None
                result.error = None
                out.send(("ok", parts, result, error))
        except Exception as exc:  # reported to the parent, which treats it as a bug
            if parser is not None:
                parser.discard()
            parser = None
            out.send(("crash", f"{type(exc).__name__}: {exc}"))


def _die_with_parent() -> None:
    """Arrange to end as soon as the parent process does, whatever this process is doing."""
    parent = int(os.environ.get(_PARENT_ENV) or 0)
    if sys.platform.startswith("linux"):
        # The interpreter's own symbols include libc's (find_library would run ldconfig).
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent and os.getppid() != parent:
        os._exit(1)  # the parent died before the signal was armed
    lifeline = int(os.environ.get(_LIFELINE_ENV) or -1)
    if lifeline < 0:
        return

    def watch() -> None:
        with contextlib.suppress(OSError):
            os.read(lifeline, 1)  # returns (EOF) only once the parent has gone
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main() -> None:
    """The helper process: serve parse requests on stdin/stdout until told to stop."""
    _die_with_parent()
    keep_heap_small()
    # Ctrl-C reaches the whole process group: the parent decides, the helper ends with its pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp = Connection(os.dup(0), writable=False)
    out = Connection(os.dup(1), readable=False)
    sys.stdout = sys.stderr  # nothing may write into the reply pipe
    _serve(inp, out)


if __name__ == "__main__":
    main()
