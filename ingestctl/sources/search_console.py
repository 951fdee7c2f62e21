"""The Search Console source: search analytics rows of a property, upserted on their full key.

A job's plan (its date segments, final and provisional) is fixed and stored on its first
attempt together with a cursor (segment, ``startRow``) saved with every page, so a retried job
resumes at the page that failed. Before a segment is loaded its provisional rows
(``data_state='all'``) are deleted, so final data replaces provisional data and provisional
reloads drop rows Google no longer reports.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ingestctl.clock import to_iso
from ingestctl.jobs.contract import AttemptReport, ImportContext
from ingestctl.quality.search_console_stats import SearchConsoleStatsAccumulator
from ingestctl.sources.google.auth import SEARCH_CONSOLE_SCOPE
from ingestctl.sources.google.errors import PACIFIC, next_pacific_midnight
from ingestctl.sources.google.options import search_console_options
from ingestctl.sources.google.quota import SEARCH_CONSOLE
from ingestctl.sources.google.search_console import (
    AnalyticsRow,
    default_range,
    iter_analytics_pages,
    provisional_range,
)
from ingestctl.sources.google.session import GoogleSession
from ingestctl.store import google as g_store


def _tuple(r: AnalyticsRow) -> g_store.AnalyticsTuple:
    return (r.date, r.query, r.page, r.country, r.device, r.search_type, r.clicks,
            r.impressions, r.ctr, r.position, r.data_state)


def plan_segments(ctx: ImportContext, today: date) -> list[dict[str, str]]:
    """The date ranges this job loads: asked-for or missing final days, then provisional days."""
    opts = search_console_options(ctx.job.options)
    segments: list[dict[str, str]] = []
    if opts.start_date is not None and opts.end_date is not None:
        final: tuple[date, date] | None = (opts.start_date, opts.end_date)
    else:
        held = g_store.last_final_day(ctx.store, ctx.job.import_id, opts.search_type)
        final = default_range(date.fromisoformat(held) if held else None, today,
                              first_run_days=ctx.config.google.search_console_first_run_days)
    if final is not None:
        segments.append({"start": final[0].isoformat(), "end": final[1].isoformat(),
                         "data_state": "final", "search_type": opts.search_type})
    if opts.provisional:
        start, end = provisional_range(today)
        segments.append({"start": start.isoformat(), "end": end.isoformat(),
                         "data_state": "all", "search_type": opts.search_type})
    return segments


def _stats(plan: list[dict[str, str]]) -> SearchConsoleStatsAccumulator:
    """Quality counters over the final segment of the plan (its days must all have rows)."""
    final = next((seg for seg in plan if seg["data_state"] == "final"), None)
    if final is None:
        return SearchConsoleStatsAccumulator()
    return SearchConsoleStatsAccumulator(date.fromisoformat(final["start"]),
                                         date.fromisoformat(final["end"]))


class SearchConsoleSource:
    """Imports search analytics of the Search Console property the job names."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """Load every planned segment page by page from where the job stopped."""
        job = ctx.job
        cfg = ctx.config.google
        site = job.target
        session = GoogleSession(ctx, SEARCH_CONSOLE, {"site": site}, [SEARCH_CONSOLE_SCOPE],
                                next_pacific_midnight)
        cursor: dict[str, Any] | None = g_store.load_cursor(ctx.store, job.id)
        if cursor is None:
            # Search Console days are Pacific days.
            today = ctx.clock.now().astimezone(PACIFIC).date()
            cursor = {"plan": plan_segments(ctx, today), "segment": 0, "start_row": 0}
            g_store.put_cursor(ctx.store, job.id, cursor, to_iso(ctx.clock.now()) or "")
        plan: list[dict[str, str]] = cursor["plan"]
        stats = _stats(plan) if (cursor["segment"], cursor["start_row"]) == (0, 0) else None
        try:
            for index in range(int(cursor["segment"]), len(plan)):
                seg = plan[index]
                start_row = int(cursor["start_row"]) if index == cursor["segment"] else 0
                if start_row == 0:
                    g_store.start_segment(ctx.store, job.import_id, job.id, seg["search_type"],
                                          seg["start"], seg["end"], self._now(ctx),
                                          {**cursor, "segment": index, "start_row": 0})
                for page in iter_analytics_pages(
                        session.client, cfg.search_console_base_url, site, session.tokens,
                        date.fromisoformat(seg["start"]), date.fromisoformat(seg["end"]),
                        search_type=seg["search_type"], data_state=seg["data_state"],
                        row_limit=cfg.search_console_row_limit, start_row=start_row,
                        options=session.options):
                    after = {**cursor, "segment": index, "start_row": page.next_start_row}
                    final_rows = page.rows if stats is not None else []
                    for row in final_rows:
                        if stats is not None and row.data_state == "final":
                            stats.add({"clicks": row.clicks, "impressions": row.impressions,
                                       "ctr": row.ctr, "position": row.position}, day=row.date)
                    g_store.upsert_analytics(ctx.store, job.import_id, job.id,
                                             [_tuple(r) for r in page.rows], self._now(ctx),
                                             after)
                    ctx.progress(items=g_store.count_analytics(ctx.store, job.import_id,
                                                               job.id),
                                 current=f"{seg['start']}..{seg['end']} row "
                                         f"{page.next_start_row}")
                g_store.put_cursor(ctx.store, job.id,
                                   {**cursor, "segment": index + 1, "start_row": 0},
                                   self._now(ctx))
        finally:
            session.close()
        items = g_store.count_analytics(ctx.store, job.import_id, job.id)
        return AttemptReport(items=items, job_items=items, result={
            "segments": [f"{s['start']}..{s['end']} {s['data_state']}" for s in plan],
            "rows": items}, summaries=[stats.summary()] if stats is not None else [])

    @staticmethod
    def _now(ctx: ImportContext) -> str:
        return to_iso(ctx.clock.now()) or ""


SOURCE = SearchConsoleSource()
