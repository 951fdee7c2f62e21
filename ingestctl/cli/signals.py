"""SIGINT and SIGTERM in ``run``, ``retry``, ``dlq retry`` and ``worker``: stop in seconds.

The first signal cancels the runner's token from a relay thread (requests in flight are
aborted: a signal handler must not take locks) and raises :class:`Interrupted` in the main
thread, which records the attempt as ``interrupted``. The command then prints one line saying
how to resume and exits 130 (SIGINT) or 143 (SIGTERM). Another signal while it stops says
once that it is still stopping and is otherwise ignored, so pressing Ctrl-C repeatedly never
prints a traceback nor loses the attempt; only one coming more than ``FORCE_AFTER`` seconds
after the first quits at once (the job is then recovered as crashed by the next command).
See docs/guide/jobs-and-failures.md ("Interrupting an import").
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer

from ingestctl.interrupt import EXIT_CODES, Cancellation, Interrupted, raise_in_main

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds after the first signal from which another one quits at once.
FORCE_AFTER = 5.0


class SignalStop:
    """The handlers of one command; see the module docstring."""

    def __init__(self, cancel: Cancellation) -> None:
        self.cancel = cancel
        self.count = 0
        self.signal_name = ""
        self.first_at = 0.0
        self.stopped = False  # the final line is out: later signals change nothing
        self._previous: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (only the main thread may; elsewhere nothing changes)."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._pipe = os.pipe()
        threading.Thread(target=self._relay, args=(self._pipe[0],), name="signal-relay",
                         daemon=True).start()
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put the previous handlers back, unless a signal came: then later ones stay quiet
        (a Ctrl-C during the interpreter's exit must not print a traceback)."""
        if self.count == 0:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        if self._pipe is not None:
            os.close(self._pipe[1])  # ends the relay thread
            self._pipe = None

    def _relay(self, read_end: int) -> None:
        try:
            data = os.read(read_end, 1)
        finally:
            os.close(read_end)
        if data:
            self.cancel.cancel(self.signal_name)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        if self.count == 1:
            self.signal_name = name
            self.first_at = time.monotonic()
            self.cancel.request(name)
            if self._pipe is not None:
                os.write(self._pipe[1], b"!")
            raise_in_main(Interrupted(name))
        elif self.stopped:
            return
        elif time.monotonic() - self.first_at >= FORCE_AFTER:
            os._exit(EXIT_CODES.get(self.signal_name, 130))
        elif self.count == 2:
            os.write(2, b"ingestctl: still stopping (recording the interrupted attempt)\n")


@contextmanager
def stop_on_signals(cancel: Cancellation) -> Iterator[SignalStop]:
    """Run the block with the handlers; an interruption ends the command (see module doc)."""
    stop = SignalStop(cancel)
    stop.install()
    try:
        yield stop
        cancel.check()  # a signal that arrived while the job was completing
    except Interrupted as exc:
        stop.stopped = True
        sys.stdout.flush()
        sys.stderr.write(interrupted_line(exc) + "\n")
        sys.stderr.flush()
        raise typer.Exit(exc.exit_code) from None
    finally:
        stop.restore()


def interrupted_line(exc: Interrupted) -> str:
    """The one line printed when a command is interrupted."""
    if exc.job_id is None:
        return f"ingestctl: interrupted by {exc.signal_name}"
    return (f"ingestctl: interrupted by {exc.signal_name}: job {exc.job_id} is queued again "
            f"and keeps what it finished; resume it with `ingestctl retry {exc.job_id}` "
            "(`ingestctl worker` or the scheduler also picks it up)")


def exit_now(code: int) -> None:
    """End an interrupted process at once: everything is recorded and flushed by now.

    The interpreter's own exit would wait for a reader thread still connecting, and resets
    the signal handlers, so a late Ctrl-C would kill it with a signal instead of ``code``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
