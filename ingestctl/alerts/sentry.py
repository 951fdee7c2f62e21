"""Sentry error tracking and Sentry Crons check-ins, hung off the job events.

Enabled by ``[sentry] dsn_env`` (the variable that holds the DSN) in the processes that run
imports (``run``, ``retry``, ``worker``, ``dlq retry``, ``scheduler``); needs the
``ingestctl[sentry]`` extra. A missing SDK or an unset variable is a ConfigError, never a
silent skip. What is sent (docs/guide/operations.md):

* each dead-lettered job: an error event tagged ``import``, ``source``, ``error_class``,
  ``error_type``, ``job_id`` and ``attempt``, with the commands to inspect and retry it in the
  ``ingestctl`` context, fingerprinted ``(import, error_class)`` so one broken import is one
  Sentry issue however many runs fail;
* each unexpected exception: a bug inside an import (an exception that is not an ingestctl
  error; the job is retried or dead-lettered as usual) with its traceback, fingerprinted
  ``(import, exception type)``; and any error logged with a traceback (a scheduler hook, an
  event subscriber) or escaping the process, through the SDK's logging and excepthook
  integrations;
* for each configured import with a schedule (``[sentry] crons``): a check-in
  ``in_progress`` when its job starts, ``ok`` when it completes, ``error`` when it is
  dead-lettered, with the schedule as the monitor's config, so Sentry also reports a run that
  never started.

Nothing secret leaves: every string of an event passes through
:func:`ingestctl.redact.redact_data` (URL userinfo and token-like query parameters),
local variables are not sent, and no trace header is added to ingestctl's own requests.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tzlocal import get_localzone_name

from ingestctl import __version__
from ingestctl.config import Config
from ingestctl.errors import ConfigError, IngestError
from ingestctl.events import Event, EventBus, EventKind
from ingestctl.jobs.spec import spec_for_config
from ingestctl.redact import redact_data
from ingestctl.scheduler.configured import schedule_of
from ingestctl.scheduler.spec import LOCAL, ScheduleKind

log = logging.getLogger("ingestctl.alerts.sentry")

KINDS = (EventKind.JOB_STARTED, EventKind.JOB_COMPLETED, EventKind.JOB_RETRYING,
         EventKind.JOB_DEFERRED, EventKind.JOB_DEAD_LETTERED)
FLUSH_TIMEOUT = 5.0
_SLUG = re.compile(r"[^a-z0-9_-]+")


def dsn_from(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The DSN when ``[sentry] dsn_env`` is set; ConfigError when it cannot be used."""
    name = config.sentry.dsn_env.strip()
    if not name:
        return None
    where = str(config.path) if config.path else None
    try:
        # Optional extra (ingestctl[sentry]): is it installed?
        import sentry_sdk  # noqa: F401
    except ImportError:
        raise ConfigError("is set but sentry-sdk is not installed", path=where,
                          key="sentry.dsn_env",
                          hint="pip install 'ingestctl[sentry]', or set dsn_env = \"\"") from None
    dsn = (os.environ if environ is None else environ).get(name, "").strip()
    if not dsn:
        raise ConfigError(f"names the environment variable {name}, which is not set",
                          path=where, key="sentry.dsn_env",
                          hint=f"export {name}=https://<key>@<sentry host>/<project>, or set "
                               "dsn_env = \"\"")
    return dsn


def _before_send(event: Any, hint: dict[str, Any]) -> Any:
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord):
        # Logged errors become events only when they carry an unexpected exception; an
        # expected error (an IngestError, or a plain error line) already reached the user.
        info = record.exc_info
        if not info or info[1] is None or isinstance(info[1], IngestError):
            return None
    return redact_data(event)


def monitor_slug(name: str) -> str:
    """The Sentry Crons monitor of a configured import: its name as a slug."""
    return _SLUG.sub("-", name.lower()).strip("-") or "import"


def monitor_config(config: Config, index: int) -> dict[str, Any] | None:
    """Sentry's monitor config for ``config.imports[index]`` (None without a schedule)."""

    schedule = schedule_of(config, index)
    if schedule is None:
        return None
    imp = config.imports[index]
    if schedule.kind is ScheduleKind.CRON:
        spec: dict[str, Any] = {"type": "crontab", "value": schedule.cron_expression}
    else:
        minutes = max(1, math.ceil(schedule.interval / 60))  # Sentry counts whole minutes
        unit, value = "minute", minutes
        for name, size in (("week", 10080), ("day", 1440), ("hour", 60)):
            if minutes % size == 0:
                unit, value = name, minutes // size
                break
        spec = {"type": "interval", "value": value, "unit": unit}
    zone = imp.timezone
    if zone == LOCAL:
        zone = get_localzone_name() or "UTC"
    return {"schedule": spec, "timezone": zone,
            "checkin_margin": max(1, math.ceil(imp.misfire_grace / 60)),
            "max_runtime": max(1, math.ceil(config.sentry.max_runtime / 60))}


class SentrySubscriber:
    """Sends dead letters, unexpected exceptions and check-ins for the job events."""

    def __init__(self, config: Config) -> None:
        self.monitors: dict[str, tuple[str, Any]] = {}  # import key: slug, monitor config
        self._checkins: dict[int, tuple[str, datetime]] = {}
        self.configure(config)

    def configure(self, config: Config) -> None:
        """Take the monitors of the scheduled imports (again after a reload)."""
        self.monitors = {}
        if not config.sentry.crons:
            return
        for index, imp in enumerate(config.imports):
            settings = monitor_config(config, index)
            if settings is not None:
                self.monitors[spec_for_config(imp).import_key] = (monitor_slug(imp.name),
                                                                  settings)

    def attach(self, bus: EventBus) -> None:
        """Subscribe to the job events."""
        bus.subscribe(self, KINDS)

    def __call__(self, event: Event) -> None:
        unexpected = event.data.get("unexpected")
        if isinstance(unexpected, BaseException):
            self._exception(event, unexpected)
        if event.kind is EventKind.JOB_DEAD_LETTERED:
            self._dead_letter(event)
        self._checkin(event)

    def _scope_tags(self, scope: Any, event: Event) -> None:
        data = event.data
        for tag, value in (("import", event.import_key), ("source", data.get("source")),
                           ("error_class", data.get("error_class")),
                           ("error_type", data.get("error_type")),
                           ("job_id", event.job_id), ("attempt", data.get("attempt"))):
            if value is not None:
                scope.set_tag(tag, str(value))
        job = event.job_id
        scope.set_context("ingestctl", {
            "import": event.import_key, "job_id": job, "attempt": data.get("attempt"),
            "event": event.kind.value, "next_attempt_at": data.get("next_attempt_at"),
            "inspect": f"ingestctl jobs show {job}", "retry": f"ingestctl retry {job}",
            "dead_letters": "ingestctl dlq list"})

    def _dead_letter(self, event: Event) -> None:
        # Optional extra (ingestctl[sentry]): the SDK loads only once Sentry is configured.
        import sentry_sdk

        data = event.data
        error_class = str(data.get("error_class") or "unknown")
        with sentry_sdk.new_scope() as scope:
            self._scope_tags(scope, event)
            scope.fingerprint = ["ingestctl", "dead-letter", event.import_key or "", error_class]
            scope.set_level("error")
            sentry_sdk.capture_message(
                f"{event.import_key}: job {event.job_id} dead-lettered: {error_class}: "
                f"{data.get('message', '')}")

    def _exception(self, event: Event, error: BaseException) -> None:
        # Optional extra (ingestctl[sentry]): the SDK loads only once Sentry is configured.
        import sentry_sdk

        with sentry_sdk.new_scope() as scope:
            self._scope_tags(scope, event)
            scope.fingerprint = ["ingestctl", "unexpected", event.import_key or "",
                                 type(error).__name__]
            sentry_sdk.capture_exception(error)

    def _checkin(self, event: Event) -> None:
        monitor = self.monitors.get(event.import_key or "")
        if monitor is None or event.job_id is None:
            return
        # Optional extra (ingestctl[sentry]): the SDK loads only once Sentry is configured.
        from sentry_sdk.crons import capture_checkin

        slug, settings = monitor
        if event.kind is EventKind.JOB_STARTED:
            if event.job_id not in self._checkins:  # a retry in this process keeps its check-in
                checkin = capture_checkin(slug, status="in_progress", monitor_config=settings)
                self._checkins[event.job_id] = (checkin or "", event.at)
            return
        status = {EventKind.JOB_COMPLETED: "ok", EventKind.JOB_DEAD_LETTERED: "error"}.get(
            event.kind)
        if status is None:
            return  # retrying or deferred: the run goes on (max_runtime bounds it)
        checkin, started = self._checkins.pop(event.job_id, ("", event.at))
        capture_checkin(slug, check_in_id=checkin or None, status=status,
                        duration=(event.at - started).total_seconds(),
                        monitor_config=settings)

    def flush(self) -> None:
        """Send what is queued (a process about to exit)."""
        # Optional extra (ingestctl[sentry]): the SDK loads only once Sentry is configured.
        import sentry_sdk

        sentry_sdk.flush(timeout=FLUSH_TIMEOUT)


def subscribe_sentry(bus: EventBus, config: Config) -> SentrySubscriber | None:
    """Start the SDK and attach a subscriber when ``[sentry] dsn_env`` is set, else None."""
    dsn = dsn_from(config)
    if dsn is None:
        return None
    # Optional extra (ingestctl[sentry]): the SDK loads only once Sentry is configured.
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn, release=f"ingestctl@{__version__}",
        environment=config.sentry.environment or "production",
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        auto_enabling_integrations=False, send_default_pii=False,
        include_local_variables=False, trace_propagation_targets=[],
        auto_session_tracking=False, send_client_reports=False,
        before_send=_before_send, before_breadcrumb=lambda crumb, hint: redact_data(crumb))
    subscriber = SentrySubscriber(config)
    subscriber.attach(bus)
    return subscriber
