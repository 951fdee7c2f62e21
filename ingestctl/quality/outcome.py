"""What violations mean for the import: fail it or not, and how to sum them up in a line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ingestctl.errors import DataError
from ingestctl.quality.model import FailOn, Violation, ViolationSeverity


def should_fail(violations: Sequence[Violation], fail_on: FailOn | str) -> bool:
    """True when ``fail_on`` is ``error`` and any violation has error severity."""
    policy = FailOn(fail_on)
    return policy is FailOn.ERROR and any(v.severity is ViolationSeverity.ERROR for v in violations)


def summarize(violations: Sequence[Violation]) -> str:
    """One line for logs and the CLI: '2 quality errors (zero_items, ...), 1 warning (...)'."""
    if not violations:
        return "no quality violations"
    parts = []
    counts = Counter(v.severity for v in violations)
    for severity in (ViolationSeverity.ERROR, ViolationSeverity.WARNING):
        if counts[severity]:
            names = ", ".join(v.rule for v in violations if v.severity is severity)
            noun = str(severity) if counts[severity] == 1 else f"{severity}s"
            parts.append(f"{counts[severity]} quality {noun} ({names})")
    return ", ".join(parts)


class QualityFailedError(DataError):
    """An import broke error-severity quality rules under ``fail_on = "error"``; not retried."""

    def __init__(self, violations: Sequence[Violation], *, url: str | None = None) -> None:
        self.violations = list(violations)
        errors = [v for v in self.violations if v.severity is ViolationSeverity.ERROR]
        first = errors[0].message if errors else "quality rules failed"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"data quality: {first}{more}", url=url,
                         hint="fix the source, or override the rule in the import's quality table")
