"""Stopping work on SIGINT or SIGTERM: :class:`Interrupted`, a cancellation token, and a shield.

The command line turns the first SIGINT or SIGTERM into :class:`Interrupted`, raised in the
main thread like ``KeyboardInterrupt``, and sets a :class:`Cancellation` that other threads
watch: requests in flight are aborted and backoff sleeps end. While the main thread is inside a
store write transaction (:func:`deferred`), the exception is held back until the transaction
has committed or rolled back, so an interruption never leaves a half-written transaction.
See docs/guide/jobs-and-failures.md ("Interrupting an import").
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ingestctl.clock import Clock, SystemClock

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class Interrupted(BaseException):  # noqa: N818 - named like KeyboardInterrupt, which it replaces
    """The operator or the service manager asked this process to stop (SIGINT or SIGTERM).

    A BaseException, so ``except Exception`` blocks (retries, classifiers) let it through.
    ``job_id`` names the job that was running or waiting, when there was one.
    """

    def __init__(self, signal_name: str = "SIGINT", job_id: int | None = None) -> None:
        self.signal_name = signal_name
        self.job_id = job_id
        super().__init__(f"interrupted by {signal_name}")

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (128 + the signal number, as shells report it)."""
        return EXIT_CODES.get(self.signal_name, 128 + _number(self.signal_name))


def _number(signal_name: str) -> int:
    try:
        return int(signal.Signals[signal_name])
    except KeyError:
        return 2


Abort = Callable[[], None]


class Cancellation:
    """Set once when the process must stop; threads check it, sleep on it, and register aborts.

    ``on_cancel`` callbacks (closing the sockets of requests in flight) run in the thread that
    calls :meth:`cancel`, which is never a signal handler.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._aborts: list[Abort] = []
        self.signal_name = ""

    def is_set(self) -> bool:
        """True once cancelled (or requested by a signal handler)."""
        return bool(self.signal_name) or self._event.is_set()

    def request(self, signal_name: str) -> None:
        """Mark the token cancelled without waking anyone: safe inside a signal handler.

        Someone must still call :meth:`cancel` from a normal thread to run the aborts.
        """
        self.signal_name = self.signal_name or signal_name

    def cancel(self, signal_name: str = "SIGINT") -> None:
        """Cancel: wake every sleeper and run every registered abort (once)."""
        with self._lock:
            if self._event.is_set():
                return
            self.signal_name = self.signal_name or signal_name
            self._event.set()
            aborts, self._aborts = self._aborts, []
        for abort in aborts:
            abort()

    def check(self) -> None:
        """Raise :class:`Interrupted` when cancelled."""
        if self.is_set():
            raise Interrupted(self.signal_name or "SIGINT")

    def on_cancel(self, abort: Abort) -> Callable[[], None]:
        """Run ``abort`` on cancellation (at once when already cancelled); returns an undo."""
        with self._lock:
            if not self._event.is_set():
                self._aborts.append(abort)
                return lambda: self._forget(abort)
        abort()
        return lambda: None

    def _forget(self, abort: Abort) -> None:
        with self._lock:
            if abort in self._aborts:
                self._aborts.remove(abort)

    def sleeper(self, clock: Clock) -> Callable[[float], None]:
        """A sleep that ends early with :class:`Interrupted` once cancelled.

        On the real clock it waits on the token; a test clock keeps its own ``sleep`` (which
        records the wait) and is checked before and after.
        """
        def sleep(seconds: float) -> None:
            self.check()
            if isinstance(clock, SystemClock):
                if seconds > 0 and self._event.wait(seconds):
                    self.check()
                return
            clock.sleep(seconds)
            self.check()

        return sleep


class _Shield(threading.local):
    depth = 0
    pending: Interrupted | None = None


_MAIN = threading.main_thread()
_shield = _Shield()


def hold() -> None:
    """Start holding back :func:`raise_in_main` (pair it with :func:`release` or :func:`drop`).

    Only the main thread receives signals, so other threads are not counted.
    """
    if threading.current_thread() is _MAIN:
        _shield.depth += 1


def release() -> None:
    """Stop holding back; raise the interruption that arrived meanwhile, if any."""
    if threading.current_thread() is not _MAIN:
        return
    _shield.depth -= 1
    if _shield.depth == 0 and _shield.pending is not None:
        pending, _shield.pending = _shield.pending, None
        raise pending


def drop() -> None:
    """Stop holding back while another exception propagates: that one wins.

    The cancellation token still says the process must stop.
    """
    if threading.current_thread() is not _MAIN:
        return
    _shield.depth -= 1
    if _shield.depth == 0:
        _shield.pending = None


@contextmanager
def deferred() -> Iterator[None]:
    """Hold back :func:`raise_in_main` until the block has ended (store transactions)."""
    hold()
    try:
        yield
    except BaseException:
        drop()
        raise
    release()


def raise_in_main(exc: Interrupted) -> None:
    """From a signal handler: raise ``exc`` now, or when the current transaction has ended."""
    if _shield.depth > 0:
        _shield.pending = exc
        return
    raise exc
