"""What violations mean for the import: fail it or not, and how to sum them up in a line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ingestctl.errors import DataError
from ingestctl.quality.catalog import DEFAULT_RULES, amount_text
from ingestctl.quality.model import FailOn, Kind, Violation, ViolationSeverity


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


_FOUND_WORDS = {Kind.DROP: "down ", Kind.RISE: "up ", Kind.POINTS: "+"}


def figure(violation: Violation) -> str:
    """What a violation found, in a few words: '2 of 3', '50', 'down 60 %', '' for zero_items."""
    details, observed = violation.details, violation.observed
    if isinstance(details.get("count"), int) and isinstance(details.get("total"), int):
        return f"{details['count']:,} of {details['total']:,}"
    spec = DEFAULT_RULES.get(violation.rule)
    if spec is None or spec.kind is Kind.NONE or not isinstance(observed, int | float) \
            or isinstance(observed, bool):
        return ""
    return _FOUND_WORDS.get(spec.kind, "") + amount_text(spec.kind, observed)


def brief(violations: Sequence[Violation]) -> str:
    """Violations named with their figures: 'duplicate_keys (50), same_lastmod (12)'."""
    return ", ".join(f"{v.rule} ({found})" if (found := figure(v)) else v.rule
                     for v in violations)


class QualityFailedError(DataError):
    """An import broke error-severity quality rules under ``fail_on = "error"``; not retried."""

    def __init__(self, violations: Sequence[Violation], *, url: str | None = None) -> None:
        self.violations = list(violations)
        errors = [v for v in self.violations if v.severity is ViolationSeverity.ERROR]
        first = errors[0].message if errors else "quality rules failed"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"data quality: {first}{more}", url=url,
                         hint="fix the source, or override the rule in the import's quality table")
