"""What every command shares: global options, and the config, home and store opened lazily."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from ingestctl import clock, log
from ingestctl.config import Config
from ingestctl.config_file import find_config_path, load_config
from ingestctl.events import ALERT_EVENTS, EventBus
from ingestctl.interrupt import Cancellation
from ingestctl.paths import Home, resolve_home
from ingestctl.store import Store, open_store

if TYPE_CHECKING:
    import typer

    from ingestctl.alerts.dispatch import Alerting
    from ingestctl.alerts.pings import PingSubscriber
    from ingestctl.alerts.sentry import SentrySubscriber
    from ingestctl.jobs.contract import ProgressCallback
    from ingestctl.jobs.runner import Runner
    from ingestctl.resilience.breaker_files import BreakerBook

#: Global options, also accepted after the command (``ingestctl run NAME -q``, as cron lines
#: and habits from other tools write them): flags, and options that take a value.
GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--json-logs"})
GLOBAL_VALUED = frozenset({"--config", "--home"})


@dataclass
class AppState:
    """Global options and lazily built core objects for one command."""

    config_option: str | None = None
    home_option: str | None = None
    json_logs: bool = False
    verbose: int = 0
    quiet: bool = False
    _store: Store | None = field(default=None, repr=False)
    pings: PingSubscriber | None = field(default=None, repr=False)
    sentry: SentrySubscriber | None = field(default=None, repr=False)

    @cached_property
    def config(self) -> Config:
        """The effective config (defaults when there is no file)."""
        return load_config(find_config_path(self.config_option))

    @cached_property
    def home(self) -> Home:
        """The home directory."""
        home = resolve_home(self.home_option)
        return home

    @cached_property
    def cancel(self) -> Cancellation:
        """Set on SIGINT or SIGTERM (see ``cli/signals.py``); every runner of the command
        watches it."""
        return Cancellation()

    @cached_property
    def events(self) -> EventBus:
        """The event bus for this process, with its subscribers: alerts (run, retry, worker,
        scheduler), cron-monitor pings and, with ``[sentry] dsn_env``, Sentry."""
        # Start-up weight: read paths never build the bus (test_startup.py).
        from ingestctl.alerts.pings import subscribe_pings

        bus = EventBus()
        # The alerting code loads only when an alerting event happens: `jobs list` stays light.
        bus.subscribe(lambda event: self.alerting.handle(event), ALERT_EVENTS)
        self.pings = subscribe_pings(bus, self.config)
        if self.config.sentry.dsn_env.strip():
            # Optional extra (ingestctl[sentry]): loaded only when Sentry is configured.
            from ingestctl.alerts.sentry import subscribe_sentry

            self.sentry = subscribe_sentry(bus, self.config)
        return bus

    @cached_property
    def alerting(self) -> Alerting:
        """Events -> alerts through the outbox of this home's store."""
        # Start-up weight: loaded when an alerting event happens (test_startup.py).
        from ingestctl.alerts.dispatch import Alerting

        return Alerting(self.store(), self.config, clock.SYSTEM)

    @property
    def stderr_level(self) -> str:
        """The lowest level of log records shown on stderr: ``-q`` and ``-v`` move it."""
        return "error" if self.quiet else ("info" if self.verbose else "warning")

    def setup_stderr_logging(self) -> None:
        """Warnings on stderr from the start, before (or without) the home's log file."""
        log.configure(None, level="debug" if self.verbose else "info",
                      json_stderr=self.json_logs, stderr_level=self.stderr_level)

    def setup_logging(self) -> None:
        """Send the structured log to the home directory and, with --json-logs or
        ``[logging] output``, to stderr."""
        self.home.ensure()
        settings = self.config.logging
        level = "debug" if self.verbose else settings.level
        log.configure(None if settings.output == "stderr" else self.home.log_file, level=level,
                      json_stderr=self.json_logs or settings.output != "file",
                      stderr_level=self.stderr_level, rotation=settings.rotation,
                      max_bytes=settings.max_bytes, backups=settings.backups)

    def store(self, *, recover: bool = True) -> Store:
        """The store, opened once; processing jobs of dead processes are recovered first."""
        if self._store is None:
            self.setup_logging()
            self._store = open_store(self.home, self.config.store)
            if recover:
                # Start-up weight: read paths never recover (test_startup.py).
                from ingestctl.jobs.queue import JobQueue

                JobQueue(self._store, self.config.jobs, clock.SYSTEM, self.events).recover()
        return self._store

    def runner(self, on_progress: ProgressCallback | None = None) -> Runner:
        """A runner on this home's store and circuit breakers."""
        # Start-up weight: the runner brings the sources, httpx and tenacity (test_startup.py).
        from ingestctl.jobs.queue import process_owner
        from ingestctl.jobs.runner import Runner
        from ingestctl.resilience.breaker import BreakerBoard

        owner = process_owner()
        board = BreakerBoard(self.home.breakers, self.config.breaker, clock.SYSTEM, owner=owner,
                             book=self.breaker_book())
        return Runner(self.store(), self.config, clock.SYSTEM, self.events,
                      on_progress=on_progress, owner=owner, breakers=board, cancel=self.cancel)

    def breaker_book(self) -> BreakerBook:
        """Where the circuit breakers live: breakers.json, or the PostgreSQL store's table."""
        from ingestctl.resilience.breaker_files import book_for

        return book_for(self.home.breakers, self.store() if self.config.store.url else None)

    def close(self) -> None:
        """Close what was opened; send what Sentry still queues."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.sentry is not None:
            self.sentry.flush()

    @property
    def interactive(self) -> bool:
        """True when stderr is a terminal and progress bars make sense."""
        return sys.stderr.isatty() and not self.quiet and not os.environ.get("CI")


def state(ctx: typer.Context) -> AppState:
    """The AppState of the running command."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj
