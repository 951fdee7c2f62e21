"""The sections of the status screen, each built from a :class:`StatusSnapshot`.

Rows that need attention come first in each section (failing sources, open breakers, failing
schedules); a section with nothing to look at folds into its one-line summary.
"""

from __future__ import annotations

from rich.text import Text

from ingestctl.monitoring.cells import (
    QUOTA_WARNING,
    Section,
    _styled,
    ago,
    running_cells,
    source_cells,
    span,
)
from ingestctl.monitoring.status import StatusSnapshot
from ingestctl.shorten import middle_cut

_FIT = {"ratio": 1, "min_width": 8}
_RIGHT = {"justify": "right"}
NAME_WIDTH = 28
_NAME = {"max_width": NAME_WIDTH, "min_width": 8}


def _name(text: str) -> str:
    return middle_cut(text, NAME_WIDTH)


def running(s: StatusSnapshot, before: StatusSnapshot | None) -> Section:
    """Imports running now, with their rate and what they are doing."""
    rows = sorted(s.running, key=lambda r: (not r.lease_expired, r.id))
    return Section("Running", [("id", _RIGHT), ("import", _NAME), ("try", {}),
                               ("items", _RIGHT), ("rate", _RIGHT), ("elapsed", {}),
                               ("current", _FIT)],
                   [running_cells(r, s.generated_at, before) for r in rows],
                   "Running: nothing", job_ids=[r.id for r in rows])


def failures(s: StatusSnapshot) -> Section:
    """Failed and crashed attempts in the window, newest first."""
    now, window = s.generated_at, span(s.window)
    return Section("Recent failures",
                   [("when", {}), ("job", _RIGHT), ("import", _NAME), ("class", {}),
                    ("error", _FIT)],
                   [[ago(now, f.finished_at), f"{f.job_id}#{f.attempt}", _name(f.name),
                     Text(f.error_class or f.outcome, style="red"),
                     f"{f.error_type or ''}: {f.error_message or ''}".strip(": ")]
                    for f in s.failures],
                   f"Recent failures: none in {window}", job_ids=[f.job_id for f in s.failures])


def dead_letters(s: StatusSnapshot) -> Section:
    """Active dead-letter entries."""
    now = s.generated_at
    return Section("Dead letters",
                   [("id", _RIGHT), ("job", _RIGHT), ("import", _NAME), ("class", {}),
                    ("when", {}), ("error", _FIT)],
                   [[str(d.id), str(d.job_id), _name(d.name), Text(d.error_class, style="red"),
                     ago(now, d.updated_at), d.error_message or ""] for d in s.dead_letters],
                   "Dead letters: none", total=s.dead_letters_total,
                   job_ids=[d.job_id for d in s.dead_letters])


def retry_queue(s: StatusSnapshot) -> Section:
    """Jobs retrying (first) and pending."""
    now = s.generated_at
    rows = sorted(s.queue, key=lambda q: q.status != "retrying")
    return Section("Retry queue",
                   [("id", _RIGHT), ("import", _NAME), ("state", {}), ("try", {}),
                    ("next attempt", {}), ("last error", _FIT)],
                   [[str(q.id), _name(q.name), _styled(q.status), f"{q.attempts}/{q.max_attempts}",
                     ago(now, q.next_attempt_at) if q.next_attempt_at else "now",
                     f"{q.error_class}: {q.error_message}" if q.error_class else ""]
                    for q in rows],
                   "Retry queue: empty", total=s.queue_total, job_ids=[q.id for q in rows])


def breakers(s: StatusSnapshot) -> Section:
    """Circuit breakers; folded while every one is closed."""
    now = s.generated_at
    rows = sorted(s.breakers, key=lambda b: (b.state == "closed", -b.failures, b.key))
    unhealthy = [b for b in rows if b.state != "closed" or b.failures]
    summary = (f"Circuit breakers: {len(rows)}, all closed" if rows
               else "Circuit breakers: none recorded")
    return Section("Circuit breakers",
                   [("key", _FIT), ("state", {}), ("failures", _RIGHT), ("retry", {})],
                   [[b.key, _styled(b.state), str(b.failures),
                     ago(now, b.open_until) if b.state != "closed" else ""] for b in rows],
                   summary, folded=not unhealthy)


def sources(s: StatusSnapshot) -> Section:
    """Per source: jobs finished in the window, unfinished now, and the last 24 hours."""
    window = span(s.window)
    rows = sorted(s.sources, key=lambda x: (not x.failed, x.source))
    return Section(f"Sources, last {window}",
                   [("source", {"min_width": 8}), ("done", _RIGHT), ("failed", _RIGHT),
                    ("ok", _RIGHT), ("pend", _RIGHT), ("run", _RIGHT), ("retry", _RIGHT),
                    ("last 24h by hour", {"min_width": 24})],
                   [source_cells(x) for x in rows], f"Sources: no jobs in the last {window}")


def quotas(s: StatusSnapshot) -> Section:
    """API quota use; folded while every scope is below the warning level."""
    rows = sorted(s.quotas, key=lambda q: -q.ratio)
    high = rows[0].ratio if rows else 0.0
    summary = (f"Quota: {len(rows)} scope(s), highest {high * 100:.0f}%" if rows
               else "Quota: none recorded")
    return Section("Quota", [("api", {}), ("scope", _FIT), ("used", _RIGHT),
                             ("limit", _RIGHT), ("%", _RIGHT)],
                   [[q.api, q.scope, f"{q.used:,}", f"{q.limit:,}",
                     Text(f"{q.ratio * 100:.0f}", style="red" if q.ratio >= 0.95
                          else "yellow" if q.ratio >= QUOTA_WARNING else "")] for q in rows],
                   summary, folded=high < QUOTA_WARNING)


def alerts(s: StatusSnapshot) -> Section | None:
    """Recent alerts; folded while all were delivered."""
    if s.alerts is None:
        return None
    now = s.generated_at
    waiting = s.undelivered_alerts
    title = "Recent alerts" + (f", {waiting} undelivered" if waiting else "")
    latest = f" (latest {ago(now, s.alerts[0].created_at)})" if s.alerts else ""
    summary = (f"Alerts: {len(s.alerts)} recent, all delivered{latest}" if s.alerts
               else "Alerts: none")
    return Section(title, [("when", {}), ("severity", {}), ("subject", _FIT),
                           ("delivery", {})],
                   [[ago(now, a.created_at), a.severity, a.subject,
                     Text(a.delivery, style="" if a.delivery == "sent" else "yellow")]
                    for a in s.alerts], summary, folded=not waiting)


def quality(s: StatusSnapshot) -> Section:
    """Data-quality violations of each import's last run."""
    return Section("Data quality, last runs",
                   [("import", _NAME), ("job", _RIGHT), ("severity", {}), ("rule", {}),
                    ("message", _FIT)],
                   [[_name(q.name), str(q.job_id), str(v.get("severity")), str(v.get("rule")),
                     str(v.get("message"))] for q in s.quality for v in q.violations],
                   "Data quality: no violations on last runs")


def schedules(s: StatusSnapshot) -> Section:
    """Configured schedules, failing ones first; folded while none is failing."""
    now = s.generated_at
    rows = sorted(s.schedules, key=lambda x: (not x.failing, x.name))
    failing = [x for x in rows if x.failing]
    upcoming = min((x for x in rows if x.next_run), key=lambda x: x.next_run or now,
                   default=None)
    summary = (f"Schedules: {len(rows)}, all on time" + (
        f" (next {upcoming.name} {ago(now, upcoming.next_run)})" if upcoming else "")
        if rows else "Schedules: none configured")
    return Section("Schedules",
                   [("import", _NAME), ("schedule", {}), ("next run", {}),
                    ("last success", {}), ("last failure", _FIT), ("missed", _RIGHT)],
                   [[Text(_name(x.name), style="red" if x.failing else ""),
                     f"{x.schedule} ({x.timezone})",
                     x.error or (ago(now, x.next_run) if x.next_run else "-"),
                     ago(now, x.last_success), ago(now, x.last_failure),
                     str(x.missed) if x.missed else "-"] for x in rows],
                   summary, folded=not failing)
