"""Renderers of check results: the Nagios line, health+json and a Rich table.

Rich is imported inside :func:`render_table` only, so `health --format nagios|json` never
pays for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ingestctl.monitoring.health.model import CheckResult, Status, fmt_number, overall
from ingestctl.units import format_duration

if TYPE_CHECKING:
    from rich.table import Table

HEALTH_JSON_MEDIA_TYPE = "application/health+json"
PLUGIN_NAME = "INGESTCTL"
# The units of measure the Monitoring Plugins guidelines allow in perfdata.
PERF_UNITS = frozenset({"s", "us", "ms", "%", "B", "KB", "MB", "TB", "c"})
_STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "bold red",
           Status.UNKNOWN: "magenta"}


def _clean(text: str) -> str:
    """One line without '|', which would start the perfdata."""
    return " ".join(text.replace("|", "/").split())


def summary(results: list[CheckResult]) -> str:
    """Problems worst first (each tagged when less severe than the whole), then the OK count."""
    status = overall(results)
    problems = sorted((r for r in results if r.status is not Status.OK),
                      key=lambda r: -r.status.severity)
    parts = [_clean(r.output) if r.status is status else f"{r.status.value}: {_clean(r.output)}"
             for r in problems]
    passed = sum(1 for r in results if r.status is Status.OK)
    if not results:
        return "no checks ran"
    if not problems:
        return f"{passed} checks OK"
    if passed:
        parts.append(f"{passed} OK")
    return "; ".join(parts)


def _perf_label(label: str) -> str:
    # '=' ends a label and a quote must be doubled, per the guidelines.
    return "'" + label.replace("=", "_").replace("'", "''") + "'"


def perfdata_item(result: CheckResult) -> str | None:
    """``'label'=value[UOM];warn;crit;min;max`` for a numeric reading, else None."""
    value = result.observed_value
    if value is None or isinstance(value, str):
        return None
    unit = result.observed_unit if result.observed_unit in PERF_UNITS else ""
    fields = [f"{fmt_number(value)}{unit}", result.warn or "", result.crit or "",
              "" if result.min is None else fmt_number(result.min),
              "" if result.max is None else fmt_number(result.max)]
    while fields[-1] == "":
        fields.pop()
    return f"{_perf_label(result.label)}=" + ";".join(fields)


def render_nagios(results: list[CheckResult]) -> str:
    """The one-line Monitoring Plugins output: ``INGESTCTL STATUS - summary | perfdata``."""
    line = f"{PLUGIN_NAME} {overall(results).value} - {summary(results)}"
    perf = [item for item in (perfdata_item(r) for r in results) if item]
    return f"{line} | {' '.join(perf)}" if perf else line


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_object(result: CheckResult, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if result.component_id:
        item["componentId"] = result.component_id
    item["status"] = result.status.health_json
    if result.observed_value is not None:
        item["observedValue"] = result.observed_value
    if result.observed_unit:
        item["observedUnit"] = result.observed_unit
    # The draft: output SHOULD be omitted for "pass"; pass notes go to the top-level "notes".
    if result.status is not Status.OK:
        item["output"] = _clean(result.output)
    item["time"] = _iso(result.time or now)
    return item


def render_json(results: list[CheckResult], now: datetime, version: str) -> dict[str, Any]:
    """The health+json document (draft-inadarei-api-health-check) for ``results``."""
    status = overall(results)
    doc: dict[str, Any] = {
        "status": status.health_json,
        "version": version.split(".")[0],
        "releaseId": version,
        "serviceId": "ingestctl",
        "description": "health of ingestctl imports, jobs and their dependencies",
    }
    if status is not Status.OK:
        doc["output"] = summary(results)
    notes = [f"{r.label}: {_clean(r.output)}" for r in results
             if r.status is Status.OK and r.observed_value is None]
    if notes:
        doc["notes"] = notes
    checks: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        checks.setdefault(result.key, []).append(_check_object(result, now))
    doc["checks"] = checks
    return doc


def http_status(status: Status) -> int:
    """The HTTP status of a health+json response: 200 for pass and warn, 503 for fail."""
    return 503 if status.health_json == "fail" else 200


def human_value(result: CheckResult) -> str:
    """The observed value as an operator reads it: durations, percentages, yes/no."""
    value = result.observed_value
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if result.observed_unit == "s":
        return format_duration(value)
    if result.observed_unit == "%":
        return f"{fmt_number(value)}%"
    if result.measurement.endswith("ratio"):
        return f"{fmt_number(round(value * 100, 2))}%"
    return fmt_number(value)


def render_table(results: list[CheckResult]) -> Table:
    """A Rich table of the checks in their usual order, statuses coloured."""
    # Start-up weight: Rich only for the table (tests/test_metrics.py).
    from rich.table import Table
    from rich.text import Text

    status = overall(results)
    table = Table(title=Text.assemble("ingestctl health: ", (status.value, _STYLES[status])),
                  expand=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Value", justify="right", no_wrap=True)
    table.add_column("Details", overflow="fold")
    for result in results:
        name = result.key if not result.component_id else f"{result.key}\n  {result.component_id}"
        table.add_row(name, Text(result.status.value, style=_STYLES[result.status]),
                      human_value(result), result.output)
    return table
