"""Structured logging: one JSON object a line, in the home directory and optionally on stderr."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

_FIELDS = ("job_id", "attempt", "import_key", "source", "error_class", "error_type",
           "error_message", "url", "wait", "alert_key", "alert_kind", "alert_severity",
           "alert_action", "rule", "severity")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with the ingestctl context fields it carries."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is created with mode 0600 (logs may name private hosts)."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8")


def configure(log_file: Path | None, *, level: str = "info", json_stderr: bool = False,
              stderr_level: str = "warning") -> None:
    """Send ingestctl's log records to the JSON file and, if asked, JSON lines on stderr."""
    root = logging.getLogger("ingestctl")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    formatter = JsonFormatter()
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _PrivateFileHandler(log_file, encoding="utf-8", delay=True)
        file_handler.setLevel(level.upper())
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    if json_stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(level.upper())
        err.setFormatter(formatter)
        root.addHandler(err)
    else:
        root.addHandler(_quiet_stderr(stderr_level))


class _HumanFormatter(logging.Formatter):
    """``ingestctl: warning: message`` for people reading stderr or cron mail."""

    def format(self, record: logging.LogRecord) -> str:
        """One human line."""
        return f"ingestctl: {record.levelname.lower()}: {record.getMessage()}"


def _quiet_stderr(level: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level.upper())
    handler.setFormatter(_HumanFormatter())
    # The CLI already printed its own line for these; the file still gets them.
    handler.addFilter(lambda record: getattr(record, "console", True))
    return handler
