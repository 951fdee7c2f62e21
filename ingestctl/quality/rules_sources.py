"""The rules of each source: sitemaps, Merchant products and Search Console rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ingestctl.quality.catalog import fmt_pct
from ingestctl.quality.checks import EPSILON, Checker, plural
from ingestctl.quality.summaries import MerchantSummary, SearchConsoleSummary, SitemapSummary


def _examples(examples: dict[str, list[str]], rule: str) -> dict[str, list[str]]:
    return {"examples": list(examples[rule])} if examples.get(rule) else {}


def check_sitemap(c: Checker, s: SitemapSummary) -> None:
    """Invalid URLs, lastmod problems, URLs out of scope, failed children and limits."""
    ex = s.examples
    c.share("invalid_url_share", s.invalid_urls, s.urls, "URLs",
            ("is invalid", "are invalid"), ex)
    c.share("unparseable_lastmod_share", s.unparseable_lastmod, s.lastmods, "lastmod values",
            ("is not a W3C datetime", "are not W3C datetimes"), ex)
    dated = s.lastmods - s.unparseable_lastmod
    c.share("future_lastmod_share", s.future_lastmod, dated, "lastmod values",
            ("lies more than a day in the future", "lie more than a day in the future"), ex)
    same = c.active("same_lastmod")
    if same is not None and s.same_lastmod is not None and dated >= int(same.threshold or 0):
        c.add("same_lastmod", f"all {dated:,} URLs with a lastmod carry the same one "
              f"({s.same_lastmod})", dated, {"lastmod": s.same_lastmod, "urls": s.urls})
    c.share("off_host_url_share", s.off_host_urls, s.urls, "URLs",
            ("is on another host than its sitemap", "are on another host than their sitemap"),
            ex)
    c.share("outside_path_url_share", s.outside_path_urls, s.urls, "URLs",
            ("lies outside its sitemap's directory", "lie outside their sitemap's directory"),
            ex)
    c.share("failed_child_sitemap_share", s.failed_child_sitemaps, s.child_sitemaps,
            "child sitemaps", ("failed", "failed"), ex)
    n = s.files_over_limits
    c.count("files_over_limits", n,
            f"{n:,} sitemap {plural(n, 'file exceeds', 'files exceed')} the protocol limits",
            _examples(ex, "files_over_limits"))
    if s.robots_unlisted is not None:
        missing = len(s.robots_unlisted)
        c.count("index_missing_children", missing,
                f"robots.txt names {missing:,} {plural(missing, 'sitemap', 'sitemaps')} that "
                f"no sitemap index lists ({', '.join(s.robots_unlisted[:3])}"
                f"{', ...' if missing > 3 else ''})",
                {"examples": s.robots_unlisted[:5], "index_children": s.index_children,
                 "robots_sitemaps": s.robots_sitemaps})


_MERCHANT_SHARES = (
    ("missing_title_share", "missing_title", "has no title", "have no title"),
    ("missing_link_share", "missing_link", "has no link", "have no link"),
    ("missing_image_link_share", "missing_image_link", "has no image link",
     "have no image link"),
    ("missing_price_share", "missing_price", "has no price", "have no price"),
    ("missing_availability_share", "missing_availability", "has no availability",
     "have no availability"),
    ("non_positive_price_share", "non_positive_price",
     "has a price that is not above zero or cannot be read",
     "have a price that is not above zero or cannot be read"),
    ("invalid_availability_share", "invalid_availability",
     "has an availability outside in stock, out of stock, preorder, backorder, limited",
     "have an availability outside in stock, out of stock, preorder, backorder, limited"),
    ("invalid_condition_share", "invalid_condition",
     "has a condition outside new, refurbished, used",
     "have a condition outside new, refurbished, used"),
    ("invalid_gtin_share", "invalid_gtin", "has a GTIN with a wrong length or check digit",
     "have a GTIN with a wrong length or check digit"),
)


def check_merchant(c: Checker, s: MerchantSummary) -> None:
    """Missing and invalid attributes, and a jump in the disapproved share."""
    for rule, counter, one, many in _MERCHANT_SHARES:
        c.share(rule, getattr(s, counter), s.products, "products", (one, many), s.examples)
    jump = c.active("disapproved_share_jump")
    share, previous = s.disapproved_share, s.previous_disapproved_share
    if jump is None or share is None or previous is None:
        return
    rise = share - previous
    if rise > float(jump.threshold or 0) + EPSILON:
        c.add("disapproved_share_jump",
              f"disapproved products rose from {fmt_pct(previous)} % to {fmt_pct(share)} % "
              f"({s.disapproved:,} of {s.products:,}, +{fmt_pct(rise)} points)",
              round(rise, 6), {"disapproved": s.disapproved, "products": s.products,
                               "share": round(share, 6), "previous_share": previous,
                               **_examples(s.examples, "disapproved_share_jump")})


def check_search_console(c: Checker, s: SearchConsoleSummary) -> None:
    """Impossible metrics, missing days in the final range and truncated days."""
    ex = s.examples
    c.share("clicks_above_impressions_share", s.clicks_above_impressions, s.rows, "rows",
            ("has more clicks than impressions", "have more clicks than impressions"), ex)
    c.share("ctr_out_of_range_share", s.ctr_out_of_range, s.rows, "rows",
            ("has a CTR outside 0 to 1", "have a CTR outside 0 to 1"), ex)
    c.share("position_below_one_share", s.position_below_one, s.rows, "rows",
            ("has a position below 1", "have a position below 1"), ex)
    missing = len(s.missing_days)
    if s.final_start is not None and s.final_end is not None:
        c.count("missing_days", missing,
                f"{missing:,} of {s.final_days:,} days in the final range {s.final_start} to "
                f"{s.final_end} {plural(missing, 'has', 'have')} no rows "
                f"({_days(s.missing_days)})",
                {"days": [d.isoformat() for d in s.missing_days]})
    n = len(s.truncated_days)
    c.count("truncated_days", n,
            f"{n:,} {plural(n, 'day has', 'days have')} exactly {s.row_limit:,} rows, the "
            f"API's limit, so their data is likely truncated ({_days(s.truncated_days)})",
            {"days": [d.isoformat() for d in s.truncated_days], "row_limit": s.row_limit})


def _days(days: Sequence[date], shown: int = 5) -> str:
    text = ", ".join(str(d) for d in days[:shown])
    return text + (f" and {len(days) - shown:,} more" if len(days) > shown else "")
