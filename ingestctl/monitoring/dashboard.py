"""Rich renderables for ``ingestctl status`` and the live ``status --watch`` loop.

Every row is one line (no wrapping, ellipsis instead), so a frame's height is known before it
is drawn: :func:`render` gives each non-empty section a title, a header and as many rows as
the height allows (most urgent sections first) and folds empty ones into one line. At 140
columns or more the sections go into two columns. :class:`Watch` redraws one frame per
:meth:`Watch.step`, reading keys from the terminal in cbreak mode between frames.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ingestctl.monitoring.status import StatusSnapshot
from ingestctl.units import format_duration

WIDE = 140  # columns from which the dashboard uses two columns
STATE_STYLE = {"completed": "green", "failed": "red", "retrying": "yellow", "processing": "cyan",
               "pending": "blue", "open": "bold red", "half_open": "yellow", "closed": "green"}


def ago(now: datetime, then: datetime | None) -> str:
    """``5m ago`` / ``in 5m`` / ``-``."""
    if then is None:
        return "-"
    delta = (now - then).total_seconds()
    return f"{format_duration(abs(delta))} ago" if delta >= 0 else f"in {format_duration(-delta)}"


def span(seconds: float) -> str:
    """A window as operators say it: ``24h`` rather than ``1d``."""
    if seconds % 3600 == 0 and seconds <= 7 * 86400:
        return f"{int(seconds // 3600)}h"
    return format_duration(seconds)


def _rate(value: float | None) -> Text:
    if value is None:
        return Text("-")
    style = "green" if value >= 0.9 else "yellow" if value >= 0.5 else "red"
    return Text(f"{value * 100:.1f}%", style=style)


def _styled(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


@dataclass
class Section:
    """One titled table of the dashboard; rows are already cells."""
    title: str
    columns: Sequence[tuple[str, dict[str, Any]]]
    rows: list[list[RenderableType]]
    empty: str
    total: int | None = None  # rows that exist, when more than ``rows`` were fetched

    def table(self, shown: int) -> Table:
        """The section with its first ``shown`` rows; the title says when rows are hidden."""
        total = self.total if self.total is not None else len(self.rows)
        title = self.title if shown >= total else f"{self.title} ({shown} of {total} shown)"
        table = Table(title=title, title_justify="left", title_style="bold", box=None,
                      expand=True, pad_edge=False, header_style="dim", padding=(0, 1))
        for name, options in self.columns:
            table.add_column(name, no_wrap=True, overflow="ellipsis", **options)
        for row in self.rows[:shown]:
            table.add_row(*row)
        return table


def _sections(s: StatusSnapshot) -> list[Section]:
    now = s.generated_at
    window = span(s.window)
    fit = {"ratio": 1, "min_width": 8}
    out = [
        Section(f"Sources, last {window}",
                [("source", {"min_width": 8}), ("done", {"justify": "right"}),
                 ("failed", {"justify": "right"}), ("success", {"justify": "right"}),
                 ("pending", {"justify": "right"}), ("running", {"justify": "right"}),
                 ("retrying", {"justify": "right"})],
                [[x.source, str(x.completed), str(x.failed), _rate(x.success_rate),
                  str(x.pending), str(x.processing), str(x.retrying)] for x in s.sources],
                f"Sources: no jobs in the last {window}"),
        Section("Running",
                [("id", {"justify": "right"}), ("import", {"max_width": 24}),
                 ("try", {}), ("items", {"justify": "right"}), ("elapsed", {}),
                 ("current", fit)],
                [[str(r.id), r.name, f"{r.attempt}/{r.max_attempts}", f"{r.items:,}",
                  Text(format_duration(r.elapsed(now)) + (" lease expired" if r.lease_expired
                                                          else ""),
                       style="red" if r.lease_expired else ""),
                  (f"[{r.files_done}/{r.files_total}] " if r.files_total else "")
                  + (r.current or "")] for r in s.running],
                "Running: nothing"),
        Section("Retry queue",
                [("id", {"justify": "right"}), ("import", {"max_width": 24}),
                 ("state", {}), ("try", {}), ("next attempt", {}), ("last error", fit)],
                [[str(q.id), q.name, _styled(q.status), f"{q.attempts}/{q.max_attempts}",
                  ago(now, q.next_attempt_at) if q.next_attempt_at else "now",
                  f"{q.error_class}: {q.error_message}" if q.error_class else ""]
                 for q in s.queue],
                "Retry queue: empty", total=s.queue_total),
        Section("Recent failures",
                [("when", {}), ("job", {"justify": "right"}), ("import", {"max_width": 24}),
                 ("class", {}), ("error", fit)],
                [[ago(now, f.finished_at), f"{f.job_id}#{f.attempt}", f.name,
                  Text(f.error_class or f.outcome, style="red"),
                  f"{f.error_type or ''}: {f.error_message or ''}".strip(": ")]
                 for f in s.failures],
                f"Recent failures: none in the last {window}"),
        Section("Dead letters",
                [("id", {"justify": "right"}), ("job", {"justify": "right"}),
                 ("import", {"max_width": 24}), ("class", {}), ("when", {}),
                 ("error", fit)],
                [[str(d.id), str(d.job_id), d.name, Text(d.error_class, style="red"),
                  ago(now, d.updated_at), d.error_message or ""] for d in s.dead_letters],
                "Dead letters: none", total=s.dead_letters_total),
        Section("Circuit breakers",
                [("key", fit), ("state", {}), ("failures", {"justify": "right"}),
                 ("retry", {})],
                [[b.key, _styled(b.state), str(b.failures),
                  ago(now, b.open_until) if b.state != "closed" else ""] for b in s.breakers],
                "Circuit breakers: none recorded"),
        Section("Quota",
                [("api", {}), ("scope", fit), ("used", {"justify": "right"}),
                 ("limit", {"justify": "right"}), ("%", {"justify": "right"})],
                [[q.api, q.scope, f"{q.used:,}", f"{q.limit:,}",
                  Text(f"{q.ratio * 100:.1f}",
                       style="red" if q.ratio >= 0.95 else "yellow" if q.ratio >= 0.8 else "")]
                 for q in s.quotas],
                "Quota: none recorded"),
    ]
    if s.alerts is not None:
        title = "Recent alerts" + (f", {s.undelivered_alerts} undelivered"
                                   if s.undelivered_alerts else "")
        out.append(Section(title, [("when", {}), ("severity", {}), ("subject", fit),
                                   ("delivery", {})],
                           [[ago(now, a.created_at), a.severity, a.subject, a.delivery]
                            for a in s.alerts], "Alerts: none"))
    out.append(Section("Data quality, last runs",
                       [("import", {"max_width": 24}), ("job", {"justify": "right"}),
                        ("severity", {}), ("rule", {}), ("message", fit)],
                       [[q.name, str(q.job_id), str(v.get("severity")), str(v.get("rule")),
                         str(v.get("message"))] for q in s.quality for v in q.violations],
                       "Data quality: no violations on last runs"))
    out.append(Section("Schedules",
                       [("import", {"max_width": 24}), ("schedule", {}), ("next run", {}),
                        ("last success", fit), ("missed", {"justify": "right"})],
                       [[x.name, f"{x.schedule} ({x.timezone})",
                         x.error or (ago(now, x.next_run) if x.next_run else "-"),
                         ago(now, x.last_success), str(x.missed) if x.missed else "-"]
                        for x in s.schedules],
                       "Schedules: none configured"))
    return out


def _allot(sections: list[Section], height: int | None) -> list[int]:
    """Rows shown per section: each non-empty one gets 1, then more in order, within height.

    A shown section costs its title and header lines plus its rows; empty sections share one
    line. With no height every row is shown. A section that cannot get its 3 lines gets 0.
    """
    full = [min(len(x.rows), x.total if x.total is not None else len(x.rows)) for x in sections]
    if height is None:
        return full
    budget = height - 1  # the line of empty sections (always drawn)
    shown = [0] * len(sections)
    for i, want in enumerate(full):
        if want and budget >= 3:
            shown[i], budget = 1, budget - 3
    while budget > 0:
        grew = False
        for i, want in enumerate(full):
            if shown[i] and shown[i] < want and budget > 0:
                shown[i] += 1
                budget -= 1
                grew = True
        if not grew:
            break
    return shown


def _column(sections: list[Section], height: int | None) -> RenderableType:
    shown = _allot(sections, height)
    parts: list[RenderableType] = [x.table(n) for x, n in zip(sections, shown, strict=True) if n]
    quiet = [x.empty if not x.rows else f"{x.title}: {len(x.rows)} hidden"
             for x, n in zip(sections, shown, strict=True) if not n]
    if quiet:
        # The live view has one line for them; plain output may wrap.
        parts.append(Text(" · ".join(quiet), style="dim", no_wrap=height is not None,
                          overflow="ellipsis" if height is not None else "fold"))
    return Group(*parts)


def header(s: StatusSnapshot) -> Text:
    """The first line: time, database, scheduler heartbeat, how to quit."""
    text = Text.assemble(("ingestctl status", "bold"), f"  {s.generated_at:%Y-%m-%d %H:%M:%S}Z  ")
    if not s.database_exists:
        text.append(f"no database yet at {s.database}", style="yellow")
    else:
        text.append(s.database, style="dim")
    if s.scheduler_heartbeat is not None:
        text.append(f"  scheduler seen {ago(s.generated_at, s.scheduler_heartbeat)}")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def render(s: StatusSnapshot, width: int = 80, height: int | None = None) -> RenderableType:
    """The status view; with ``height``, cut to fit it exactly (the live view)."""
    sections = _sections(s)
    body = None if height is None else max(height - 1, 2)
    if width < WIDE:
        return Group(header(s), _column(sections, body))
    split = 4  # sources, running, queue, failures left; the rest right
    grid = Table.grid(expand=True, padding=(0, 2))
    grid.add_column(ratio=3)
    grid.add_column(ratio=2)
    grid.add_row(_column(sections[:split], body), _column(sections[split:], body))
    return Group(header(s), grid)


KeyWait = Callable[[float], str]


class TerminalKeys:
    """Keys from a terminal in cbreak mode (no echo, no line buffering); restores it on exit."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> TerminalKeys:
        if os.isatty(self.fd):

            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None

    def wait(self, timeout: float) -> str:
        """Keys typed within ``timeout`` seconds ('' when none; sleeps when not a terminal)."""
        if self.saved is None:
            select.select([], [], [], timeout)
            return ""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        return data.decode("utf-8", "replace") if data else "q"  # EOF: the terminal is gone


@dataclass
class Watch:
    """The live view: one :meth:`step` draws a fresh frame, then waits for a key or a tick."""
    snapshot: Callable[[], StatusSnapshot]
    live: Live
    console: Console
    interval: float = 2.0
    wait: KeyWait = field(default=lambda timeout: "")
    frames: int = 0

    def frame(self) -> RenderableType:
        """A frame sized to the console now (it follows terminal resizes)."""
        size = self.console.size
        return render(self.snapshot(), width=size.width, height=size.height - 1)

    def step(self) -> bool:
        """Redraw, then wait up to ``interval``; False once ``q`` was pressed."""
        self.live.update(self.frame(), refresh=True)
        self.frames += 1
        keys = self.wait(self.interval)
        return "q" not in keys.lower()

    def run(self) -> None:
        """Step until ``q`` or Ctrl-C."""
        try:
            while self.step():
                pass
        except KeyboardInterrupt:
            pass


def watch(snapshot: Callable[[], StatusSnapshot], console: Console, interval: float) -> int:
    """Run the live dashboard on ``console`` until ``q`` or Ctrl-C; returns frames drawn."""
    with TerminalKeys() as keys, Live(console=console, screen=False, auto_refresh=False,
                                      transient=False, vertical_overflow="crop") as live:
        loop = Watch(snapshot, live, console, interval, keys.wait)
        loop.run()
    return loop.frames
