"""Every data-quality rule with its default severity and threshold, in one table.

Rule names are stable: they are config keys (``imports[i].quality.<rule>``) and the ``rule``
label of ``ingestctl_quality_violations_total``. Share thresholds are fractions (0.01 = 1 %)
and fire strictly above; volume thresholds fire at or beyond the change.
"""

from __future__ import annotations

from typing import NamedTuple

from ingestctl.quality.model import (
    Kind,
    Number,
    RuleScope,
    RuleSettings,
    RuleSpec,
    ViolationSeverity,
)

W, E = ViolationSeverity.WARNING, ViolationSeverity.ERROR
ALL, SM, MC, SC = RuleScope.ALL, RuleScope.SITEMAP, RuleScope.MERCHANT, RuleScope.SEARCH_CONSOLE

_RULES: tuple[RuleSpec, ...] = (
    # All sources
    RuleSpec("volume_drop_warning", ALL, W, Kind.DROP, 0.2,
             "items fell by this share or more against the previous completed run"),
    RuleSpec("volume_drop_error", ALL, E, Kind.DROP, 0.5,
             "items fell by this share or more against the previous completed run"),
    RuleSpec("volume_spike", ALL, W, Kind.RISE, 2.0,
             "items rose by this share or more against the previous completed run"),
    RuleSpec("zero_items", ALL, E, Kind.NONE, None, "the import produced no items"),
    RuleSpec("duplicate_keys", ALL, W, Kind.COUNT, 0,
             "items repeating a natural key already seen in the same import"),
    # Sitemaps
    RuleSpec("invalid_url_share", SM, W, Kind.SHARE, 0.01,
             "URLs that are not absolute http(s) URLs, contain spaces or are too long"),
    RuleSpec("unparseable_lastmod_share", SM, W, Kind.SHARE, 0.01,
             "lastmod values that are not W3C datetimes"),
    RuleSpec("future_lastmod_share", SM, W, Kind.SHARE, 0.01,
             "lastmod values more than a day in the future"),
    RuleSpec("same_lastmod", SM, W, Kind.MINIMUM, 10,
             "every dated URL carries the same lastmod (checked from this many URLs)"),
    RuleSpec("off_host_url_share", SM, W, Kind.SHARE, 0.0,
             "URLs on another host than the sitemap file that lists them"),
    RuleSpec("outside_path_url_share", SM, W, Kind.SHARE, 0.0,
             "URLs outside the directory of the sitemap file that lists them"),
    RuleSpec("failed_child_sitemap_share", SM, W, Kind.SHARE, 0.0,
             "child sitemaps of an index that could not be fetched or parsed"),
    RuleSpec("files_over_limits", SM, W, Kind.COUNT, 0,
             "sitemap files over the protocol limits (50,000 URLs or 50 MB uncompressed)"),
    RuleSpec("index_missing_children", SM, W, Kind.COUNT, 0,
             "sitemaps named in robots.txt that the sitemap index does not list"),
    # Merchant products
    RuleSpec("missing_title_share", MC, W, Kind.SHARE, 0.0, "products without a title"),
    RuleSpec("missing_link_share", MC, W, Kind.SHARE, 0.0, "products without a link"),
    RuleSpec("missing_image_link_share", MC, W, Kind.SHARE, 0.0,
             "products without an image link"),
    RuleSpec("missing_price_share", MC, W, Kind.SHARE, 0.0, "products without a price"),
    RuleSpec("missing_availability_share", MC, W, Kind.SHARE, 0.0,
             "products without an availability"),
    RuleSpec("non_positive_price_share", MC, W, Kind.SHARE, 0.0,
             "products whose price is not above zero or cannot be read"),
    RuleSpec("invalid_availability_share", MC, W, Kind.SHARE, 0.0,
             "availability other than in stock, out of stock, preorder, backorder or limited"),
    RuleSpec("invalid_condition_share", MC, W, Kind.SHARE, 0.0,
             "condition other than new, refurbished or used"),
    RuleSpec("invalid_gtin_share", MC, W, Kind.SHARE, 0.0,
             "GTINs that are not 8, 12, 13 or 14 digits with a valid check digit"),
    RuleSpec("disapproved_share_jump", MC, W, Kind.POINTS, 0.05,
             "rise of the disapproved share against the previous completed run"),
    # Search Console
    RuleSpec("clicks_above_impressions_share", SC, W, Kind.SHARE, 0.0,
             "rows with more clicks than impressions"),
    RuleSpec("ctr_out_of_range_share", SC, W, Kind.SHARE, 0.0, "rows with a CTR outside 0 to 1"),
    RuleSpec("position_below_one_share", SC, W, Kind.SHARE, 0.0,
             "rows with an average position below 1"),
    RuleSpec("missing_days", SC, E, Kind.COUNT, 0,
             "days of the final date range without any row"),
    RuleSpec("truncated_days", SC, W, Kind.COUNT, 0,
             "days with exactly 50,000 rows, the API's limit, so likely truncated"),
)

DEFAULT_RULES: dict[str, RuleSpec] = {spec.name: spec for spec in _RULES}


def default_settings() -> dict[str, RuleSettings]:
    """The settings every import starts from."""
    return {spec.name: RuleSettings(True, spec.severity, spec.threshold)
            for spec in DEFAULT_RULES.values()}


def fmt_pct(share: float) -> str:
    """A fraction as a short percentage number: 0.012 -> '1.2', 0.5 -> '50'."""
    return f"{share * 100:.3g}"


def describe_limit(kind: Kind, severity: ViolationSeverity, threshold: Number | None) -> str:
    """How a threshold reads in a message: 'warning above 1 %', 'error at a drop of 50 %'."""
    if threshold is None or kind is Kind.NONE:
        return str(severity)
    return f"{severity} {limit_text(kind, threshold)}"


_LIMIT_WORDS = {Kind.SHARE: "above", Kind.COUNT: "above", Kind.DROP: "at a drop of",
                Kind.RISE: "at a rise of", Kind.POINTS: "above a rise of", Kind.MINIMUM: "from"}


def amount_text(kind: Kind, value: Number) -> str:
    """A threshold or a finding in its rule's unit: '1 %', '1,234', '5 points', '10 URLs'."""
    if kind in (Kind.SHARE, Kind.DROP, Kind.RISE):
        return f"{fmt_pct(value)} %"
    if kind is Kind.POINTS:
        return f"{fmt_pct(value)} points"
    return f"{int(value):,} URLs" if kind is Kind.MINIMUM else f"{int(value):,}"


def limit_text(kind: Kind, threshold: Number | None) -> str:
    """The threshold alone in words: 'above 1 %', 'at a drop of 50 %'."""
    if threshold is None or kind is Kind.NONE:
        return "none"
    return f"{_LIMIT_WORDS[kind]} {amount_text(kind, threshold)}"


class RuleRow(NamedTuple):
    """One line of the rules table shown by docs/guide/quality.md and the CLI."""

    name: str
    source: str
    severity: str
    threshold: str
    description: str


def rules_table() -> list[RuleRow]:
    """Every rule with its default severity and threshold in words, in a stable order."""
    return [RuleRow(spec.name, str(spec.source), str(spec.severity),
                    limit_text(spec.kind, spec.threshold), spec.description)
            for spec in DEFAULT_RULES.values()]
