"""Events -> alerts: the one place that turns what happened into alerts in the outbox.

The runner, the job queue, the breakers, the scheduler and the quota tracker only emit events
(:mod:`ingestctl.events`); :meth:`Alerting.subscribe` (or the CLI, lazily, for
:data:`~ingestctl.events.ALERT_EVENTS`) hangs an :class:`Alerting` off the bus.
Each handler reads the facts an operator needs from the store, builds the alert with
:mod:`ingestctl.alerts.render` and submits it to the :class:`~ingestctl.alerts.outbox.Outbox`,
which deduplicates, stores and delivers it. Channels (httpx, smtplib) are built on first use,
so commands that emit no event never import them.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property

from ingestctl.alerts.outbox import Channel, DeliveryOutcome, Outbox, SubmitResult
from ingestctl.alerts.render import (
    breaker_closed_alert,
    breaker_opened_alert,
    dead_letter_alert,
    import_ok_alerts,
    job_recovered_alert,
    quality_alert,
    quality_resolved_alert,
    quota_alert,
    quota_resolved_alert,
    schedule_missed_alert,
)
from ingestctl.clock import Clock, from_iso
from ingestctl.config import Config
from ingestctl.errors import ConfigError
from ingestctl.events import ALERT_EVENTS, Event, EventBus, EventKind
from ingestctl.models.alerts import (
    Alert,
    AttemptFacts,
    BreakerFacts,
    JobFacts,
    QuotaFacts,
    Severity,
    ViolationFacts,
)
from ingestctl.models.jobs import Job, JobStatus
from ingestctl.quality.catalog import DEFAULT_RULES
from ingestctl.store import Store
from ingestctl.store import alerts as alert_store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store

log = logging.getLogger("ingestctl.alerting")


class Alerting:
    """Builds alerts from events and hands them to the outbox of this home's store."""

    def __init__(
        self,
        store: Store,
        config: Config,
        clock: Clock,
        *,
        host: str | None = None,
        channels: Sequence[Channel] | None = None,
        environ: Mapping[str, str] | None = None,
        flush_on_first_event: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.host = host or config.alerts.host or socket.gethostname()
        self._channels = channels
        self._environ = environ
        self._flush_pending = flush_on_first_event
        self.outbox_store = alert_store.DatabaseOutboxStore(store)

    @cached_property
    def channels(self) -> list[Channel]:
        """The configured channels (email, webhook), built on first use."""
        if self._channels is not None:
            return list(self._channels)
        # Start-up weight: channels import httpx and smtplib; listings never pay (test_startup.py).
        from ingestctl.alerts.channels import build_channels

        return build_channels(self.config.alerts,
                              os.environ if self._environ is None else self._environ)

    @cached_property
    def outbox(self) -> Outbox:
        """The outbox with the ``[alerts]`` settings."""
        return Outbox.from_config(self.outbox_store, self.config.alerts, self.channels,
                                  self.clock, self.host)

    def subscribe(self, events: EventBus) -> None:
        """Handle every alerting event of ``events``."""
        events.subscribe(self.handle, ALERT_EVENTS)

    def handle(self, event: Event) -> None:
        """Turn one event into alerts (none for events that do not alert)."""
        handler = _HANDLERS.get(event.kind)
        if handler is None:
            return
        for alert in handler(self, event):
            self.submit(alert)
        if self._flush_pending:
            # Deliveries that failed in earlier runs are retried by later runs too.
            self._flush_pending = False
            self.flush()

    def submit(self, alert: Alert) -> SubmitResult:
        """Deduplicate, store and deliver one alert."""
        return self.outbox.submit(alert)

    def flush(self, *, force: bool = False) -> list[DeliveryOutcome]:
        """Retry due deliveries (all waiting ones with ``force``); alert on failing channels."""
        return self.outbox.flush(force=force)

    def quota(self, quota: QuotaFacts, *, level: str, threshold: float,
              now: datetime | None = None) -> SubmitResult:
        """Alert on a quota level: ``warning``, ``critical``, or ``ok`` (a resolved notice)."""
        moment = now or self.clock.now()
        if level == "ok":
            return self.submit(quota_resolved_alert(quota.api, quota.scope, self.host,
                                                    now=moment))
        return self.submit(quota_alert(quota, critical=level == "critical", threshold=threshold,
                                       host=self.host, now=moment))

    # Facts read from the store -------------------------------------------------------------

    def job_facts(self, job: Job) -> JobFacts:
        """A job as alerts show it."""
        return JobFacts(job.id, job.name, job.source, job.target, job.status.value,
                        job.max_attempts)

    def next_run(self, import_name: str, now: datetime) -> datetime | None:
        """The next scheduled run of a configured import, or None."""
        imp = self.config.import_named(import_name)
        if imp is None or not imp.schedule:
            return None
        # Start-up weight: APScheduler, only for alerts about a scheduled import (test_startup.py).
        from ingestctl.scheduler.spec import parse_schedule

        try:
            return parse_schedule(imp.schedule, imp.timezone).next_run(now)
        except ConfigError:
            return None

    def job_of(self, event: Event) -> Job | None:
        """The job an event is about, if any."""
        if event.job_id is None:
            return None
        return job_store.get_job(self.store, event.job_id)

    def firing(self, key: str) -> bool:
        """True when the latest alert of ``key`` is not a resolved notice."""
        last = self.outbox_store.last_sent(key)
        return last is not None and last.severity is not Severity.RESOLVED


def _dead_lettered(hub: Alerting, event: Event) -> list[Alert]:
    job = hub.job_of(event)
    if job is None:
        return []
    attempts = [AttemptFacts(a.number, a.error.error_class if a.error else None,
                             a.error.type if a.error else None,
                             a.error.message if a.error else None,
                             from_iso(a.started_at), from_iso(a.finished_at))
                for a in job_store.attempts_of(hub.store, job.id)]
    return [dead_letter_alert(
        hub.job_facts(job), attempts, alert_store.last_success_at(hub.store, job.import_key),
        hub.next_run(job.import_key, event.at), dl_store.count_active(hub.store), hub.host,
        now=event.at)]


def _recovered(hub: Alerting, event: Event) -> list[Alert]:
    job = hub.job_of(event)
    if job is None:
        return []
    next_at = from_iso(job.next_attempt_at) if job.status is JobStatus.RETRYING else None
    return [job_recovered_alert(hub.job_facts(job), str(event.data.get("owner") or "?"),
                                job.attempts, next_at, hub.host, now=event.at)]


def _completed(hub: Alerting, event: Event) -> list[Alert]:
    job = hub.job_of(event)
    if job is None or job.status is not JobStatus.COMPLETED:
        return []
    name = job.name
    alerts = [a for a in import_ok_alerts(name, job.id, hub.host, now=event.at)
              if hub.firing(a.key)]

    broken = {str(v.get("rule")) for v in (job.result or {}).get("quality") or []
              if isinstance(v, dict)}
    prefix = f"quality:{name}:"
    for key in hub.outbox_store.firing_keys(prefix):
        rule = key[len(prefix):]
        if rule in DEFAULT_RULES and rule not in broken:
            alerts.append(quality_resolved_alert(name, rule, job.id, hub.host, now=event.at))
    return alerts


def _breaker(hub: Alerting, event: Event) -> list[Alert]:
    key = str(event.data.get("key") or "")
    new = event.data.get("new")
    if not key:
        return []
    if new == "open":
        reason = event.data.get("reason")
        facts = BreakerFacts(key, hub.config.breaker.failure_threshold,
                             event.at + timedelta(seconds=hub.config.breaker.reset_timeout),
                             str(reason) if reason else None)
        return [breaker_opened_alert(facts, hub.host, now=event.at)]
    if new == "closed":
        return [breaker_closed_alert(key, hub.host, now=event.at)]
    return []


def _quality(hub: Alerting, event: Event) -> list[Alert]:
    job = hub.job_of(event)
    data = event.data
    if job is None or "rule" not in data:
        return []
    details = data.get("details") or {}
    examples = [str(e) for e in details.get("examples") or []] if isinstance(details, dict) \
        else []
    violation = ViolationFacts(str(data["rule"]), str(data.get("severity") or "warning"),
                               str(data.get("message") or ""), data.get("observed"),
                               data.get("threshold"), examples)
    return [quality_alert(hub.job_facts(job), violation, hub.host, now=event.at)]


def _quota(hub: Alerting, event: Event) -> list[Alert]:
    data = event.data
    api, scope = str(data.get("api") or ""), str(data.get("scope") or "")
    level = str(data.get("level") or "")
    if not api or level not in ("ok", "warning", "critical"):
        return []
    if level == "ok":
        return [quota_resolved_alert(api, scope, hub.host, now=event.at)]
    facts = QuotaFacts(api, scope, int(data.get("used") or 0), int(data.get("limit") or 0),
                       from_iso(data.get("resets_at")))
    return [quota_alert(facts, critical=level == "critical",
                        threshold=float(data.get("threshold") or 0.0), host=hub.host,
                        now=event.at)]


def _schedule_missed(hub: Alerting, event: Event) -> list[Alert]:
    name = str(event.data.get("import") or event.import_key or "")
    slot = from_iso(event.data.get("slot")) or event.at
    if not name:
        return []
    return [schedule_missed_alert(name, slot, from_iso(event.data.get("last_run_at")),
                                  hub.host, now=event.at)]


_HANDLERS: dict[EventKind, Callable[[Alerting, Event], list[Alert]]] = {
    EventKind.JOB_DEAD_LETTERED: _dead_lettered,
    EventKind.JOB_RECOVERED: _recovered,
    EventKind.JOB_COMPLETED: _completed,
    EventKind.BREAKER_CHANGED: _breaker,
    EventKind.QUALITY_VIOLATION: _quality,
    EventKind.QUOTA_LEVEL: _quota,
    EventKind.SCHEDULE_MISSED: _schedule_missed,
}
#: The event kinds that raise or resolve alerts; ``ingestctl.events.ALERT_EVENTS`` must match.
HANDLED_EVENTS = frozenset(_HANDLERS)


def check_alerts_config(config: Config) -> None:
    """Problems ``config check`` reports for ``[alerts]``: an unreadable ``email.ca_file``."""
    ca_file = config.alerts.email.ca_file
    if ca_file and not os.path.isfile(os.path.expanduser(ca_file)):
        raise ConfigError(f"file not found: {ca_file}",
                          path=str(config.path) if config.path else None,
                          key="alerts.email.ca_file")
