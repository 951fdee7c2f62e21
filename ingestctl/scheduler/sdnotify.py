"""systemd's service notification protocol (sd_notify(3)), for ``Type=notify`` units.

A datagram of ``KEY=VALUE`` lines to the unix socket named by ``NOTIFY_SOCKET`` (a path, or
``@name`` in the abstract namespace). The scheduler sends ``READY=1`` once it serves,
``WATCHDOG=1`` every half of ``WATCHDOG_USEC`` while its main loop turns, ``RELOADING=1``
then ``READY=1`` around a SIGHUP reload and ``STOPPING=1`` when it begins to stop. Without
``NOTIFY_SOCKET`` (not under systemd) every call does nothing. Written here because the
protocol is a few lines and the Python packages for it are unmaintained or need libsystemd.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("ingestctl.scheduler")


class Notifier:
    """Sends notifications to systemd; a no-op outside a ``Type=notify`` unit."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000 / 2
        self._monotonic = monotonic
        self._last_watchdog: float | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True under systemd (``NOTIFY_SOCKET`` set)."""
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False when not sent (logged once)."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError as exc:
            if not self._failed:  # a watchdog sends every minute: say it once
                log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"),
                            exc)
            self._failed = True
            return False
        return True

    def ready(self, status: str) -> None:
        """The service is up (``READY=1``) with a status line for ``systemctl status``."""
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
        self._last_watchdog = self._monotonic()

    def reloading(self) -> None:
        """A reload begins; :meth:`ready` ends it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str) -> None:
        """The service begins to stop."""
        self.send("STOPPING=1", f"STATUS={status}")

    def keepalive(self) -> None:
        """``WATCHDOG=1`` when half of ``WatchdogSec`` has passed since the last one."""
        if self.watchdog_interval is None:
            return
        now = self._monotonic()
        if self._last_watchdog is None or now - self._last_watchdog >= self.watchdog_interval:
            self._last_watchdog = now
            self.send("WATCHDOG=1")
