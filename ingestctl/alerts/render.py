"""Builders that turn plain facts from the store into :class:`Alert` objects.

Each builder fixes the alert's key, severity, subject and body. Bodies are plain text an
operator can act on without opening anything else: what happened, what ingestctl does next,
and the exact commands to inspect or fix it. Nothing secret is ever rendered: URLs lose their
userinfo and the values of token-like query parameters (:mod:`ingestctl.redact`), in the
key, subject, body and fields alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ingestctl.clock import iso_out, to_iso
from ingestctl.models.alerts import (
    Alert,
    AlertKind,
    AttemptFacts,
    BreakerFacts,
    JobFacts,
    QuotaFacts,
    Severity,
    ViolationFacts,
)
from ingestctl.redact import redact_data, redact_target, redact_text


def _when(moment: datetime | None, missing: str = "never") -> str:
    return iso_out(to_iso(moment)) or missing


def _headline(severity: Severity, title: str) -> str:
    return f"[ingestctl][{severity.upper()}] {title}"


def _alert(
    key: str,
    kind: AlertKind,
    severity: Severity,
    title: str,
    lines: Iterable[str],
    fields: dict[str, Any],
    host: str,
    now: datetime,
) -> Alert:
    body = "\n".join(lines).rstrip() + f"\n\n-- \ningestctl on {host} at {_when(now)}\n"
    title = redact_text(title)
    return Alert(
        key=redact_text(key),
        kind=kind,
        severity=severity,
        title=title,
        subject=_headline(severity, title),
        body=redact_text(body),
        fields=redact_data({"host": host, **fields}),
        created_at=now,
    )


def _job_lines(job: JobFacts) -> list[str]:
    return [
        f"Job:     {job.job_id}",
        f"Import:  {job.import_name}",
        f"Source:  {job.source}",
        f"Target:  {redact_target(job.target)}",
    ]


def _job_fields(job: JobFacts) -> dict[str, Any]:
    return {"job_id": job.job_id, "import": job.import_name, "source": job.source,
            "target": redact_target(job.target)}


def dead_letter_key(import_name: str) -> str:
    """The dedup key of "this import is dead-lettered"."""
    return f"dead_letter:{import_name}"


def crashed_key(import_name: str) -> str:
    """The dedup key of "a job of this import was recovered after a crash"."""
    return f"crashed:{import_name}"


def breaker_key(key: str) -> str:
    """The dedup key of a circuit breaker's state."""
    return f"breaker:{key}"


def quota_key(api: str, scope: str) -> str:
    """The dedup key of one API quota scope (warning and critical share it)."""
    return f"quota:{api}:{scope}"


def quality_key(import_name: str, rule: str) -> str:
    """The dedup key of one quality rule on one import."""
    return f"quality:{import_name}:{rule}"


def schedule_key(import_name: str) -> str:
    """The dedup key of a missed schedule."""
    return f"schedule:{import_name}"


def delivery_key(channel: str) -> str:
    """The dedup key of a failing alert channel."""
    return f"delivery:{channel}"


def dead_letter_alert(
    job: JobFacts,
    attempts: list[AttemptFacts],
    last_success: datetime | None,
    next_run: datetime | None,
    dead_letters_total: int,
    host: str,
    *,
    now: datetime,
) -> Alert:
    """CRITICAL: a job used up its attempts or met a permanent error and was dead-lettered."""
    title = f"{job.import_name} failed on {host}"
    lines = [f"Import {job.import_name} failed and job {job.job_id} is in the dead-letter queue.",
             "", *_job_lines(job), "", f"Attempts ({len(attempts)}):"]
    for attempt in attempts:
        error = attempt.error_class or "unknown"
        kind = f" {attempt.error_type}" if attempt.error_type else ""
        lines.append(f"  #{attempt.number} [{error}]{kind}: {attempt.message or '(no message)'}")
    lines += [
        "",
        f"Last success:        {_when(last_success)}",
        f"Next scheduled run:  {_when(next_run, 'none scheduled')}",
        f"Dead letters total:  {dead_letters_total}",
        "",
        "Inspect and retry:",
        f"  ingestctl jobs show {job.job_id}",
        f"  ingestctl retry {job.job_id}",
        "  ingestctl dlq list",
    ]
    fields = {
        **_job_fields(job),
        "attempts": len(attempts),  # a count, as in every JSON shape; the list follows
        "attempt_history": [
            {"number": a.number, "error_class": a.error_class, "error_type": a.error_type,
             "message": a.message}
            for a in attempts
        ],
        "last_success": iso_out(to_iso(last_success)),
        "next_run": iso_out(to_iso(next_run)),
        "dead_letters_total": dead_letters_total,
    }
    return _alert(dead_letter_key(job.import_name), AlertKind.JOB_DEAD_LETTERED,
                  Severity.CRITICAL, title, lines, fields, host, now)


def job_recovered_alert(
    job: JobFacts,
    owner: str,
    attempt_number: int,
    next_attempt_at: datetime | None,
    host: str,
    *,
    now: datetime,
) -> Alert:
    """WARNING: a job's process died mid-attempt and another process took the job back."""
    title = f"{job.import_name} recovered after a crash on {host}"
    then = (f"It will be retried at {_when(next_attempt_at)}." if next_attempt_at
            else "It has no attempts left; a dead-letter alert follows.")
    lines = [f"Attempt {attempt_number} of job {job.job_id} was running in {owner}, which died "
             "(its lease expired). The attempt is recorded as crashed.", then, "",
             *_job_lines(job), "", "Inspect:", f"  ingestctl jobs show {job.job_id}"]
    fields = {**_job_fields(job), "owner": owner, "attempt": attempt_number,
              "next_attempt_at": iso_out(to_iso(next_attempt_at))}
    return _alert(crashed_key(job.import_name), AlertKind.JOB_RECOVERED, Severity.WARNING,
                  title, lines, fields, host, now)


def import_ok_alerts(import_name: str, job_id: int, host: str, *, now: datetime) -> list[Alert]:
    """RESOLVED notices for everything a successful run of an import clears.

    The policy drops those whose key never fired, so the caller sends them all after every
    successful run without looking anything up.
    """
    title = f"{import_name} succeeded again on {host}"
    lines = [f"Job {job_id} of import {import_name} completed.", "",
             f"  ingestctl jobs show {job_id}"]
    fields = {"import": import_name, "job_id": job_id}
    return [
        _alert(dead_letter_key(import_name), AlertKind.JOB_DEAD_LETTERED, Severity.RESOLVED,
               title, lines, fields, host, now),
        _alert(crashed_key(import_name), AlertKind.JOB_RECOVERED, Severity.RESOLVED,
               title, lines, fields, host, now),
        _alert(schedule_key(import_name), AlertKind.SCHEDULE_MISSED, Severity.RESOLVED,
               title, lines, fields, host, now),
    ]


def breaker_opened_alert(breaker: BreakerFacts, host: str, *, now: datetime) -> Alert:
    """WARNING: a circuit breaker opened; jobs for its key are deferred."""
    title = f"circuit breaker {breaker.key} opened on {host}"
    lines = [f"The circuit breaker {breaker.key} opened after {breaker.failures} consecutive "
             "failures. Jobs for this key are deferred until it closes.",
             "", f"Open until:  {_when(breaker.open_until, 'unknown')}"]
    if breaker.last_error:
        lines.append(f"Last error:  {breaker.last_error}")
    lines += ["", "Inspect or close by hand:", "  ingestctl breaker list",
              f"  ingestctl breaker reset {breaker.key}"]
    fields = {"breaker": breaker.key, "failures": breaker.failures,
              "open_until": iso_out(to_iso(breaker.open_until)),
              "last_error": breaker.last_error}
    return _alert(breaker_key(breaker.key), AlertKind.BREAKER_OPENED, Severity.WARNING,
                  title, lines, fields, host, now)


def breaker_closed_alert(key: str, host: str, *, now: datetime) -> Alert:
    """RESOLVED: a circuit breaker closed again."""
    title = f"circuit breaker {key} closed on {host}"
    lines = [f"The circuit breaker {key} closed again; deferred jobs for it run as usual."]
    return _alert(breaker_key(key), AlertKind.BREAKER_CLOSED, Severity.RESOLVED, title, lines,
                  {"breaker": key}, host, now)


def quota_alert(
    quota: QuotaFacts, *, critical: bool, threshold: float, host: str, now: datetime
) -> Alert:
    """WARNING or CRITICAL: an API quota's use passed its warning or critical level."""
    severity = Severity.CRITICAL if critical else Severity.WARNING
    kind = AlertKind.QUOTA_CRITICAL if critical else AlertKind.QUOTA_WARNING
    percent = f"{quota.ratio:.0%}"
    title = f"{quota.api} quota {quota.scope} at {percent} on {host}"
    lines = [f"The {quota.api} quota for {quota.scope} is {percent} used "
             f"({quota.used} of {quota.limit}); the {severity} level is {threshold:.0%}.",
             f"It resets at {_when(quota.resets_at, 'an unknown time')}.",
             "", "Inspect:", "  ingestctl quota"]
    fields = {"api": quota.api, "scope": quota.scope, "used": quota.used, "limit": quota.limit,
              "ratio": round(quota.ratio, 4), "threshold": threshold,
              "resets_at": iso_out(to_iso(quota.resets_at))}
    return _alert(quota_key(quota.api, quota.scope), kind, severity, title, lines, fields,
                  host, now)


def quota_resolved_alert(api: str, scope: str, host: str, *, now: datetime) -> Alert:
    """RESOLVED: an API quota is back below its warning level (usually after its reset)."""
    title = f"{api} quota {scope} back to normal on {host}"
    return _alert(quota_key(api, scope), AlertKind.QUOTA_WARNING, Severity.RESOLVED, title,
                  [f"The {api} quota for {scope} is below its warning level again."],
                  {"api": api, "scope": scope}, host, now)


def quality_alert(job: JobFacts, violation: ViolationFacts, host: str, *, now: datetime) -> Alert:
    """WARNING (rule severity warning) or CRITICAL (error): a data-quality rule was broken."""
    severity = Severity.CRITICAL if violation.severity == "error" else Severity.WARNING
    title = f"{job.import_name} quality {violation.rule} ({violation.severity}) on {host}"
    lines = [f"Job {job.job_id} of import {job.import_name} broke the quality rule "
             f"{violation.rule}: {violation.message}", "", *_job_lines(job)]
    if violation.observed is not None:
        lines.append(f"Observed:  {violation.observed}")
    if violation.threshold is not None:
        lines.append(f"Threshold: {violation.threshold}")
    if violation.examples:
        lines += ["Examples:", *(f"  {example}" for example in violation.examples[:5])]
    lines += ["", "Inspect:", f"  ingestctl jobs show {job.job_id}"]
    fields = {**_job_fields(job), "rule": violation.rule, "rule_severity": violation.severity,
              "message": violation.message, "observed": violation.observed,
              "threshold": violation.threshold, "examples": violation.examples[:5]}
    return _alert(quality_key(job.import_name, violation.rule), AlertKind.QUALITY_VIOLATION,
                  severity, title, lines, fields, host, now)


def quality_resolved_alert(
    import_name: str, rule: str, job_id: int, host: str, *, now: datetime
) -> Alert:
    """RESOLVED: the latest run of an import passed a rule it broke before."""
    title = f"{import_name} quality {rule} passes again on {host}"
    return _alert(quality_key(import_name, rule), AlertKind.QUALITY_VIOLATION, Severity.RESOLVED,
                  title, [f"Job {job_id} of import {import_name} passed the rule {rule}."],
                  {"import": import_name, "rule": rule, "job_id": job_id}, host, now)


def schedule_missed_alert(
    import_name: str,
    expected_at: datetime,
    last_run_at: datetime | None,
    host: str,
    *,
    now: datetime,
) -> Alert:
    """WARNING: a scheduled import did not start when it should have."""
    title = f"{import_name} missed its schedule on {host}"
    lines = [f"Import {import_name} was due at {_when(expected_at)} and has not run.",
             f"Last run: {_when(last_run_at)}", "",
             "Check the scheduler and run it by hand:", "  ingestctl schedule list",
             f"  ingestctl run {import_name}"]
    fields = {"import": import_name, "expected_at": iso_out(to_iso(expected_at)),
              "last_run_at": iso_out(to_iso(last_run_at))}
    return _alert(schedule_key(import_name), AlertKind.SCHEDULE_MISSED, Severity.WARNING, title,
                  lines, fields, host, now)


def delivery_failing_alert(
    channel: str,
    since: datetime,
    undelivered: int,
    last_error: str | None,
    host: str,
    *,
    now: datetime,
) -> Alert:
    """WARNING: alerts have not reached a channel for longer than the configured time."""
    title = f"alert delivery by {channel} failing on {host}"
    lines = [f"{undelivered} alert(s) have waited for the {channel} channel since "
             f"{_when(since)}. They stay in the outbox and are retried.",
             f"Last error: {last_error or 'unknown'}", "",
             "Inspect and resend:", "  ingestctl alerts list", "  ingestctl alerts flush"]
    fields = {"channel": channel, "since": iso_out(to_iso(since)), "undelivered": undelivered,
              "last_error": last_error}
    return _alert(delivery_key(channel), AlertKind.DELIVERY_FAILING, Severity.WARNING, title,
                  lines, fields, host, now)


def delivery_restored_alert(channel: str, host: str, *, now: datetime) -> Alert:
    """RESOLVED: a channel that was failing delivers again."""
    title = f"alert delivery by {channel} works again on {host}"
    return _alert(delivery_key(channel), AlertKind.DELIVERY_FAILING, Severity.RESOLVED, title,
                  [f"The {channel} channel delivered the alerts that were waiting."],
                  {"channel": channel}, host, now)


def probe_alert(host: str, *, now: datetime) -> Alert:
    """INFO: `ingestctl alerts test`; its key is unique so it is never deduplicated."""
    title = f"test alert from {host}"
    lines = ["This is a test alert sent by `ingestctl alerts test`.",
             "If you can read it, this channel works."]
    return _alert(f"test:{to_iso(now)}", AlertKind.TEST, Severity.INFO, title, lines, {},
                  host, now)
