"""``ingestctl quota``: API quota use per API and scope, from the store only."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ingestctl import clock
from ingestctl.cli.output import emit_json, stdout
from ingestctl.cli.state import state
from ingestctl.quota import INGESTCTL, quota_report


def _bar(part: dict[str, Any]) -> Table | Text:
    used, limit = part["used"], part["limit"]
    if not limit:
        return Text(f"{used} (no limit)")
    ratio = min(1.0, used / limit)
    style = "red" if ratio >= 0.95 else "yellow" if ratio >= 0.8 else "green"
    grid = Table.grid(padding=(0, 1))
    # Whose count it is when the API's own quota service reported more than ingestctl made.
    by = part.get("counted_by")
    grid.add_row(ProgressBar(total=limit, completed=min(used, limit), width=10,
                             complete_style=style, finished_style=style),
                 Text(f"{used}/{limit} ({ratio:.0%})"
                      + (f" per {by}" if by and by != INGESTCTL else "")))
    return grid


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
    table = Table(box=None, header_style="bold")
    for column in ("API / SCOPE", "THIS MINUTE", "THIS QUOTA DAY", "RESETS", "LAST"):
        table.add_column(column, overflow="fold")
    for line in report["quotas"]:
        resets = line["day"]["resets_at"] or ""
        table.add_row(f"{line['api']}\n{line['scope']}", _bar(line["minute"]),
                      _bar(line["day"]), resets[5:16].replace("T", " ") + "Z" if resets else "",
                      str(line["last_status"] or ""))
    stdout.print(table)
    for line in report["quotas"]:
        if seen := _headers(line):
            stdout.print(f"last rate-limit headers of {line['api']} {line['scope']}: {seen}")
    for group in report["merchant_quota_groups"]:
        stdout.print(f"Merchant quota group {group['name']}: {group['usage']}/"
                     f"{group['daily_limit']} today, {group['minute_limit']} a minute "
                     f"(read {group['fetched_at']})")
