"""The building blocks of the dashboard: styles, short times, sparklines and table cells.

See docs/guide/monitoring.md. :mod:`ingestctl.monitoring.sections` builds the sections from
these and :mod:`ingestctl.monitoring.dashboard` lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from ingestctl.monitoring.status import RunningJob, SourceSummary, StatusSnapshot
from ingestctl.shorten import middle_cut
from ingestctl.units import format_duration

STATE_STYLE = {"completed": "green", "failed": "red", "retrying": "yellow", "processing": "cyan",
               "pending": "blue", "open": "bold red", "half_open": "yellow", "closed": "green"}


BARS = "▁▂▃▄▅▆▇█"


QUOTA_WARNING = 0.8


def ago(now: datetime, then: datetime | None) -> str:
    """``5m ago`` / ``in 5m`` / ``-``."""
    if then is None:
        return "-"
    delta = (now - then).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"{format_duration(abs(delta))} ago" if delta >= 0 else f"in {format_duration(-delta)}"


def span(seconds: float) -> str:
    """A window as operators say it: ``24h`` rather than ``1d``."""
    if seconds % 3600 == 0 and seconds <= 7 * 86400:
        return f"{int(seconds // 3600)}h"
    return format_duration(seconds)


def sparkline(completed: Sequence[int], failed: Sequence[int]) -> Text:
    """One character per hour: its height the jobs finished, red when one of them failed."""
    top = max((c + f for c, f in zip(completed, failed, strict=True)), default=0)
    text = Text()
    for done, bad in zip(completed, failed, strict=True):
        total = done + bad
        if not total:
            text.append("·", style="dim")
            continue
        level = BARS[min(len(BARS) - 1, (total * len(BARS) - 1) // max(top, 1))]
        text.append(level, style="red" if bad else "green")
    return text


def rate(job: RunningJob, now: datetime, before: StatusSnapshot | None) -> float | None:
    """Items a second: since the previous frame when it saw this job, else since the start."""
    if before is not None:
        seen = next((r for r in before.running if r.id == job.id), None)
        seconds = (now - before.generated_at).total_seconds()
        if seen is not None and seconds > 0 and job.items >= seen.items:
            return (job.items - seen.items) / seconds
    seconds = job.elapsed(now)
    return job.items / seconds if seconds > 0 else None


def _rate_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}/s" if value >= 10 else f"{value:.1f}/s"


def _success(value: float | None) -> Text:
    if value is None:
        return Text("-")
    style = "green" if value >= 0.9 else "yellow" if value >= 0.5 else "red"
    return Text(f"{value * 100:.0f}%", style=style)


def _styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _current(job: RunningJob, now: datetime) -> Text:
    if job.lease_expired:
        return Text(f"lease expired {ago(now, job.lease_expires_at)}; owner {job.owner} gone?",
                    style="red")
    files = f"[{job.files_done}/{job.files_total}] " if job.files_total else ""
    if job.current:
        return Text(files + job.current)
    beat = ago(now, job.heartbeat_at) if job.heartbeat_at else "never"
    return Text(f"{files}no progress reported yet (heartbeat {beat})", style="yellow")


@dataclass
class Section:
    """One titled table of the dashboard (rows already cells, most urgent first), or the one
    line it folds into when there is nothing to look at."""

    title: str
    columns: Sequence[tuple[str, dict[str, Any]]]
    rows: list[list[RenderableType]]
    summary: str  # the line shown when folded
    total: int | None = None  # rows that exist, when more than ``rows`` were fetched
    folded: bool = False  # healthy or empty: one summary line
    job_ids: list[int] = field(default_factory=list)  # the job of each row, for selection

    def table(self, shown: int, selected: int | None = None) -> Table:
        """The section with its first ``shown`` rows; the title says when rows are hidden."""
        total = self.total if self.total is not None else len(self.rows)
        title = self.title if shown >= total else f"{self.title} ({shown} of {total} shown)"
        table = Table(title=title, title_justify="left", title_style="bold", box=None,
                      expand=True, pad_edge=False, header_style="dim", padding=(0, 1))
        for name, options in self.columns:
            table.add_column(name, no_wrap=True, overflow="ellipsis", **options)
        for n, row in enumerate(self.rows[:shown]):
            table.add_row(*row, style="reverse" if n == selected else None)
        return table


def source_cells(x: SourceSummary) -> list[RenderableType]:
    """A Sources row: counts, success rate and the 24-hour sparkline."""
    return [Text(x.source, style="red" if x.failed else ""), str(x.completed),
            Text(str(x.failed), style="red" if x.failed else ""), _success(x.success_rate),
            str(x.pending), str(x.processing), str(x.retrying),
            sparkline(x.hourly_completed, x.hourly_failed)]


def running_cells(r: RunningJob, now: datetime, before: StatusSnapshot | None
                  ) -> list[RenderableType]:
    """A Running row: attempt, items, rate, elapsed time and what it is doing."""
    return [str(r.id), middle_cut(r.name, 28), f"{r.attempt}/{r.max_attempts}", f"{r.items:,}",
            _rate_text(rate(r, now, before)), format_duration(r.elapsed(now)),
            _current(r, now)]

