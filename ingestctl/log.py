"""Structured logging: one JSON object a line, in the home directory and optionally on stderr."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from ingestctl.redact import redact_text

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
            "message": redact_text(record.getMessage()),
            "pid": record.process,
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = redact_text(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            entry["traceback"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class _PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is created with mode 0600 (logs may name private hosts), and
    whose failure to open it goes to ``handleError`` like a failed write."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record (FileHandler opens the file outside its own error handling)."""
        try:
            super().emit(record)
        except OSError:
            self.handleError(record)


def _file_handler(path: Path, rotation: str, max_bytes: int, backups: int) -> logging.Handler:
    if rotation == "logrotate":
        # Start-up weight: logging.handlers (with socket and pickle) costs ~5 ms; loaded with
        # the first record written (test_monitoring_cli.py).
        import logging.handlers

        class _PrivateWatchedFileHandler(_PrivateFileHandler,
                                         logging.handlers.WatchedFileHandler):
            """Reopens the file when logrotate moved it; mode 0600."""

        return _PrivateWatchedFileHandler(path, encoding="utf-8", delay=True)
    if max_bytes <= 0:
        return _PrivateFileHandler(path, encoding="utf-8", delay=True)
    # concurrent-log-handler takes a lock file (.__ingestctl.jsonl.lock) around every write
    # and rotation, so any number of processes share one size-rotated log without losing or
    # mixing lines; the stdlib RotatingFileHandler is safe within one process only.
    # Start-up weight: loaded with the first record written (test_startup.py).
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    return ConcurrentRotatingFileHandler(str(path), "a", maxBytes=max_bytes,
                                         backupCount=backups, encoding="utf-8", umask=0o077)


class _OpenedOnFirstRecord(logging.Handler):
    """Builds the real file handler when the first record arrives, so a command that logs
    nothing (``jobs list``) never loads the rotation library or touches the file."""

    def __init__(self, build: Callable[[], logging.Handler], level: str,
                 formatter: logging.Formatter) -> None:
        super().__init__(level.upper())
        self.setFormatter(formatter)
        self._build = build
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Hand the record to the file handler, building it first if needed."""
        with self.lock or nullcontext():
            if self._inner is None:
                try:
                    self._inner = self._build()
                except OSError:  # e.g. the rotation lock file cannot be created
                    self.handleError(record)
                    return
                self._inner.setFormatter(self.formatter or JsonFormatter())
        self._inner.handle(record)

    def close(self) -> None:
        """Close the file handler if it was built."""
        if self._inner is not None:
            self._inner.close()
        super().close()


_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (logging.INFO, 6))


class JournalFormatter(JsonFormatter):
    """JSON lines with the ``<N>`` syslog-priority prefix journald reads from a service's
    stderr, so ``journalctl -p warning`` filters ingestctl's lines."""

    def format(self, record: logging.LogRecord) -> str:
        """``<priority>`` and the JSON line."""
        priority = next((p for level, p in _PRIORITIES if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


def stderr_is_journal(environ: Mapping[str, str] | None = None) -> bool:
    """True when stderr is the journal stream systemd names in ``JOURNAL_STREAM``."""
    device, _, inode = (environ if environ is not None else os.environ).get(
        "JOURNAL_STREAM", "").partition(":")
    try:
        found = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (device.isdigit() and inode.isdigit()
            and (found.st_dev, found.st_ino) == (int(device), int(inode)))


def configure(log_file: Path | None, *, level: str = "info", json_stderr: bool = False,
              stderr_level: str = "warning", rotation: str = "size", max_bytes: int = 0,
              backups: int = 0) -> None:
    """Send ingestctl's log records to the JSON file and, if asked, JSON lines on stderr.

    ``log_file`` None writes no file (``[logging] output = "stderr"``). The file rotates at
    ``max_bytes`` keeping ``backups`` old files, or with ``rotation = "logrotate"`` is reopened
    whenever logrotate has moved it.
    """
    root = logging.getLogger("ingestctl")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    formatter = JsonFormatter()
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle_error = _warn_once(log_file)

        def build() -> logging.Handler:
            handler = _file_handler(log_file, rotation, max_bytes, backups)
            setattr(handler, "handleError", handle_error)  # noqa: B010 - replaces the method
            return handler

        lazy = _OpenedOnFirstRecord(build, level, formatter)
        setattr(lazy, "handleError", handle_error)  # noqa: B010 - replaces the method
        root.addHandler(lazy)
    if json_stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(level.upper())
        err.setFormatter(JournalFormatter() if stderr_is_journal() else formatter)
        root.addHandler(err)
    else:
        root.addHandler(_quiet_stderr(stderr_level))


def _warn_once(path: Path) -> Callable[[logging.LogRecord], None]:
    """A ``handleError`` for the log file's handlers: a file that cannot be opened or written
    (permissions, a full disk) is one stderr line for the process, instead of logging's
    traceback for every record; the command goes on."""
    told = False

    def handle_error(record: logging.LogRecord) -> None:
        nonlocal told
        if not told:
            told = True
            problem = sys.exc_info()[1]
            reason = (problem.strerror if isinstance(problem, OSError) and problem.strerror
                      else problem)
            sys.stderr.write(f"ingestctl: warning: cannot write the log file {path}: {reason}; "
                             "this run is not logged there\n")

    return handle_error


class _HumanFormatter(logging.Formatter):
    """``ingestctl: warning: message`` for people reading stderr or cron mail."""

    def format(self, record: logging.LogRecord) -> str:
        """One human line."""
        return f"ingestctl: {record.levelname.lower()}: {redact_text(record.getMessage())}"


def _quiet_stderr(level: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level.upper())
    handler.setFormatter(_HumanFormatter())
    # The CLI already printed its own line for these; the file still gets them.
    handler.addFilter(lambda record: getattr(record, "console", True))
    return handler
