"""What the rules look at: small counters an importer fills while it streams its items.

Every field is a count (or a short list), so an import of a million rows never needs a second
pass. The accumulators in ``sitemap_stats``, ``merchant_stats`` and ``search_console_stats``
build the source summaries; the runner builds :class:`ImportSummary` from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class ImportSummary:
    """What every import reports: its items and the previous completed run's items.

    With ``volume`` set, the volume rules compare it with ``previous_volume`` (both in
    ``unit``, e.g. rows a day) instead of the items; ``nothing_due`` silences zero_items.
    """

    source: str
    items: int
    previous_items: int | None = None
    duplicate_keys: int = 0
    volume: float | None = None
    previous_volume: float | None = None
    unit: str = "items"
    nothing_due: bool = False


@dataclass
class SitemapSummary:
    """Counters of a sitemap import; ``examples`` keeps a few offending values per rule."""

    urls: int = 0
    invalid_urls: int = 0
    lastmods: int = 0                 # URLs carrying a lastmod element, parseable or not
    unparseable_lastmod: int = 0
    future_lastmod: int = 0
    same_lastmod: str | None = None   # the one lastmod every dated URL carries, else None
    off_host_urls: int = 0
    outside_path_urls: int = 0
    child_sitemaps: int = 0
    failed_child_sitemaps: int = 0
    files_over_limits: int = 0
    index_children: int | None = None     # children listed by the index(es), when read
    robots_sitemaps: int | None = None    # sitemaps named by robots.txt, when read
    # Named by robots.txt but neither an index read nor listed by one; None unless both read.
    robots_unlisted: list[str] | None = None
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class MerchantSummary:
    """Counters of a Merchant products import."""

    products: int = 0
    missing_title: int = 0
    missing_link: int = 0
    missing_image_link: int = 0
    missing_price: int = 0
    missing_availability: int = 0
    non_positive_price: int = 0
    invalid_availability: int = 0
    invalid_condition: int = 0
    invalid_gtin: int = 0
    disapproved: int = 0
    previous_disapproved_share: float | None = None
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def disapproved_share(self) -> float | None:
        """The share of disapproved products, or None without products."""
        return self.disapproved / self.products if self.products else None


@dataclass
class SearchConsoleSummary:
    """Counters of a Search Console search-analytics import."""

    rows: int = 0
    clicks_above_impressions: int = 0
    ctr_out_of_range: int = 0
    position_below_one: int = 0
    final_start: date | None = None
    final_end: date | None = None
    final_days: int = 0
    missing_days: list[date] = field(default_factory=list)
    row_limit: int = 50_000
    truncated_days: list[date] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)


EXAMPLES_KEPT = 5


def keep_example(examples: dict[str, list[str]], rule: str, value: str) -> None:
    """Remember ``value`` as an example for ``rule``, up to a few per rule."""
    kept = examples.setdefault(rule, [])
    if len(kept) < EXAMPLES_KEPT:
        kept.append(value[:200])


QualitySummary = ImportSummary | SitemapSummary | MerchantSummary | SearchConsoleSummary
