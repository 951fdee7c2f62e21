"""Listings that fit the terminal: column priorities, middle cuts, and times that name their zone.

Every ``list`` command builds a :class:`Listing` and prints it with :func:`print_listing`. The
width is the terminal's, or ``COLUMNS`` when output is piped (no limit without it, so ``grep``
sees whole rows). When the rows are too wide, cuttable columns shrink to their minimum first
(names and URLs lose their middle, ``sitemap:https://shop.example.com/…/sitemap-3.xml``;
messages lose their end), then whole columns drop by priority. Columns marked ``cut="never"``
(IDs, states) are never cut. See docs/guide/monitoring.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.text import Text

from ingestctl import clock
from ingestctl.errors import UsageError
from ingestctl.shorten import ELLIPSIS, middle_cut

Cut = Literal["never", "middle", "end"]
Cell = str | Text
GAP = 2  # spaces between columns

TZ_OPTION = typer.Option(None, "--tz", metavar="ZONE",
                         help="Show times in ZONE (IANA name, UTC or local; default: "
                              "[display] tz, else UTC).")


@dataclass
class Column:
    """A column: its header, how it may be cut, and its priority (0 = never dropped)."""

    header: str
    priority: int = 0
    cut: Cut = "end"
    justify: Literal["left", "right"] = "left"
    min_width: int = 10
    want: int = 0  # a comfortable width: less important columns drop before it is cut below
    hide_empty: bool = False  # drop the column when no row has a value


@dataclass
class Listing:
    """Columns and rows (cells may hold several lines) of one table."""

    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)

    def add(self, *cells: Cell | None) -> None:
        """Append a row; None is an empty cell."""
        self.rows.append(["" if c is None else c for c in cells])


def _lines(cell: Cell) -> list[Text]:
    text = cell if isinstance(cell, Text) else Text(cell)
    return list(text.split("\n", allow_blank=True)) if "\n" in text.plain else [text]


def _cut(line: Text, width: int, how: Cut) -> Text:
    plain = line.plain
    if len(plain) <= width or how == "never":
        return line
    if how == "end":
        out = line.copy()
        out.truncate(max(width - 1, 0))
        out.append(ELLIPSIS)
        return out
    cut = middle_cut(plain, width)
    head = cut.index(ELLIPSIS)
    tail = len(cut) - head - 1
    out = line[:head]
    out.append(ELLIPSIS)
    out.append_text(line[len(plain) - tail:])
    return out


def output_width() -> int | None:
    """The width to fit: the terminal's, else ``COLUMNS`` when set, else None (no limit)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return columns if columns > 0 else None


def fit(listing: Listing, width: int | None) -> tuple[list[int], list[int]]:
    """The columns kept (indexes) and their widths for ``width`` columns of text."""
    cols = listing.columns
    natural = [max([len(c.header)] + [len(line.plain) for row in listing.rows
                                      for line in _lines(row[i])]) for i, c in enumerate(cols)]
    kept = [i for i, c in enumerate(cols)
            if not (c.hide_empty and all(not _plain(row[i]) for row in listing.rows))]
    if width is None:
        return kept, [natural[i] for i in kept]

    def least(i: int) -> int:
        c = cols[i]
        return natural[i] if c.cut == "never" else min(natural[i], max(len(c.header),
                                                                       c.min_width))

    def comfortable(i: int) -> int:
        return max(least(i), min(natural[i], cols[i].want))

    while True:
        widths = {i: least(i) for i in kept}
        spare = width - sum(widths.values()) - GAP * (len(kept) - 1)
        droppable = [i for i in kept if cols[i].priority > 0]
        if spare < 0:
            if not droppable:
                break
            kept.remove(max(droppable, key=lambda i: (cols[i].priority, i)))
            continue
        # The spare width goes to the most important columns first: up to a comfortable
        # width, then up to their whole width. A less important column is dropped while a
        # more important one stays below its comfortable width.
        order = sorted(kept, key=lambda i: (cols[i].priority, i))
        for goal in (comfortable, lambda i: natural[i]):
            for i in order:
                given = max(0, min(spare, goal(i) - widths[i]))
                widths[i] += given
                spare -= given
        short = [cols[i].priority for i in kept if widths[i] < comfortable(i)]
        victims = [i for i in droppable if short and cols[i].priority > min(short)]
        if not victims:
            break
        kept.remove(max(victims, key=lambda i: (cols[i].priority, i)))
    return kept, [widths[i] for i in kept]


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def render(listing: Listing, width: int | None) -> list[Text]:
    """The table's lines (header first), fitted to ``width``."""
    kept, widths = fit(listing, width)
    cols = listing.columns
    out = [_join([Text(cols[i].header, style="bold") for i in kept], kept, widths, cols)]
    for row in listing.rows:
        cells = [[_cut(line, w, cols[i].cut) for line in _lines(row[i])]
                 for i, w in zip(kept, widths, strict=True)]
        for n in range(max(len(c) for c in cells) if cells else 0):
            out.append(_join([c[n] if n < len(c) else Text("") for c in cells], kept, widths,
                             cols))
    return out


def _join(cells: Sequence[Text], kept: list[int], widths: list[int],
          cols: list[Column]) -> Text:
    line = Text()
    for k, (cell, i, w) in enumerate(zip(cells, kept, widths, strict=True)):
        pad = " " * max(w - len(cell.plain), 0)
        last = k == len(kept) - 1
        if cols[i].justify == "right":
            line.append(pad)
            line.append_text(cell)
        else:
            line.append_text(cell)
            if not last:
                line.append(pad)
        if not last:
            line.append(" " * GAP)
    line.rstrip()
    return line


def print_listing(listing: Listing, width: int | None = None) -> None:
    """Print the listing to stdout, fitted to :func:`output_width` (or ``width``)."""
    # Start-up weight: the Rich console is built on first print (test_monitoring_cli.py).
    from ingestctl.cli.output import stdout

    for line in render(listing, width if width is not None else output_width()):
        stdout.print(line, soft_wrap=True, highlight=False)


@dataclass(frozen=True)
class Zone:
    """The zone times are shown in, and its name for headers."""

    tz: tzinfo
    name: str

    def header(self, title: str) -> str:
        """``CREATED (UTC)``."""
        return f"{title} ({self.name})"

    def short(self, moment: datetime | str | None) -> str:
        """``03-01 12:00`` in this zone, ``2025-12-31 23:00`` in another year ('' for none)."""
        if isinstance(moment, str):
            moment = clock.from_iso(moment)
        return _short(moment.astimezone(self.tz), "") if moment else ""


def _short(local: datetime, suffix: str) -> str:
    same_year = local.year == clock.now().astimezone(local.tzinfo).year
    return local.strftime(("%m-%d %H:%M" if same_year else "%Y-%m-%d %H:%M") + suffix)


def in_own_zone(moment: datetime) -> str:
    """``03-01 12:00 CET``: a time in the zone it carries, named."""
    return _short(moment, " %Z")


UTC_ZONE = Zone(UTC, "UTC")


def zone(option: str | None, configured: str = "UTC") -> Zone:
    """The zone of ``--tz`` (a usage error when unknown), else of ``[display] tz``."""
    name = option or configured or "UTC"
    try:
        return zone_named(name)
    except ValueError as exc:
        if option:
            raise UsageError(f"--tz {option!r}: {exc}") from None
        raise


def zone_named(name: str) -> Zone:
    """``UTC``, ``local`` (this machine's zone) or an IANA name; ValueError when unknown."""
    if name.upper() == "UTC":
        return UTC_ZONE
    if name == "local":
        local = datetime.now().astimezone().tzinfo or UTC
        return Zone(local, datetime.now(local).strftime("%Z") or "local")

    try:
        return Zone(ZoneInfo(name), name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; expected an IANA name such as Europe/Berlin, "
                         "UTC or local") from None
