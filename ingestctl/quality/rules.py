"""Run the data-quality rules over an import's summaries and return what they found.

The runner calls :func:`evaluate` once per import, after the items are stored::

    violations = evaluate(ImportSummary("sitemap", items, previous_items, duplicates),
                          sitemap_stats.summary(), settings=policy)
"""

from __future__ import annotations

from collections.abc import Mapping

from ingestctl.quality.catalog import DEFAULT_RULES, default_settings, fmt_pct
from ingestctl.quality.checks import EPSILON, Checker
from ingestctl.quality.model import RuleSettings, Violation
from ingestctl.quality.rules_sources import check_merchant, check_search_console, check_sitemap
from ingestctl.quality.settings import QualityPolicy
from ingestctl.quality.summaries import (
    ImportSummary,
    MerchantSummary,
    QualitySummary,
    SearchConsoleSummary,
    SitemapSummary,
)

_ORDER = {name: index for index, name in enumerate(DEFAULT_RULES)}


def evaluate(
    *summaries: QualitySummary,
    settings: QualityPolicy | Mapping[str, RuleSettings] | None = None,
) -> list[Violation]:
    """Every violation the summaries show under ``settings``, in the rules table's order."""
    rules = default_settings()
    if isinstance(settings, QualityPolicy):
        rules.update(settings.rules)
    elif settings is not None:
        rules.update(settings)
    checker = Checker(rules)
    for summary in summaries:
        if isinstance(summary, ImportSummary):
            check_import(checker, summary)
        elif isinstance(summary, SitemapSummary):
            check_sitemap(checker, summary)
        elif isinstance(summary, MerchantSummary):
            check_merchant(checker, summary)
        elif isinstance(summary, SearchConsoleSummary):
            check_search_console(checker, summary)
        else:
            raise TypeError(f"not a quality summary: {type(summary).__name__}")
    return sorted(checker.found, key=lambda v: _ORDER[v.rule])


def check_import(c: Checker, s: ImportSummary) -> None:
    """Rules of every source: zero items, volume against the previous run, duplicate keys."""
    zero = c.active("zero_items") is not None and s.items == 0 and not s.nothing_due
    if zero:
        before = f" (the previous completed run had {s.previous_items:,})" \
            if s.previous_items else ""
        c.add("zero_items", f"the import produced no items{before}", 0,
              {"previous_items": s.previous_items})
    current: float = s.items if s.volume is None else s.volume
    previous = s.previous_items if s.volume is None else s.previous_volume
    if previous is not None and previous > 0:
        change = (current - previous) / previous
        base = {s.unit.replace(" ", "_"): current, f"previous_{s.unit.replace(' ', '_')}":
                previous, "change": round(change, 6)}
        was = f"{_amount(current)} {s.unit}, {{}} from {_amount(previous)} in the previous " \
            "completed run"
        # zero_items already says everything a 100 % drop would.
        if not zero:
            for name in ("volume_drop_error", "volume_drop_warning"):
                rule = c.active(name)
                if rule is not None and -change >= float(rule.threshold or 0) - EPSILON:
                    c.add(name, was.format(f"down {fmt_pct(-change)} %"), round(-change, 6),
                          base)
                    break
        spike = c.active("volume_spike")
        if spike is not None and change >= float(spike.threshold or 0) - EPSILON:
            c.add("volume_spike", was.format(f"up {fmt_pct(change)} %"), round(change, 6), base)
    n = s.duplicate_keys
    c.count("duplicate_keys", n, f"{n:,} {'item repeats' if n == 1 else 'items repeat'} a "
            "natural key already seen in this import", {"duplicates": n, "items": s.items})


def _amount(value: float) -> str:
    """A count as '1,234', a rate as '12.5'."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
