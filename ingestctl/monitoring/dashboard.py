"""The ``ingestctl status`` screen: sections that need attention first, fitted to the terminal.

Every row is one line (ellipsis instead of wrapping), so a frame's height is known before it is
drawn. :func:`render` orders sections by urgency (running, failures, dead letters, the retry
queue, open breakers, then the rest), folds each healthy or empty section into one summary
line, and shares the height among the others so the screen is filled; from 140 columns the
sections go into two balanced columns. The live loop is :mod:`ingestctl.monitoring.watch`.
See docs/guide/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ingestctl.monitoring.status import RunningJob, SourceSummary, StatusSnapshot
from ingestctl.shorten import middle_cut
from ingestctl.units import format_duration

WIDE = 140  # columns from which the dashboard uses two columns
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


def sections(s: StatusSnapshot, before: StatusSnapshot | None = None) -> list[Section]:
    """Every section, most urgent first."""
    from ingestctl.monitoring.sections import (
        alerts,
        breakers,
        dead_letters,
        failures,
        quality,
        quotas,
        retry_queue,
        running,
        schedules,
        sources,
    )

    built = [running(s, before), failures(s), dead_letters(s), retry_queue(s), breakers(s),
             schedules(s), quotas(s), alerts(s), quality(s), sources(s)]
    return [x for x in built if x is not None]


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


def allot(wanted: list[int], height: int) -> list[int]:
    """Rows per open section within ``height`` lines: each costs title and header lines plus
    its rows; every section gets one row first, then more in turn until the height is used."""
    shown = [0] * len(wanted)
    budget = height
    for i, want in enumerate(wanted):
        if want and budget >= 3:
            shown[i], budget = 1, budget - 3
    while budget > 0:
        grew = False
        for i, want in enumerate(wanted):
            if shown[i] and shown[i] < want and budget > 0:
                shown[i] += 1
                budget -= 1
                grew = True
        if not grew:
            break
    return shown


def _wanted(x: Section) -> int:
    return min(len(x.rows), x.total if x.total is not None else len(x.rows))


def _summary_lines(parts: list[str], width: int) -> list[Text]:
    """Folded sections' lines, packed ``a · b · c`` into as few lines as fit ``width``."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return [Text(line, style="dim", no_wrap=True, overflow="ellipsis") for line in lines]


@dataclass
class Column:
    """One column of the screen: what it draws, the job ids of its rows, lines it takes."""

    body: RenderableType
    job_ids: list[int]
    lines: int


def column(parts: list[Section], width: int, height: int | None,
           selected: int | None = None) -> Column:
    """Open sections, then the folded ones' summary lines; a section that gets no room for a
    row folds too."""
    open_ = [x for x in parts if not x.folded and x.rows]
    folded = [x.summary for x in parts if x.folded or not x.rows]
    summary = _summary_lines(folded, width)
    shown = [_wanted(x) for x in open_]
    if height is not None:
        shown = allot(shown, max(height - len(summary), 0))
        crowded = [f"{x.title}: {_wanted(x)} not shown" for x, n in zip(open_, shown, strict=True)
                   if not n]
        if crowded:
            summary = _summary_lines(folded + crowded, width)
            shown = allot([_wanted(x) for x in open_], max(height - len(summary), 0))
    out: list[RenderableType] = []
    ids: list[int] = []
    for x, n in zip(open_, shown, strict=True):
        if not n:
            continue
        pick = None
        if selected is not None and x.job_ids and 0 <= selected - len(ids) < n:
            pick = selected - len(ids)
        out.append(x.table(n, pick))
        ids += x.job_ids[:n]
    used = sum(2 + n for n in shown if n)
    if height is not None:
        summary = summary[:max(height - used, 0)]
    return Column(Group(*out, *summary), ids, used + len(summary))


def header(s: StatusSnapshot, zone_name: str = "UTC", tz: Any = None,
           notes: Sequence[str] = ()) -> Text:
    """The first line: time with its zone, database, scheduler heartbeat, filters, pause."""
    moment = s.generated_at.astimezone(tz) if tz is not None else s.generated_at
    text = Text.assemble(("ingestctl status", "bold"),
                         f"  {moment:%Y-%m-%d %H:%M:%S} {zone_name}  ")
    for note in notes:
        text.append(f"[{note}] ", style="bold yellow")
    if not s.database_exists:
        text.append(f"no database yet at {s.database}", style="yellow")
    else:
        text.append(s.database, style="dim")
    if s.scheduler_heartbeat is not None:
        text.append(f"  scheduler seen {ago(s.generated_at, s.scheduler_heartbeat)}")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


@dataclass
class Frame:
    """A rendered screen and the job ids of its selectable rows, top to bottom."""

    body: RenderableType
    job_ids: list[int]


def render_frame(s: StatusSnapshot, width: int = 80, height: int | None = None, *,
                 before: StatusSnapshot | None = None, selected: int | None = None,
                 top: Text | None = None, footer: Text | None = None) -> Frame:
    """The status view; with ``height`` (the live view), exactly that many lines, the footer
    on the last one."""
    built = sections(s, before)
    head = top if top is not None else header(s)
    body = None if height is None else max(height - 1 - (footer is not None), 3)
    if width < WIDE:
        only = column(built, width, body, selected)
        content, ids, used = only.body, only.job_ids, only.lines
    else:
        left, right = _balance(built)
        half = (width - 2) // 2
        first = column(left, half, body, selected)
        second = column(right, width - 2 - half, body,
                        None if selected is None else selected - len(first.job_ids))
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(first.body, second.body)
        content, ids = grid, first.job_ids + second.job_ids
        used = max(first.lines, second.lines)
    parts: list[RenderableType] = [head, content]
    if footer is not None and body is not None:
        if body > used:
            parts.append(Text("\n" * (body - used - 1)))
        parts.append(footer)
    return Frame(Group(*parts), ids)


def _balance(built: list[Section]) -> tuple[list[Section], list[Section]]:
    """Two columns of about equal wanted height, each keeping the urgency order."""
    left: list[Section] = []
    right: list[Section] = []
    heights = [0, 0]
    for x in built:
        cost = 1 if x.folded or not x.rows else 2 + _wanted(x)
        side = 0 if heights[0] <= heights[1] else 1
        (left if side == 0 else right).append(x)
        heights[side] += cost
    return left, right


def render(s: StatusSnapshot, width: int = 80, height: int | None = None) -> RenderableType:
    """The status view (``ingestctl status``); with ``height``, cut to fit it exactly."""
    return render_frame(s, width, height).body
