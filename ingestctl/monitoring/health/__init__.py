"""Health checks (docs/reference/health.md): model, evaluation on a snapshot, renderers.

Light on purpose: `ingestctl health` must start fast, so nothing here imports httpx, lxml,
APScheduler, tenacity, a source module or (outside ``render_table``) Rich.
"""

from ingestctl.monitoring.health.evaluate import CHECKS, run_checks
from ingestctl.monitoring.health.model import (
    CheckResult,
    Status,
    Threshold,
    classify,
    overall,
    worst,
)
from ingestctl.monitoring.health.render import (
    HEALTH_JSON_MEDIA_TYPE,
    http_status,
    render_json,
    render_nagios,
    render_table,
)
from ingestctl.monitoring.health.snapshot import (
    HealthSnapshot,
    ImportFreshness,
    QualityRun,
    QuotaUse,
    SourceJobs,
)

__all__ = [
    "CHECKS",
    "HEALTH_JSON_MEDIA_TYPE",
    "CheckResult",
    "HealthSnapshot",
    "ImportFreshness",
    "QualityRun",
    "QuotaUse",
    "SourceJobs",
    "Status",
    "Threshold",
    "classify",
    "http_status",
    "overall",
    "render_json",
    "render_nagios",
    "render_table",
    "run_checks",
    "worst",
]
