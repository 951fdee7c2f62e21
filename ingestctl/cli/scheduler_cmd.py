"""``ingestctl scheduler``: the daemon in the foreground, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os
import sys

import typer

from ingestctl import clock
from ingestctl.cli.output import message
from ingestctl.cli.state import state
from ingestctl.config_file import find_config_path, load_config
from ingestctl.scheduler.daemon import SchedulerDaemon
from ingestctl.scheduler.http import Endpoints, StatusServer, parse_address


def scheduler(
    ctx: typer.Context,
    http: str | None = typer.Option(
        None, "--http", metavar="HOST:PORT",
        help="Serve /livez, /readyz, /healthz and /metrics here (just a port: 127.0.0.1)."),
) -> None:
    """Run configured imports on their schedules, due retries and the alert outbox.

    One scheduler per home directory (a second exits 75). SIGTERM or SIGINT: finish running
    imports within [scheduler] shutdown_grace, release the rest for retry, exit 0. SIGHUP:
    reload the config.
    """

    st = state(ctx)
    config = st.config
    listen = http if http is not None else config.scheduler.http
    address = parse_address(listen) if listen else None
    st.setup_logging()
    events = st.events
    hooks = [subscriber.configure for subscriber in (st.pings, st.sentry)
             if subscriber is not None]
    daemon = SchedulerDaemon(
        st.home, config, events,
        config_loader=lambda: load_config(find_config_path(st.config_option)), on_config=hooks)
    daemon.start()
    server = None
    if address is not None:
        try:
            server = StatusServer(address, Endpoints(st.home, lambda: daemon.config,
                                                     lambda: daemon.running, clock.now,
                                                     daemon.role),
                                  workers=config.scheduler.http_workers,
                                  timeout=config.scheduler.http_timeout,
                                  max_connections=config.scheduler.http_max_connections)
        except BaseException:
            daemon.stop(grace=0)
            raise
        server.start()
        daemon.set_http_url(server.url)
    if not st.quiet:
        where = f"; serving {server.url}" if server is not None else ""
        role = "" if daemon.leading else "; standing by while another scheduler leads"
        message(f"ingestctl scheduler: started (pid {os.getpid()}, home {st.home.root}): "
                f"{len(daemon.imports)} scheduled import(s){where}{role}")
        sys.stdout.flush()
    report = daemon.serve()
    if server is not None:
        server.stop()
    if not st.quiet:
        interrupted = (f"; interrupted job(s) {', '.join(map(str, report.interrupted))} will "
                       "be retried" if report.interrupted else "")
        message(f"ingestctl scheduler: stopped ({report.signal or 'stop'}){interrupted}")
    if report.abandoned:
        # Imports still running past the grace time have been released for retry; do not
        # wait for their threads (the interpreter would join them at exit).
        st.close()
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
