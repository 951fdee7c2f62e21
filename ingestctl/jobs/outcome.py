"""The one line a finished run prints: what it imported and everything a user must know.

``job 7 completed with warnings: 48,210 URLs from URL (NAME) in 1 attempt(s); 1 of 21 files
failed (sitemap-3.xml: malformed XML at 6:24); quality: duplicate_keys (50)``

It is built from the job's stored ``result`` alone, read defensively: a field a source does not
write is simply not mentioned. docs/guide/sitemaps.md describes the sitemap fields it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ingestctl.models.jobs import Job
from ingestctl.quality.model import Violation
from ingestctl.quality.outcome import brief

NOUNS = {"sitemap": "URLs", "merchant": "products", "search-console": "rows"}
FILES_SHOWN = 3


def completed_line(job: Job) -> str:
    """``job N completed[ with warnings]: ...`` for a completed job."""
    result: Mapping[str, Any] = job.result or {}
    facts = warnings(result)
    state = "completed with warnings" if facts else "completed"
    head = (f"job {job.id} {state}: {job.items:,} {NOUNS.get(job.source, 'items')} from "
            f"{job.target} ({job.name}) in {job.attempts} attempt(s)")
    return "; ".join([head, *facts])


def warnings(result: Mapping[str, Any]) -> list[str]:
    """The facts of a completed job a user must know, each a short clause; [] when clean."""
    facts = []
    failed = _failed_files(result)
    if failed:
        facts.append(failed)
    refused = _int(result.get("refused_files"))
    if refused:
        facts.append(f"{refused:,} listed {_plural(refused, 'file')} not followed")
    removal = _removal_skipped(result)
    if removal:
        facts.append(f"removed URLs not tracked ({removal})")
    violations = _violations(result.get("quality"))
    if violations:
        facts.append(f"quality: {brief(violations)}")
    return facts


def _failed_files(result: Mapping[str, Any]) -> str:
    count = _int(result.get("failed_files"))
    if not count:
        return ""
    total = count + sum(_int(result.get(key)) for key in
                        ("files", "not_modified", "resumed_files"))
    named = [_describe(entry) for entry in _failure_entries(result)]
    if not named:  # no per-file facts: the failed children the quality rule names
        named = [_short(str(url)) for url in _examples(result, "failed_child_sitemap_share")]
    shown = "; ".join(n for n in named[:FILES_SHOWN] if n)
    if shown and len(named) > FILES_SHOWN:
        shown += f"; {len(named) - FILES_SHOWN:,} more"
    text = f"{count:,} of {total:,} {_plural(total, 'file')} failed"
    return f"{text} ({shown})" if shown else text


def _failure_entries(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = result.get("failures")
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, Mapping) and e.get("url")]


def _describe(entry: Mapping[str, Any]) -> str:
    """``sitemap-3.xml: malformed XML at 6:24`` from one per-file failure fact."""
    url = str(entry["url"])
    status, line, column = entry.get("http_status"), entry.get("line"), entry.get("column")
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        reason = f"HTTP {status}"
    else:
        # The error repeats the URL and the place: keep what went wrong ('malformed XML').
        text = str(entry.get("error") or "")
        if text.startswith(url):
            text = text[len(url):].lstrip(":0123456789 ")
        reason = text.split(": ")[0].split("; ")[0].strip()
    if isinstance(line, int):
        reason += f" at {line}:{column}" if isinstance(column, int) else f" at line {line}"
    kept = _int(entry.get("urls_kept"))
    if kept:
        reason += f", {kept:,} {_plural(kept, 'URL')} kept"
    before = entry.get("failed_before")
    if isinstance(before, Mapping) and isinstance(before.get("job"), int):
        reason += f", also failed in job {before['job']}"
    return f"{_short(url)}: {reason.strip(', ')}" if reason.strip(", ") else _short(url)


def _removal_skipped(result: Mapping[str, Any]) -> str:
    """Why removal tracking was skipped, or '' when it ran."""
    removal = result.get("removal")
    if isinstance(removal, str) and removal.startswith("skipped"):
        return removal.partition(":")[2].strip() or "skipped"
    return ""


def _violations(data: Any) -> list[Violation]:
    if not isinstance(data, list):
        return []
    found = []
    for item in data:
        try:
            found.append(Violation.from_dict(item))
        except (KeyError, TypeError, ValueError):
            continue  # a shape from another version: the job's JSON still has it
    return found


def _examples(result: Mapping[str, Any], rule: str) -> list[Any]:
    for item in result.get("quality") or []:
        if isinstance(item, Mapping) and item.get("rule") == rule:
            examples = (item.get("details") or {}).get("examples")
            return list(examples) if isinstance(examples, list) else []
    return []


def _short(url: str) -> str:
    """The file name of a URL or path: what a user recognises in a list of sitemaps."""
    path = urlsplit(url).path if "://" in url else url
    return path.rstrip("/").rsplit("/", 1)[-1] or url


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"
