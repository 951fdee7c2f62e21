"""The log channel: every alert, sent or suppressed, is recorded on ``ingestctl.alerts``.

It cannot fail, so it is not part of the outbox; the outbox calls it for every alert it is
given, with its decision, so the structured log explains why an alert did or did not go out.
"""

from __future__ import annotations

import logging

from ingestctl.models.alerts import Alert, Severity

LOGGER_NAME = "ingestctl.alerts"

_LEVELS = {
    Severity.CRITICAL: logging.ERROR,
    Severity.WARNING: logging.WARNING,
    Severity.INFO: logging.INFO,
    Severity.RESOLVED: logging.INFO,
}


class LogChannel:
    """Records alerts on the standard library logger ``ingestctl.alerts``."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def send(self, alert: Alert) -> None:
        """Log ``alert`` at the level of its severity."""
        self.record(alert, "send", "")

    def record(self, alert: Alert, action: str, reason: str) -> None:
        """Log ``alert`` with what the outbox did with it; suppressed ones at INFO."""
        level = _LEVELS[alert.severity] if action == "send" else logging.INFO
        self.logger.log(
            level,
            "alert %s %s: %s%s",
            action,
            alert.key,
            alert.subject,
            f" ({reason})" if reason else "",
            extra={
                "alert_key": alert.key,
                "alert_kind": str(alert.kind),
                "alert_severity": str(alert.severity),
                "alert_action": action,
                "alert_fields": alert.fields,
                # The CLI prints its own line; alerts belong to the log file, not stderr.
                "console": False,
            },
        )
