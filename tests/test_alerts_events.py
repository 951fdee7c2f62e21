"""Every event that should alert has a handler, and the scheduler daemon delivers alerts.

The daemon test runs a real `ingestctl scheduler` process whose import 404s, and reads the
dead-letter mail from a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import socket
from pathlib import Path

from ingestctl.alerts.dispatch import HANDLED_EVENTS
from ingestctl.events import ALERT_EVENTS, EventKind
from ingestctl.scheduler.hooks import AlertOutboxHook, default_hooks
from tests.alerts_helpers import Collector, free_port, smtp_server
from tests.cli import rows, wait_until
from tests.httpserver import LocalServer, Response
from tests.test_scheduler_daemon import Daemon, sitemap_import, write_config

# Recorded in the job history and the log; a human need not act on them.
NO_ALERT = {EventKind.JOB_STARTED: "an attempt began",
            EventKind.JOB_RETRYING: "a retry is scheduled (the dead letter alerts if it ends so)",
            EventKind.JOB_DEFERRED: "waiting for a breaker or a quota reset (both alert)",
            EventKind.JOB_INTERRUPTED: "stopped by SIGINT or SIGTERM, queued again: the "
                                       "operator (or the service manager) asked for it"}


def test_every_event_kind_either_alerts_through_a_handler_or_is_known_not_to() -> None:
    for kind in EventKind:
        if kind in NO_ALERT:
            assert kind not in ALERT_EVENTS and kind not in HANDLED_EVENTS, kind
        else:
            assert kind in ALERT_EVENTS, f"{kind} is not subscribed to by the CLI"
            assert kind in HANDLED_EVENTS, f"{kind} has no alert handler"
    assert HANDLED_EVENTS == ALERT_EVENTS


def test_the_scheduler_flushes_the_outbox_with_the_alerting_module_itself() -> None:
    from ingestctl.clock import SYSTEM

    assert AlertOutboxHook in [type(hook) for hook in default_hooks(SYSTEM)]


def test_the_scheduler_daemon_mails_a_dead_letter(home: Path, tmp_path: Path) -> None:
    collector, port = Collector(), free_port()
    with LocalServer(lambda req: Response(404, b"gone")) as missing:
        config = write_config(
            tmp_path / "ingestctl.toml", sitemap_import("shop", missing.url("/sitemap.xml")),
            f'[alerts.email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\ntimeout = "5s"\n'
            'to = ["ops@example.org"]\n')
        controller = smtp_server(collector, port)
        daemon = Daemon(home, config)
        try:
            wait_until(lambda: len(collector.envelopes) >= 1)
            # The daemon's log records the delivery too: nothing was silently dropped.
            wait_until(lambda: rows(home, "SELECT count(*) FROM alert_deliveries WHERE "
                                          "sent_at IS NOT NULL")[0][0] >= 1)
        finally:
            code, _, err = daemon.stop()
            controller.stop()
    assert code == 0, err
    message = collector.messages[0]
    assert message["Subject"] == f"[ingestctl][CRITICAL] shop failed on {socket.gethostname()}"
    assert "Import shop failed and job 1 is in the dead-letter queue." in message.get_content()
