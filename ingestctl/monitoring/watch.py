"""``ingestctl status --watch``: the live screen, its keys and the view of one job.

:class:`Watch` draws one frame per :meth:`Watch.step` and then waits for a key or the next
tick; the keys change a :class:`ViewState` (pause, filters, the selected row, the open job).
Keys are read from the terminal in cbreak mode by :class:`TerminalKeys`. See
docs/guide/monitoring.md for the keys.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ingestctl.monitoring.cells import STATE_STYLE
from ingestctl.monitoring.dashboard import header, render_frame
from ingestctl.monitoring.status import StatusSnapshot
from ingestctl.store import Store
from ingestctl.store import dead_letters as dl_store
from ingestctl.store import jobs as job_store

#: Status filters, in the order ``f`` cycles through them.
STATUS_FILTERS = (None, "failing", "running", "queued")
KEYS_HELP = ("q quit  p pause  ↑↓/jk select  ⏎ open job  s source  f status  "
             "esc clear")
DETAIL_HELP = "q quit  esc/b back  p pause"


@dataclass
class JobView:
    """What the job screen shows: the job's fields, its attempts and how to retry it."""

    fields: list[tuple[str, str]]
    attempts: list[tuple[str, str, str, str]]  # number, outcome, started, error
    commands: list[str]
    status: str = ""


@dataclass
class ViewState:
    """What the keys changed: pause, filters, selection and the open job."""

    paused: bool = False
    source: str | None = None
    status: str | None = None
    selected: int | None = None
    job: int | None = None

    def notes(self) -> list[str]:
        """The header's reminders of what is not the plain live view."""
        out = ["PAUSED"] if self.paused else []
        if self.source:
            out.append(f"source={self.source}")
        if self.status:
            out.append(f"status={self.status}")
        return out


def tokens(keys: str) -> list[str]:
    """Typed keys as names: ``up``, ``down``, ``enter``, ``esc`` or the character."""
    out: list[str] = []
    i = 0
    while i < len(keys):
        for seq, name in (("\x1b[A", "up"), ("\x1bOA", "up"), ("\x1b[B", "down"),
                          ("\x1bOB", "down")):
            if keys.startswith(seq, i):
                out.append(name)
                i += len(seq)
                break
        else:
            ch = keys[i]
            out.append({"\r": "enter", "\n": "enter", "\x1b": "esc", "\x7f": "esc",
                        " ": "p"}.get(ch, ch))
            i += 1
    return out


def filtered(s: StatusSnapshot, view: ViewState) -> StatusSnapshot:
    """The snapshot with only the rows of the chosen source and status."""
    if not view.source and not view.status:
        return s

    def keep(source: str) -> bool:
        return view.source is None or source == view.source

    out = dataclasses.replace(
        s, sources=[x for x in s.sources if keep(x.source)],
        running=[r for r in s.running if keep(r.source)],
        queue=[q for q in s.queue if keep(q.source)],
        dead_letters=[d for d in s.dead_letters if keep(d.source)],
        failures=[f for f in s.failures if keep(f.source)],
        schedules=[x for x in s.schedules if keep(x.source)])
    if view.source:
        out.queue_total, out.dead_letters_total = len(out.queue), len(out.dead_letters)
    if view.status == "failing":
        out.running, out.queue = [], [q for q in out.queue if q.status == "retrying"]
    elif view.status == "running":
        out.queue, out.failures, out.dead_letters = [], [], []
    elif view.status == "queued":
        out.running, out.failures, out.dead_letters = [], [], []
    if view.status:
        out.queue_total, out.dead_letters_total = len(out.queue), len(out.dead_letters)
    return out


def job_view(store: Store, job_id: int, short: Callable[[str | None], str]) -> JobView | None:
    """The job screen's content from the store (None when the job is gone); ``short`` formats
    stored times."""

    job = job_store.get_job(store, job_id)
    if job is None:
        return None
    status = job.status.value
    fields = [("name", job.name), ("source", job.source), ("target", job.target),
              ("status", status), ("attempts", f"{job.attempts}/{job.max_attempts}"),
              ("items", f"{job.items:,}"), ("created", short(job.created_at)),
              ("finished", short(job.finished_at)), ("next attempt", short(job.next_attempt_at))]
    if job.error:
        fields.append(("error", f"{job.error.error_class}: {job.error.message}"))
    attempts = [(str(a.number), a.outcome.value, short(a.started_at),
                 f"{a.error.error_class}: {a.error.message}" if a.error else "")
                for a in job_store.attempts_of(store, job_id)]
    commands = [f"ingestctl jobs show {job_id}"]
    entry = dl_store.active_entry_of(store, job_id)
    if entry is not None:
        commands += [f"ingestctl dlq show {entry}", f"ingestctl dlq retry {entry}"]
    if status in ("failed", "retrying"):
        commands.append(f"ingestctl retry {job_id}")
    return JobView([(k, v) for k, v in fields if v], attempts, commands, status)


def render_job(view: JobView, job_id: int) -> RenderableType:
    """The screen of one job: its fields, every attempt with its error, and what to run."""
    head = Table.grid(padding=(0, 2), expand=True)
    head.add_column(style="bold", no_wrap=True, min_width=12)
    head.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for key, value in view.fields:
        head.add_row(key, Text(value, style=STATE_STYLE.get(value, "")))
    attempts = Table(title="attempts", title_justify="left", title_style="bold", box=None,
                     header_style="dim", expand=True, pad_edge=False)
    for name in ("#", "outcome", "started", "error"):
        attempts.add_column(name, no_wrap=True, overflow="ellipsis",
                            ratio=1 if name == "error" else None)
    for number, outcome, started, error in view.attempts:
        attempts.add_row(number, Text(outcome, style=STATE_STYLE.get(outcome, "")), started,
                         error)
    todo = Text("what to run\n", style="bold")
    for command in view.commands:
        todo.append(f"  {command}\n", style="")
    return Group(Text(f"job {job_id}", style="bold"), head, Text(""), attempts, Text(""), todo)


@dataclass
class Watch:
    """The live view: one :meth:`step` draws a fresh frame, then waits for a key or a tick."""

    snapshot: Callable[[], StatusSnapshot]
    live: Live
    console: Console
    interval: float = 2.0
    wait: Callable[[float], str] = field(default=lambda timeout: "")
    open_job: Callable[[int], JobView | None] = field(default=lambda job_id: None)
    zone: tuple[str, Any] = ("UTC", None)
    frames: int = 0
    view: ViewState = field(default_factory=ViewState)
    last: StatusSnapshot | None = None
    before: StatusSnapshot | None = None
    job_ids: list[int] = field(default_factory=list)

    def frame(self) -> RenderableType:
        """A frame sized to the console now (it follows terminal resizes)."""
        size = self.console.size
        if self.view.paused and self.last is not None:
            snap = self.last
        else:
            snap, self.before = self.snapshot(), self.last
            self.last = snap
        height = size.height - 1
        if self.view.job is not None:
            return self._job_screen(snap, size.width, height)
        shown = filtered(snap, self.view)
        name, tz = self.zone
        top = header(shown, name, tz, self.view.notes())
        footer = Text(KEYS_HELP, style="reverse", no_wrap=True, overflow="ellipsis")
        built = render_frame(shown, size.width, height, before=self.before,
                             selected=self.view.selected, top=top, footer=footer)
        self.job_ids = built.job_ids
        if self.view.selected is not None and self.view.selected >= len(self.job_ids):
            self.view.selected = len(self.job_ids) - 1 if self.job_ids else None
        return built.body

    def _job_screen(self, snap: StatusSnapshot, width: int, height: int) -> RenderableType:
        job_id = self.view.job
        assert job_id is not None
        found = self.open_job(job_id)
        name, tz = self.zone
        body: RenderableType = (render_job(found, job_id) if found is not None
                                else Text(f"job {job_id} is gone from the store"))
        lines = self.console.render_lines(body, self.console.options.update(
            width=width, height=None), pad=False)
        keep = lines[:max(height - 2, 1)]
        out = Text("\n").join(Text.assemble(*[(seg.text, seg.style or "") for seg in line])
                              for line in keep)
        gap = max(height - 2 - len(keep), 0)
        footer = Text(DETAIL_HELP, style="reverse", no_wrap=True, overflow="ellipsis")
        return Group(header(snap, name, tz, self.view.notes()), out,
                     Text("\n" * gap, end=""), footer)

    def press(self, key: str) -> bool:
        """Apply one key; False once it asks to quit."""
        view = self.view
        if key == "q":
            return False
        if key == "p":
            view.paused = not view.paused
        elif view.job is not None:
            if key in ("esc", "b", "h"):
                view.job = None
        elif key in ("down", "j"):
            if self.job_ids:
                view.selected = 0 if view.selected is None else min(
                    view.selected + 1, len(self.job_ids) - 1)
        elif key in ("up", "k"):
            if self.job_ids:
                view.selected = max((view.selected or 0) - 1, 0)
        elif key == "enter" and view.selected is not None and self.job_ids:
            view.job = self.job_ids[view.selected]
        elif key == "s":
            names = sorted({x.source for x in (self.last.sources if self.last else [])})
            cycle = [None, *names]
            at = cycle.index(view.source) if view.source in cycle else 0
            view.source, view.selected = cycle[(at + 1) % len(cycle)], None
        elif key == "f":
            at = STATUS_FILTERS.index(view.status)
            view.status, view.selected = STATUS_FILTERS[(at + 1) % len(STATUS_FILTERS)], None
        elif key == "esc":
            view.source = view.status = view.selected = None
        return True

    def step(self) -> bool:
        """Redraw, then wait up to ``interval``; False once ``q`` was pressed."""
        self.live.update(self.frame(), refresh=True)
        self.frames += 1
        return all(self.press(key) for key in tokens(self.wait(self.interval)))

    def run(self) -> None:
        """Step until ``q`` or Ctrl-C."""
        try:
            while self.step():
                pass
        except KeyboardInterrupt:
            pass


class TerminalKeys:
    """Keys from a terminal in cbreak mode (no echo, no line buffering); restores it on exit.

    Ctrl-C (SIGINT) reads as ``q``: the handler only writes to a pipe that :meth:`wait` watches,
    so the interrupt never lands in the middle of a redraw (where a KeyboardInterrupt could
    leave Rich's lock held and the terminal in cbreak mode).
    """

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.saved: list[Any] | None = None
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.previous_sigint: Any = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        os.write(self.wakeup_w, b"q")

    def __enter__(self) -> TerminalKeys:
        self.previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        if os.isatty(self.fd):

            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None
        signal.signal(signal.SIGINT, self.previous_sigint)
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)

    def wait(self, timeout: float) -> str:
        """Keys typed within ``timeout`` seconds ('' when none; sleeps when not a terminal)."""
        watched = [self.wakeup_r] if self.saved is None else [self.fd, self.wakeup_r]
        ready, _, _ = select.select(watched, [], [], timeout)
        if self.wakeup_r in ready:
            return "q"
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        return data.decode("utf-8", "replace") if data else "q"  # EOF: the terminal is gone


def watch(snapshot: Callable[[], StatusSnapshot], console: Console, interval: float, *,
          open_job: Callable[[int], JobView | None], zone: tuple[str, Any]) -> int:
    """Run the live dashboard on ``console`` until ``q`` or Ctrl-C; returns frames drawn."""
    with TerminalKeys() as keys, Live(console=console, screen=False, auto_refresh=False,
                                      transient=False, vertical_overflow="crop") as live:
        loop = Watch(snapshot, live, console, interval, keys.wait, open_job, zone)
        loop.run()
    return loop.frames
