"""The Search Console source: search analytics of a property, one request series per day.

A job's plan (:mod:`ingestctl.sources.google.search_console_plan`) is made and stored on its
first attempt, after a probe that also yields the property totals by date; the cursor (segment,
``startRow``, rows received) is saved with every page, so a retried job resumes at the page
that failed. A segment is one day of one dimension set: its rows are replaced as a whole.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ingestctl.clock import to_iso
from ingestctl.errors import QuotaExhaustedError
from ingestctl.jobs.contract import AttemptReport, ImportContext
from ingestctl.quality.search_console_stats import SearchConsoleStatsAccumulator
from ingestctl.sources.google.auth import SEARCH_CONSOLE_SCOPE
from ingestctl.sources.google.errors import PACIFIC, next_pacific_midnight
from ingestctl.sources.google.limits import SEARCH_CONSOLE
from ingestctl.sources.google.options import SearchConsoleOptions, search_console_options
from ingestctl.sources.google.search_console_api import (
    TOTALS,
    AnalyticsRow,
    Probe,
    iter_analytics_pages,
    probe,
    set_key,
)
from ingestctl.sources.google.search_console_plan import (
    PROVISIONAL,
    Plan,
    explicit_plan,
    incremental_plan,
    probe_range,
)
from ingestctl.sources.google.session import GoogleSession
from ingestctl.store import google as g_store
from ingestctl.store import search_console as sc_store

TOTALS_KEY = set_key(TOTALS)
LOAD_QUOTA = "load quota exceeded"


def _tuple(r: AnalyticsRow, state: str) -> sc_store.AnalyticsTuple:
    return (r.date, r.query, r.page, r.country, r.device, r.search_appearance, r.clicks,
            r.impressions, r.ctr, r.position, state)


def _stat(r: AnalyticsRow) -> dict[str, Any]:
    return {"clicks": r.clicks, "impressions": r.impressions, "ctr": r.ctr,
            "position": r.position, "keys": [r.query, r.page, r.country, r.device]}


def _long_term(ctx: ImportContext, exc: QuotaExhaustedError,
               requests: int) -> QuotaExhaustedError:
    """Google: "If you still exceed quota [after 15 minutes], you are exceeding long-term
    quota", measured per day. A job deferred for the load quota that hits it again on its
    first request waits for the next quota day instead."""
    previous = ctx.job.error.message if ctx.job.error else ""
    if not (str(exc).startswith(LOAD_QUOTA) and previous.startswith(LOAD_QUOTA)
            and requests <= 1):
        return exc
    reset_at = next_pacific_midnight(ctx.clock.now())
    return QuotaExhaustedError(
        f"long-term {exc.message}", reset_at=reset_at, url=exc.url, status_code=exc.status_code,
        hint="the load quota was still exceeded after the wait; deferred until the quota "
             f"day resets at {reset_at.isoformat(timespec='seconds')} (group by fewer "
             "dimensions or load fewer days to lower the load)")


class SearchConsoleSource:
    """Imports search analytics of the Search Console property the job names."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """Plan on the first attempt, then load every planned segment from the cursor on."""
        job = ctx.job
        cfg = ctx.config.google
        opts = search_console_options(job.options)
        session = GoogleSession(ctx, SEARCH_CONSOLE, {"site": job.target},
                                [SEARCH_CONSOLE_SCOPE], next_pacific_midnight,
                                load_quota=timedelta(seconds=cfg.search_console_load_quota_wait))
        stats: SearchConsoleStatsAccumulator | None = None
        requests_before = ctx.requests
        try:
            cursor = g_store.load_cursor(ctx.store, job.id)
            if cursor is None or not isinstance(cursor.get("plan"), dict):
                # None, or the cursor of an older ingestctl: plan (again) from the store.
                plan, found = self._plan(ctx, session, opts)
                stats = SearchConsoleStatsAccumulator(
                    expected_days=[date.fromisoformat(d) for d in plan.final_days])
                cursor = self._start(ctx, opts, plan, found, stats)
            self._load(ctx, session, opts, cursor, stats)
        except QuotaExhaustedError as exc:
            raise _long_term(ctx, exc, ctx.requests - requests_before) from None
        finally:
            session.close()
        cursor = g_store.load_cursor(ctx.store, job.id) or {}
        items = sc_store.count_rows(ctx.store, job.import_id, job.id)
        days = cursor.get("plan", {}).get("days", [])
        return AttemptReport(items=items, job_items=items, result={
            "search_type": opts.search_type,
            "dimension_sets": [set_key(s) for s in opts.dimension_sets],
            "final_days": sum(1 for d in days if d[1] != PROVISIONAL),
            "provisional_days": sum(1 for d in days if d[1] == PROVISIONAL),
            "last_final_day": cursor.get("plan", {}).get("last_final_day"),
            "rows": items}, summaries=[stats.summary()] if stats is not None else [],
            duplicate_keys=max(0, int(cursor.get("received", 0)) - items),
            # A run loads as many days as are new: its volume is rows per day loaded, and a
            # run with no day to load is no zero_items violation.
            volume_unit="rows a day", volume=items / len(days) if days else None,
            nothing_due=not days)

    def _plan(self, ctx: ImportContext, session: GoogleSession,
              opts: SearchConsoleOptions) -> tuple[Plan, Probe]:
        keys = [set_key(s) for s in opts.dimension_sets]
        states = sc_store.day_states(ctx.store, ctx.job.import_id, opts.search_type)
        # Search Console days are Pacific days.
        today = ctx.clock.now().astimezone(PACIFIC).date()
        if opts.start_date is not None and opts.end_date is not None:
            # Up to today at least, so Google says where its incomplete data begins.
            window = (opts.start_date, max(opts.end_date, today))
        else:
            window = probe_range(states, keys, today,
                                 ctx.config.google.search_console_first_run_days)
        found = probe(session.client, ctx.config.google.search_console_base_url, ctx.job.target,
                      session.tokens, window[0], window[1], search_type=opts.search_type,
                      options=session.options)
        if opts.start_date is not None and opts.end_date is not None:
            return explicit_plan(found, opts.start_date, opts.end_date, keys), found
        return incremental_plan(
            found, states, keys, window, provisional=opts.provisional,
            first_run_days=ctx.config.google.search_console_first_run_days), found

    def _start(self, ctx: ImportContext, opts: SearchConsoleOptions, plan: Plan, found: Probe,
               stats: SearchConsoleStatsAccumulator) -> dict[str, Any]:
        """Store the probe's totals and the days without data; return the first cursor."""
        job, now = ctx.job, self._now(ctx)
        totals = [found.rows[d.day] for d in plan.days if TOTALS_KEY in d.sets and d.has_data]
        cursor: dict[str, Any] = {"plan": {**plan.to_json(),
                                           "segments": plan.segments(TOTALS_KEY)},
                                  "segment": 0, "start_row": 0, "received": len(totals)}
        state_of = {d.day: d.state for d in plan.days}
        for row in totals:
            stats.add(_stat(row), day=row.date, group=TOTALS_KEY)
        # Each write saves the cursor too; a crash before the first one plans again.
        if not plan.days:
            g_store.put_cursor(ctx.store, job.id, cursor, now)
        if totals:
            sc_store.upsert_rows(ctx.store, job.import_id, job.id, opts.search_type, TOTALS_KEY,
                                 [_tuple(r, state_of[r.date]) for r in totals], now, cursor)
        for key in sorted({k for d in plan.days for k in d.sets}):
            done = [(d.day, d.state, 1 if key == TOTALS_KEY else 0) for d in plan.days
                    if key in d.sets and (key == TOTALS_KEY or not d.has_data)]
            sc_store.finish_days(ctx.store, job.import_id, job.id, opts.search_type, key,
                                 done, now, cursor)
        return cursor

    def _load(self, ctx: ImportContext, session: GoogleSession, opts: SearchConsoleOptions,
              cursor: dict[str, Any], stats: SearchConsoleStatsAccumulator | None) -> None:
        job, cfg = ctx.job, ctx.config.google
        segments: list[list[str]] = cursor["plan"]["segments"]
        for index in range(int(cursor["segment"]), len(segments)):
            day, state, key = segments[index]
            start_row = int(cursor["start_row"]) if index == cursor["segment"] else 0
            cursor = {**cursor, "segment": index, "start_row": start_row}
            if start_row == 0:
                cursor["day_state"] = state
                sc_store.start_day(ctx.store, job.import_id, opts.search_type, key, day,
                                   job.id, self._now(ctx), cursor)
            state = str(cursor.get("day_state") or state)
            when = date.fromisoformat(day)
            for page in iter_analytics_pages(
                    session.client, cfg.search_console_base_url, job.target, session.tokens,
                    when, when, tuple(key.split(",")), search_type=opts.search_type,
                    row_limit=cfg.search_console_row_limit, start_row=start_row,
                    options=session.options):
                if page.first_incomplete is not None and when >= page.first_incomplete:
                    state = PROVISIONAL  # Google says the day is not final after all
                cursor = {**cursor, "start_row": page.next_start_row, "day_state": state,
                          "received": int(cursor["received"]) + len(page.rows)}
                if stats is not None:
                    for row in page.rows:
                        stats.add(_stat(row), day=row.date, group=key)
                sc_store.upsert_rows(ctx.store, job.import_id, job.id, opts.search_type, key,
                                     [_tuple(r, state) for r in page.rows], self._now(ctx),
                                     cursor)
                ctx.progress(items=cursor["received"],
                             current=f"{day} {key} row {page.next_start_row}")
            rows = sc_store.count_day(ctx.store, job.import_id, opts.search_type, key, day)
            cursor = {**cursor, "segment": index + 1, "start_row": 0, "day_state": None}
            sc_store.finish_days(ctx.store, job.import_id, job.id, opts.search_type, key,
                                 [(day, state, rows)], self._now(ctx), cursor)

    @staticmethod
    def _now(ctx: ImportContext) -> str:
        return to_iso(ctx.clock.now()) or ""


SOURCE = SearchConsoleSource()
