"""``ingestctl quota``: API quota use per API and scope, from the store only."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from ingestctl import clock
from ingestctl.cli.output import emit_json, stdout
from ingestctl.cli.state import state
from ingestctl.cli.tables import TZ_OPTION, Column, Listing, print_listing, zone
from ingestctl.resilience.quota import INGESTCTL, quota_report


def _bar(part: dict[str, Any]) -> Text:
    used, limit = part["used"], part["limit"]
    if not limit:
        return Text(f"{used:,} (no limit)")
    ratio = min(1.0, used / limit)
    style = "red" if ratio >= 0.95 else "yellow" if ratio >= 0.8 else "green"
    full = round(ratio * 10)
    # Whose count it is when the API's own quota service reported more than ingestctl made.
    by = part.get("counted_by")
    return Text.assemble(("█" * full, style), ("░" * (10 - full), "dim"),
                         f" {used:,}/{limit:,} ({used / limit:.0%})"
                         + (f" per {by}" if by and by != INGESTCTL else ""))


def _headers(line: dict[str, Any]) -> str:
    seen = line["rate_limit_headers"]
    if not seen:
        return ""
    parts = [f"{label}={seen[key]}" for key, label in (
        ("retry_after", "Retry-After"), ("ratelimit", "RateLimit"),
        ("x_ratelimit_limit", "X-RateLimit-Limit"),
        ("x_ratelimit_remaining", "X-RateLimit-Remaining")) if seen[key] is not None]
    return f"{' '.join(parts)} at {seen['seen_at']}"


def quota(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print JSON to stdout."),
    tz: str | None = TZ_OPTION,
) -> None:
    """Show API quota use against limits, per API and scope (this minute and quota day)."""
    st = state(ctx)
    report = quota_report(st.store(recover=False), clock.now())
    if json_out:
        emit_json(report)
        return
    if not report["quotas"]:
        stdout.print("no API requests recorded yet")
        return
    shown_in = zone(tz, st.config.display.tz)
    listing = Listing([
        Column("API", cut="never"),
        Column("SCOPE", cut="middle", min_width=12),
        Column("THIS MINUTE", priority=3, cut="never"),
        Column("THIS QUOTA DAY", priority=1, cut="never"),
        Column(shown_in.header("RESETS"), priority=2, cut="never"),
        Column("LAST", priority=4, cut="never", hide_empty=True),
    ])
    for line in report["quotas"]:
        listing.add(line["api"], line["scope"], _bar(line["minute"]), _bar(line["day"]),
                    shown_in.short(line["day"]["resets_at"]), str(line["last_status"] or ""))
    print_listing(listing)
    for line in report["quotas"]:
        if seen := _headers(line):
            stdout.print(f"last rate-limit headers of {line['api']} {line['scope']}: {seen}")
    for group in report["merchant_quota_groups"]:
        stdout.print(f"Merchant quota group {group['name']}: {group['usage']}/"
                     f"{group['daily_limit']} today, {group['minute_limit']} a minute "
                     f"(read {group['fetched_at']})")
