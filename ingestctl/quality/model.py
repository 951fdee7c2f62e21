"""The vocabulary of data quality: severities, rule definitions, settings and violations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Number = float | int


class ViolationSeverity(StrEnum):
    """How bad a violation is; ``error`` can fail the import when ``fail_on = "error"``."""

    WARNING = "warning"
    ERROR = "error"


class FailOn(StrEnum):
    """When violations turn a completed import into a failed one."""

    NEVER = "never"
    ERROR = "error"


class RuleScope(StrEnum):
    """Which imports a rule looks at; ``all`` rules run on every import."""

    ALL = "all"
    SITEMAP = "sitemap"
    MERCHANT = "merchant"
    SEARCH_CONSOLE = "search-console"


class Kind(StrEnum):
    """What a rule's threshold measures; decides how it is validated and worded."""

    SHARE = "share"          # fraction 0..1 of the items looked at; fires strictly above
    COUNT = "count"          # whole number; fires strictly above
    DROP = "drop"            # fraction 0..1 of the previous run; fires at or beyond
    RISE = "rise"            # fraction > 0 of the previous run; fires at or beyond
    POINTS = "points"        # rise of a share, in fractions 0..1; fires strictly above
    MINIMUM = "minimum"      # smallest number of items before the rule looks at all
    NONE = "none"            # no threshold


@dataclass(frozen=True)
class RuleSpec:
    """One row of ``DEFAULT_RULES``: a rule's stable name and its defaults."""

    name: str
    source: RuleScope
    severity: ViolationSeverity
    kind: Kind
    threshold: Number | None
    description: str


@dataclass(frozen=True)
class RuleSettings:
    """The effective settings of one rule for one import."""

    enabled: bool
    severity: ViolationSeverity
    threshold: Number | None


@dataclass(frozen=True)
class Violation:
    """One rule that an import broke, with what was found and the limit it crossed."""

    rule: str
    severity: ViolationSeverity
    message: str
    observed: Number | str | None
    threshold: Number | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, as stored per job and shown by ``jobs show --json``."""
        return {"rule": self.rule, "severity": str(self.severity), "message": self.message,
                "observed": self.observed, "threshold": self.threshold,
                "details": dict(self.details)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Violation:
        """The inverse of :meth:`to_dict`."""
        return cls(rule=str(data["rule"]), severity=ViolationSeverity(data["severity"]),
                   message=str(data["message"]), observed=data.get("observed"),
                   threshold=data.get("threshold"), details=dict(data.get("details") or {}))
