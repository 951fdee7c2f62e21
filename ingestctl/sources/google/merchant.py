"""The Merchant source: every product of an account, upserted on its resource name.

Each page is stored together with the token of the next one (and the count of products
received so far), so a retried job resumes at the page that failed. When a listing is
complete, the products it did not list are marked removed, never deleted. The account's quota
is read from the Merchant quota service once per attempt.
"""

from __future__ import annotations

import logging
from typing import Any

from ingestctl.clock import to_iso
from ingestctl.errors import QuotaExhaustedError, SourceError
from ingestctl.jobs.contract import AttemptReport, ImportContext
from ingestctl.quality.merchant_stats import MerchantStatsAccumulator
from ingestctl.sources.google.auth import MERCHANT_SCOPE
from ingestctl.sources.google.errors import next_utc_noon
from ingestctl.sources.google.limits import MERCHANT, group_for_method
from ingestctl.sources.google.merchant_api import fetch_merchant_quota, iter_product_pages
from ingestctl.sources.google.session import GoogleSession
from ingestctl.store import google as g_store
from ingestctl.store import jobs as job_store

log = logging.getLogger("ingestctl.merchant")


class MerchantSource:
    """Imports the products of the Merchant Center account the job names."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """Page through the products from where the job stopped, upserting each page."""
        job = ctx.job
        cfg = ctx.config.google
        account = job.target
        session = GoogleSession(ctx, MERCHANT, {"account": account}, [MERCHANT_SCOPE],
                                next_utc_noon)
        try:
            self._read_quota(ctx, session, account)
            cursor = g_store.load_cursor(ctx.store, job.id) or {}
            pages = int(cursor.get("pages", 0))
            received = int(cursor.get("received", 0))
            # Quality counters; only complete when this attempt read every page itself.
            stats = MerchantStatsAccumulator(
                previous_disapproved_share=_previous_disapproved_share(ctx)) \
                if pages == 0 else None
            if not cursor.get("done"):
                for page in iter_product_pages(
                        session.client, cfg.merchant_base_url, account, session.tokens,
                        page_size=cfg.merchant_page_size, page_token=cursor.get("page_token"),
                        options=session.options):
                    pages += 1
                    received += len(page.products)
                    after = {"page_token": page.next_page_token, "pages": pages,
                             "received": received, "done": page.next_page_token is None}
                    if stats is not None:
                        for product in page.products:
                            stats.add(product.raw)
                    g_store.upsert_products(ctx.store, job.import_id, job.id,
                                            [p.columns() for p in page.products],
                                            to_iso(ctx.clock.now()) or "", after)
                    ctx.progress(items=received, current=f"page {pages}")
        finally:
            session.close()
        # The listing is complete: whatever it did not list is gone from Merchant Center.
        removed = g_store.mark_removed_products(ctx.store, job.import_id, job.id,
                                                to_iso(ctx.clock.now()) or "")
        items = g_store.count_products(ctx.store, job.import_id, job.id)
        result: dict[str, Any] = {"pages": pages, "products": items, "removed": removed}
        summary = stats.summary() if stats is not None else None
        if summary is not None:
            # The next run's disapproved_share_jump compares with this share.
            result["disapproved"] = summary.disapproved
        return AttemptReport(items=items, job_items=items, result=result,
                             summaries=[summary] if summary is not None else [],
                             duplicate_keys=max(0, received - items))

    def _read_quota(self, ctx: ImportContext, session: GoogleSession, account: str) -> None:
        try:
            groups = fetch_merchant_quota(session.client, ctx.config.google.merchant_base_url,
                                          account, session.tokens, options=session.options)
        except QuotaExhaustedError:
            raise
        except SourceError as exc:
            log.warning("Merchant quota service not read (%s); using the configured limits",
                        exc, extra={"job_id": ctx.job.id})
            return
        g_store.save_merchant_groups(ctx.store, account, [
            {"name": g.name, "usage": g.usage, "daily_limit": g.daily_limit,
             "minute_limit": g.minute_limit, "methods": g.methods} for g in groups],
            to_iso(ctx.clock.now()) or "")
        group = group_for_method(groups)
        if group is None:
            return
        session.set_limits(session.limits.with_merchant_group(group))
        if group.daily_limit and group.remaining == 0:
            reset_at = next_utc_noon(ctx.clock.now())
            raise QuotaExhaustedError(
                f"Merchant daily quota of {group.name} is spent "
                f"({group.usage}/{group.daily_limit})", reset_at=reset_at,
                hint=f"deferred until {reset_at.isoformat(timespec='seconds')}")


def _previous_disapproved_share(ctx: ImportContext) -> float | None:
    """The disapproved share of the import's previous completed run, when it counted one."""
    previous = job_store.previous_completed_run(ctx.store, ctx.job.import_id, ctx.job.id)
    if previous is None:
        return None
    result = previous[1]
    disapproved, products = result.get("disapproved"), result.get("products")
    if not isinstance(disapproved, int) or not isinstance(products, int) or products <= 0:
        return None
    return disapproved / products


SOURCE = MerchantSource()
