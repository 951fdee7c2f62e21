"""The data-quality gate the runner calls after a source's run succeeds.

It evaluates the rules on what the source reported (``AttemptReport.summaries`` and
``duplicate_keys``) plus the import's volume against its previous completed job, stores the
violations in the job's ``result["quality"]``, counts them in
``quality_violations_total{rule,severity}``, emits one ``QUALITY_VIOLATION`` event each, and
raises :class:`~ingestctl.quality.QualityFailedError` when the import's ``fail_on`` says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ingestctl.events import Event, EventKind
from ingestctl.quality.model import Violation
from ingestctl.quality.outcome import QualityFailedError, should_fail, summarize
from ingestctl.quality.rules import evaluate
from ingestctl.quality.settings import policy_for_import
from ingestctl.quality.summaries import ImportSummary
from ingestctl.store import jobs as job_store

if TYPE_CHECKING:
    from ingestctl.jobs.contract import AttemptReport, ImportContext

log = logging.getLogger("ingestctl.quality")


def check_quality(ctx: ImportContext, report: AttemptReport) -> list[Violation]:
    """Evaluate, record and announce the quality of one successful attempt.

    Raises QualityFailedError (error class ``data``) when the import must fail; the
    violations are on ``report.result`` either way.
    """
    job = ctx.job
    items = report.job_items if report.job_items is not None else report.items
    previous = job_store.previous_completed_run(ctx.store, job.import_id, job.id)
    configured = ctx.config.import_named(job.import_key)
    policy = policy_for_import(ctx.config, configured)
    result: dict[str, Any] = dict(report.result or {})
    summary = ImportSummary(job.source, items, previous[0] if previous else None,
                            report.duplicate_keys, nothing_due=report.nothing_due)
    if report.volume_unit is not None:
        # Compared in the source's own unit with the previous run's, never with its items.
        summary.unit, summary.previous_items = report.volume_unit, None
        if report.volume is not None:
            summary.volume = round(report.volume, 3)
            summary.previous_volume = _volume(previous[1] if previous else None,
                                              report.volume_unit)
            result["volume"] = {"value": summary.volume, "unit": report.volume_unit}
    violations = evaluate(summary, *report.summaries, settings=policy)
    result["quality"] = [v.to_dict() for v in violations]
    report.result = result
    now = ctx.clock.now()
    for violation in violations:
        ctx.count("quality_violations_total",
                  {"rule": violation.rule, "severity": str(violation.severity)})
        ctx.events.emit(Event(EventKind.QUALITY_VIOLATION, now, job.id, job.import_key, {
            **violation.to_dict(), "import": job.name, "source": job.source}))
    if violations:
        log.warning("job %s: %s", job.id, summarize(violations),
                    extra={"job_id": job.id, "import_key": job.import_key,
                           "console": False})
    if should_fail(violations, policy.fail_on):
        raise QualityFailedError(violations)
    return violations


def _volume(result: dict[str, Any] | None, unit: str) -> float | None:
    """The volume a previous run recorded in ``unit``, if it recorded one."""
    volume = (result or {}).get("volume")
    if isinstance(volume, dict) and volume.get("unit") == unit:
        value = volume.get("value")
        return float(value) if isinstance(value, int | float) else None
    return None
