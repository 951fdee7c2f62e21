"""The shared shapes of a rule check: share above a limit, count above a limit, and wording."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingestctl.quality.catalog import DEFAULT_RULES, describe_limit, fmt_pct
from ingestctl.quality.model import RuleSettings, Violation

# Shares and changes are ratios of integers; this keeps "at 20 %" exact at the boundary.
EPSILON = 1e-9


class Checker:
    """Builds violations for one import from the effective rule settings."""

    def __init__(self, rules: Mapping[str, RuleSettings]) -> None:
        self.rules = rules
        self.found: list[Violation] = []

    def active(self, name: str) -> RuleSettings | None:
        """The settings of ``name`` when the rule is enabled, else None."""
        settings = self.rules[name]
        return settings if settings.enabled else None

    def limit(self, name: str) -> str:
        """The rule's severity and threshold in words, e.g. 'warning above 1 %'."""
        settings = self.rules[name]
        return describe_limit(DEFAULT_RULES[name].kind, settings.severity, settings.threshold)

    def add(self, name: str, text: str, observed: float | int | str | None,
            details: Mapping[str, Any] | None = None) -> None:
        """Record a violation of ``name``; ``text`` says what was found."""
        settings = self.rules[name]
        self.found.append(Violation(
            rule=name, severity=settings.severity, message=f"{text}; {self.limit(name)}",
            observed=observed, threshold=settings.threshold, details=dict(details or {})))

    def share(self, name: str, count: int, total: int, noun: str, what: tuple[str, str],
              examples: Mapping[str, list[str]] | None = None) -> None:
        """Flag ``name`` when ``count`` of ``total`` is strictly above its share threshold."""
        settings = self.active(name)
        if settings is None or total <= 0 or count <= 0:
            return
        share = count / total
        if share <= float(settings.threshold or 0) + EPSILON:
            return
        verb = what[0] if count == 1 else what[1]
        details: dict[str, Any] = {"count": count, "total": total}
        if examples and examples.get(name):
            details["examples"] = list(examples[name])
        self.add(name, f"{count:,} of {total:,} {noun} ({fmt_pct(share)} %) {verb}",
                 round(share, 6), details)

    def count(self, name: str, count: int, text: str,
              details: Mapping[str, Any] | None = None) -> None:
        """Flag ``name`` when ``count`` is strictly above its count threshold."""
        settings = self.active(name)
        if settings is None or count <= int(settings.threshold or 0):
            return
        self.add(name, text, count, details)


def plural(count: int, one: str, many: str) -> str:
    """``one`` or ``many`` by ``count``."""
    return one if count == 1 else many
