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
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ingestctl.monitoring.cells import (
    Section,
    ago,
)
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
from ingestctl.monitoring.status import StatusSnapshot

WIDE = 140  # columns from which the dashboard uses two columns


def sections(s: StatusSnapshot, before: StatusSnapshot | None = None) -> list[Section]:
    """Every section, most urgent first."""
    built = [running(s, before), failures(s), dead_letters(s), retry_queue(s), breakers(s),
             schedules(s), quotas(s), alerts(s), quality(s), sources(s)]
    return [x for x in built if x is not None]


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
