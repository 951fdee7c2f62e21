"""The one exception tree of ingestctl.

Every error ingestctl expects carries an :class:`ErrorClass` (docs/design.md, error classes),
the data that explains it, and builds its own one-line message, with the secrets of any URL in
it redacted. The CLI maps ``exit_code`` to the process exit status in one place; no expected
error prints a traceback::

    IngestError                      base: error_class, exit_code, message
    ├── UsageError                   bad arguments                      (config, exit 2)
    ├── ConfigError                  bad config file, missing secret    (config, exit 78)
    ├── StoreError                   database unreachable or unwritable (exit 1)
    │   └── StoreFullError           the disk holding it is full        (transient)
    ├── JobError                     job lookups and state changes      (exit 1)
    │   ├── JobNotFound
    │   ├── JobStateError            e.g. retrying a completed job
    │   └── ImportAlreadyRunning     same import in flight              (exit 75)
    ├── SourceError                  a remote or local source failed    (class per subclass)
    │   ├── TransientError           timeouts, resets, 5xx, truncation  (transient)
    │   ├── RateLimitedError         429, per-minute quota              (rate_limited)
    │   ├── QuotaExhaustedError      daily quota spent                  (quota_exhausted)
    │   ├── AuthError                401/403, bad credentials           (auth)
    │   ├── NotFoundError            404/410 on the root URL            (not_found)
    │   └── DataError                malformed input, limits exceeded   (data)
    ├── CircuitOpenError             breaker open for a key             (circuit_open, exit 75)
    ├── DeliveryError                an alert channel could not deliver (transient)
    └── CrashedError                 lease expired while processing     (crashed)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from ingestctl.redact import redact_text


class ErrorClass(StrEnum):
    """What kind of failure an attempt met; decides retry, defer or dead letter."""

    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    DATA = "data"
    CONFIG = "config"
    CRASHED = "crashed"
    CIRCUIT_OPEN = "circuit_open"

    @property
    def retryable(self) -> bool:
        """True when another attempt may succeed without anyone changing anything."""
        return self in _RETRYABLE

    @property
    def deferred(self) -> bool:
        """True when the job waits for a known time without using up an attempt."""
        return self in _DEFERRED

    @property
    def trips_breaker(self) -> bool:
        """True when the failure counts towards opening a circuit breaker."""
        return self in (ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED)


_RETRYABLE = frozenset({ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED, ErrorClass.CRASHED})
_DEFERRED = frozenset({ErrorClass.QUOTA_EXHAUSTED, ErrorClass.CIRCUIT_OPEN})

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEFERRED = 75
EXIT_CONFIG = 78


class IngestError(Exception):
    """Base of every error ingestctl expects; carries its class and builds its message."""

    error_class: ErrorClass = ErrorClass.TRANSIENT
    exit_code: int = EXIT_FAILED
    hint: str = ""
    # The bug (an exception that is not an IngestError) behind an error the runner made of it,
    # for error tracking; None for every expected error.
    unexpected: BaseException | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Messages reach the terminal, the log, the store and alerts: URLs in them lose their
        # secrets here, once (the real URL stays on ``SourceError.url``).
        message = redact_text(message)
        self.message = message
        if hint is not None:
            self.hint = redact_text(hint)
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(IngestError):
    """Bad command-line arguments."""

    error_class = ErrorClass.CONFIG
    exit_code = EXIT_USAGE


class ConfigError(IngestError):
    """Invalid configuration: names the file, the key, what was found and what is allowed."""

    error_class = ErrorClass.CONFIG
    exit_code = EXIT_CONFIG

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        text = f"{where}: {problem}" if where else problem
        super().__init__(f"config error: {text}", hint=hint)


class StoreError(IngestError):
    """The database cannot be opened, read or written."""

    error_class = ErrorClass.TRANSIENT
    exit_code = EXIT_FAILED

    def __init__(self, path: str, reason: str,
                 hint: str = "check the --home directory exists and is writable") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"store error: {path}: {reason}", hint=hint)


class StoreFullError(StoreError):
    """The filesystem holding the store is full: nothing can be written until space is freed."""

    def __init__(self, path: str, free: str | None = None) -> None:
        left = f" ({free} free)" if free is not None else ""
        super().__init__(path, f"the disk is full{left}",
                         hint="free space on that filesystem or move --home; failed jobs are "
                              "retried later")


class JobError(IngestError):
    """A job lookup or state change that cannot be done."""

    error_class = ErrorClass.CONFIG
    exit_code = EXIT_FAILED


class JobNotFound(JobError):
    """No job has this id."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}", hint="see `ingestctl jobs list`")


class JobStateError(JobError):
    """The job is in a state that does not allow the operation."""

    def __init__(self, job_id: int, status: str, operation: str, hint: str = "") -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"cannot {operation} job {job_id}: it is {status}", hint=hint)


class ImportAlreadyRunning(JobError):
    """The same import is being processed by another process."""

    exit_code = EXIT_DEFERRED

    def __init__(self, import_key: str, job_id: int, owner: str) -> None:
        self.import_key = import_key
        self.job_id = job_id
        self.owner = owner
        super().__init__(
            f"import {import_key} is already running as job {job_id} ({owner})",
            hint=f"see `ingestctl jobs show {job_id}`",
        )


class SourceError(IngestError):
    """A source failed to deliver; the subclass fixes the error class."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.url = url
        self.status_code = status_code
        super().__init__(message, hint=hint)


class TransientError(SourceError):
    """A failure that may pass by itself; ``retry_after`` (seconds) when a 503 sends one."""

    error_class = ErrorClass.TRANSIENT

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class RateLimitedError(SourceError):
    """The remote asked us to slow down; ``retry_after`` is in seconds when known."""

    error_class = ErrorClass.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class QuotaExhaustedError(SourceError):
    """A daily quota is spent; ``reset_at`` is when it is expected back."""

    error_class = ErrorClass.QUOTA_EXHAUSTED

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kw: object) -> None:
        self.reset_at = reset_at
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AuthError(SourceError):
    """Credentials missing, wrong or refused."""

    error_class = ErrorClass.AUTH


class NotFoundError(SourceError):
    """The import's root resource does not exist."""

    error_class = ErrorClass.NOT_FOUND


class DataError(SourceError):
    """Malformed input or a limit exceeded; names the file, line and column when known."""

    error_class = ErrorClass.DATA

    def __init__(
        self,
        problem: str,
        *,
        url: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        where = url or ""
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {problem}" if where else problem, url=url, hint=hint)


class CircuitOpenError(IngestError):
    """The circuit breaker for ``key`` is open until ``open_until``."""

    error_class = ErrorClass.CIRCUIT_OPEN
    exit_code = EXIT_DEFERRED

    def __init__(self, key: str, open_until: datetime) -> None:
        self.key = key
        self.open_until = open_until
        super().__init__(
            f"circuit breaker {key} is open until {open_until.isoformat(timespec='seconds')}",
            hint="the job is deferred; `ingestctl breaker reset KEY` closes it by hand",
        )


class CrashedError(IngestError):
    """The process running an attempt died: its lease expired or its pid is gone."""

    error_class = ErrorClass.CRASHED

    def __init__(self, owner: str) -> None:
        self.owner = owner
        super().__init__(f"the process running this attempt ({owner}) died")


class DeliveryError(IngestError):
    """An alert channel (email, webhook) failed to deliver; the outbox retries it later."""

    error_class = ErrorClass.TRANSIENT
    exit_code = EXIT_FAILED

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"alert delivery by {channel} failed: {reason}")
