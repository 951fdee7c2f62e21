"""What an attempt of a sitemap import reports: counts, changes, duplicates, failed files.

The result is the job's ``result`` (``jobs show --json``); its fields are documented in
docs/guide/sitemaps.md. ``failures`` names each file that failed (URL, error class, the error,
HTTP status, line and column of a parse error, the URLs kept from it, and whether the
previous job failed on it too), so a summary line or an alert can say which child failed and
why without reading the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestctl.errors import DataError, IngestError, SourceError
from ingestctl.store import sitemaps as sm
from ingestctl.store.database import Store
from ingestctl.store.sitemaps import SitemapFile

#: Failed files described one by one in the result (all are counted in ``failed_files``).
KEEP_FAILURES = 20


def failure(url: str, parent: str | None, error: IngestError, kept: int,
            http_status: int | None, prior: SitemapFile | None,
            redirects: list[str] | None = None) -> dict[str, Any]:
    """The facts of one failed file, for the job's ``result["failures"]``."""
    fact: dict[str, Any] = {"url": url, "error_class": error.error_class.value,
                            "error": str(error)}
    if parent is not None:
        fact["parent"] = parent
    status = http_status or (error.status_code if isinstance(error, SourceError) else None)
    if status is not None:
        fact["http_status"] = status
    if isinstance(error, DataError) and error.line is not None:
        fact["line"] = error.line
        if error.column is not None:
            fact["column"] = error.column
    if kept:
        fact["urls_kept"] = kept
    if redirects:
        fact["redirects"] = redirects
    if prior is not None and prior.status == "failed" and prior.job_id is not None:
        # Failing run after run (a child that is always 404) keeps removal tracking off.
        fact["failed_before"] = {"job": prior.job_id, "error_class": prior.error_class}
    return fact


@dataclass
class Outcomes:
    """What the crawl collected for the result."""

    counts: dict[str, int]
    failures: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    problems: dict[str, int] = field(default_factory=dict)
    first: bool = False  # no earlier job listed a file of this import


def result(store: Store, import_id: int, job_id: int, seen: Outcomes, removed: int
           ) -> tuple[dict[str, Any], int, int]:
    """The job's result, its items and its duplicate URLs (a URL listed again in this import
    counts once per extra listing; a file read again after a retried request does not)."""
    items = sm.job_items(store, import_id, job_id)
    tally = sm.job_tally(store, import_id, job_id, first=seen.first)
    if tally is None:  # every file unchanged: the same listing as the last job that read it
        added = changed = 0
        duplicates = sm.previous_duplicates(store, import_id, job_id)
    else:
        added, changed = tally.added, tally.changed
        duplicates = max(0, items - tally.distinct)
    out: dict[str, Any] = {**{k: v for k, v in seen.counts.items() if v or k == "files"},
                           "added": added, "changed": changed, "removed": removed,
                           "duplicate_keys": duplicates}
    if seen.failures or seen.incomplete:
        reasons = []
        if seen.failures:
            n = len(seen.failures)
            reasons.append(f"{n} {'file' if n == 1 else 'files'} failed")
        if seen.incomplete:
            reasons.append("max_files reached")
        out["removal"] = "skipped: " + " and ".join(reasons)
    if seen.failures:
        out["failures"] = seen.failures[:KEEP_FAILURES]
    if seen.problems:
        out["problems"] = dict(sorted(seen.problems.items()))
    return out, items, duplicates
