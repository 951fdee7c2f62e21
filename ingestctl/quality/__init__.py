"""Data-quality rules run after every import (issue 6).

Importers fill a summary while they stream (the ``*StatsAccumulator`` classes), the runner
calls :func:`evaluate` with the import's :class:`QualityPolicy`, stores the violations with the
job, and fails the import when :func:`should_fail` says so.
"""

from ingestctl.quality.catalog import (
    DEFAULT_RULES,
    RuleRow,
    default_settings,
    describe_limit,
    rules_table,
)
from ingestctl.quality.merchant_stats import MerchantStatsAccumulator, gtin_valid
from ingestctl.quality.model import (
    FailOn,
    Kind,
    RuleSettings,
    RuleSpec,
    Severity,
    Source,
    Violation,
)
from ingestctl.quality.outcome import QualityFailedError, should_fail, summarize, worst_severity
from ingestctl.quality.rules import evaluate
from ingestctl.quality.search_console_stats import SearchConsoleStatsAccumulator
from ingestctl.quality.settings import (
    QualityPolicy,
    check_config,
    global_policy,
    policy_for_import,
    resolve_rules,
)
from ingestctl.quality.sitemap_stats import SitemapStatsAccumulator, parse_lastmod
from ingestctl.quality.summaries import (
    ImportSummary,
    MerchantSummary,
    SearchConsoleSummary,
    SitemapSummary,
)

__all__ = [
    "DEFAULT_RULES", "FailOn", "ImportSummary", "Kind", "MerchantStatsAccumulator",
    "MerchantSummary", "QualityFailedError", "QualityPolicy", "RuleRow", "RuleSettings",
    "RuleSpec", "SearchConsoleStatsAccumulator", "SearchConsoleSummary", "Severity",
    "SitemapStatsAccumulator", "SitemapSummary", "Source", "Violation", "check_config",
    "default_settings", "describe_limit", "evaluate", "global_policy", "gtin_valid",
    "parse_lastmod", "policy_for_import", "resolve_rules", "rules_table", "should_fail",
    "summarize", "worst_severity",
]
