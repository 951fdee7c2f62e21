"""Generated parts of docs/reference/ (cog runs these; CI checks the pages are current).

    cog -r docs/reference/*.md        # regenerate after changing metrics, checks or keys
    cog --check docs/reference/*.md   # what CI runs
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ingestctl.monitoring.health.evaluate import CHECKS
from ingestctl.monitoring.metrics.collector import DurationHistogram, MetricsSnapshot, exposition

ROOT = Path(__file__).resolve().parents[1]


def config_example() -> str:
    """config.example.toml, every key with its default and what it does."""
    return "```toml\n" + (ROOT / "config.example.toml").read_text().rstrip() + "\n```\n"


def _every_metric() -> MetricsSnapshot:
    """A snapshot with a sample in every family, so each one is announced with its labels."""
    histogram = DurationHistogram()
    histogram.add_bucket(0, 1, 0.5)
    return MetricsSnapshot(
        jobs_total={("sitemap", "completed"): 1}, jobs_unfinished={("sitemap", "pending"): 1},
        job_durations={"sitemap": histogram}, items_imported_total={"sitemap": 1},
        retries_total={("sitemap", "transient"): 1}, dead_letters=1,
        last_success_timestamp={"shop": 1.0}, last_failure_timestamp={"shop": 1.0},
        schedule_missed_slots={"shop": 1}, circuit_breaker_open={"sitemap:x": True},
        api_requests_total={("merchant", "200"): 1},
        api_quota_used_ratio={("merchant", "account:1"): 0.5},
        quality_violations_total={("zero_items", "error"): 1},
        alerts_total={("email", "sent"): 1}, success_ratio={"sitemap": 1.0},
        scheduler_heartbeat_timestamp=1.0, schema_version=1,
        host="host1", backend="postgres", jobs_running={"host1": 1},
        database_pool={"open": 1}, scheduler_leader={"host1": 1.0})


def metrics_table() -> str:
    """Every metric family of ``ingestctl metrics`` and the scheduler's /metrics."""
    rows = ["| metric | type | labels | what |", "|---|---|---|---|"]
    text = exposition(_every_metric()).decode()
    for family in text_string_to_metric_families(text):
        labels = sorted({name for sample in family.samples for name in sample.labels
                         if name not in ("le",)})
        name = family.name + ("_total" if family.type == "counter" else "")
        shown = ", ".join(f"`{label}`" for label in labels)
        rows.append(f"| `{name}` | {family.type} | {shown} | {family.documentation} |")
    return "\n".join(rows) + "\n"


def health_table() -> str:
    """Every health check: its key and what it checks (the check function's docstring)."""
    rows = ["| check | what it checks |", "|---|---|"]
    for component, measurement, check in CHECKS:
        doc = " ".join((check.__doc__ or "").split())
        doc = doc.split(": ", 1)[1] if doc.startswith(component) and ": " in doc else doc
        rows.append(f"| `{component}:{measurement}` | {doc} |")
    return "\n".join(rows) + "\n"

