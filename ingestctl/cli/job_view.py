"""The human view of one job for ``jobs show``."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ingestctl.cli.output import STATUS_STYLE
from ingestctl.models.jobs import Attempt, Job


def render_job(job: Job, attempts: list[Attempt]) -> RenderableType:
    """Fields, result counts and the attempts table of a job."""
    data = job.to_json()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    style = STATUS_STYLE.get(job.status.value, "")
    rows = [("job", str(job.id)), ("name", data["name"]), ("source", job.source),
            ("target", data["target"]), ("status", f"[{style}]{job.status.value}[/]"),
            ("attempts", f"{job.attempts}/{job.max_attempts}"), ("items", str(job.items)),
            ("created", data["created_at"]), ("started", data["started_at"]),
            ("finished", data["finished_at"]), ("next attempt", data["next_attempt_at"])]
    if data["error"]:
        rows.append(("error", f"{data['error']['class']}: {data['error']['message']}"))
    result = data["result"] or {}
    quality = result.get("quality")
    for key, value in result.items():
        if key != "quality":
            rows.append((key.replace("_", " "), str(value)))
    if quality is not None:
        rows.append(("quality", _quality_line(quality)))
    for key, value in rows:
        if value:
            head.add_row(key, value)
    table = Table(title="attempts", box=None, header_style="bold", title_justify="left")
    for column in ("#", "OUTCOME", "STARTED", "FINISHED", "ITEMS", "REQUESTS", "ERROR"):
        table.add_column(column, overflow="fold")
    for attempt in attempts:
        shown = attempt.to_json()
        err = (f"{shown['error']['class']}: {shown['error']['message']}" if shown["error"]
               else attempt.note or "")
        table.add_row(str(attempt.number), attempt.outcome.value, shown["started_at"] or "",
                      shown["finished_at"] or "", str(attempt.items), str(attempt.requests),
                      err)
    parts: list[RenderableType] = [head, Text(""), table]
    if quality:
        parts += [Text(""), _quality_table(quality)]
    failed = [a.to_json() for a in attempts if a.traceback]
    if failed:
        parts += [Text(""), Text(f"traceback of attempt {failed[-1]['number']}:", style="bold"),
                  Text(failed[-1]["traceback"] or "")]
    return Group(*parts)


def _quality_line(violations: list[dict[str, Any]]) -> str:
    if not violations:
        return "passed (no violations)"
    errors = sum(1 for v in violations if v.get("severity") == "error")
    warnings = len(violations) - errors
    return f"{errors} error(s), {warnings} warning(s)"


def _quality_table(violations: list[dict[str, Any]]) -> Table:
    """One row per data-quality violation of the job."""
    table = Table(title="quality", box=None, header_style="bold", title_justify="left")
    for column in ("RULE", "SEVERITY", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for violation in violations:
        severity = str(violation.get("severity", ""))
        style = "red" if severity == "error" else "yellow"
        table.add_row(str(violation.get("rule", "")), f"[{style}]{severity}[/]",
                      str(violation.get("message", "")))
    return table
