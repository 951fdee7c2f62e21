"""Whole runs of plain ``<url>`` blocks turned into rows by loops that run in C.

The fast path (:mod:`.fastpath`) reads url blocks one regex match at a time, which costs a few
microseconds of Python per URL. A machine-written urlset is mostly runs of blocks in one shape
with values in one form. For such a run, every check the per-URL loop makes can be made once
over the joined values (``str`` methods and one full regex match, in C) and the rows built
by ``zip``. When anything in the run is unusual, :func:`clean_rows` returns None and the
per-URL loop reads the run instead: it reports problems with their line, and gives the same
rows.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from itertools import repeat
from typing import Any

from ingestctl.sources.sitemap.elements import CHANGEFREQS
from ingestctl.sources.sitemap.model import UrlRow
from ingestctl.sources.sitemap.urls import check_url

_CHANGEFREQS = CHANGEFREQS | {""}
_PRIORITIES: dict[str, float | None] = {f"{tenths / 10:.1f}": tenths / 10 for tenths in range(11)}
_PRIORITIES.update({f"{hundredths / 100:.2f}": hundredths / 100 for hundredths in range(101)})
_PRIORITIES.update({"0": 0.0, "1": 1.0})
PRIORITIES = dict(_PRIORITIES)
_PRIORITIES[""] = None
_PRIORITY_KEYS = frozenset(_PRIORITIES)

_DAY = r"\d{4}-\d\d-\d\d"
_TIME = _DAY + r"T\d\d:\d\d:\d\d"


def _run_of(form: str) -> re.Pattern[str]:
    """Matches values of ``form`` joined by single spaces."""
    return re.compile(f"(?:{form} )*{form}")


def _consume(check: Callable[[str], Any], values: list[str]) -> bool:
    try:
        deque(map(check, values), maxlen=0)
    except ValueError:
        return False
    return True


def _utc_offset(joined: str) -> list[str] | None:
    heads = joined.replace("+00:00", "").split(" ")
    return joined.replace("+00:00", "Z").split(" ") if _consume(datetime.fromisoformat,
                                                                   heads) else None


def _utc_z(joined: str) -> list[str] | None:
    heads = joined.replace("Z", "").split(" ")
    return joined.split(" ") if _consume(datetime.fromisoformat, heads) else None


def _day(joined: str) -> list[str] | None:
    values = joined.split(" ")
    return values if _consume(date.fromisoformat, values) else None


#: The lastmod forms read here, with what normalises a run of them (see lastmod.py).
_LASTMODS: list[tuple[re.Pattern[str], Callable[[str], list[str] | None]]] = [
    (_run_of(_TIME + r"\+00:00"), _utc_offset),
    (_run_of(_TIME + "Z"), _utc_z),
    (_run_of(_DAY), _day),
]


def _texts(values: Sequence[str]) -> tuple[list[str], str] | None:
    """The values unescaped (and joined by spaces), or None when one needs stripping or has
    another reference."""
    joined = " ".join(values)
    # With the count of spaces, no value has whitespace in or around it. The other ASCII
    # control characters cannot be there: libxml2 has checked these bytes (XML allows no
    # control character but tab, CR and LF), so for ASCII a few memchr scans replace
    # isprintable(), which costs a table lookup per character.
    if joined.count(" ") != len(values) - 1:
        return None
    if joined.isascii():
        if "\n" in joined or "\t" in joined or "\r" in joined or "\x7f" in joined:
            return None
    elif not joined.isprintable():
        return None
    if "&" in joined:
        if joined.count("&") != joined.count("&amp;"):
            return None
        joined = joined.replace("&amp;", "&")
    return joined.split(" "), joined


def _lastmods(values: Sequence[str]) -> list[str | None] | None:
    joined = " ".join(values)
    if not joined.strip(" "):
        return [None] * len(values)
    for run, normalise in _LASTMODS:
        if run.fullmatch(joined):
            return list(normalise(joined) or ()) or None
    return None


def _prefix_of(loc: str) -> str | None:
    """The ``scheme://host/`` of a URL that passes :func:`check_url` in full."""
    slash = loc.find("/", 8)
    return loc[:slash + 1] if slash > 0 and "@" not in loc[:slash] else None


def clean_rows(groups: list[tuple[str, ...]], span: int, good_prefix: str, max_length: int
               ) -> tuple[list[UrlRow], str] | None:
    """Rows of a run of ``span`` characters of url blocks (their regex groups, the whole block
    first) and the URL prefix known good; None when the run needs the per-URL loop."""
    n = len(groups)
    if not n:
        return None
    blocks, locs, lastmods, changefreqs, priorities, images, more = zip(*groups, strict=True)
    # findall skips what does not match: the blocks must cover the span without a gap.
    if sum(map(len, blocks)) != span or any(more):
        return None
    texts = _texts(locs)
    if texts is None:
        return None
    clean, joined = texts
    if not joined.startswith(good_prefix):
        # The first URL of a file or of another host: checked in full once.
        prefix = _prefix_of(clean[0]) if check_url(clean[0], max_length) is None else None
        if prefix is None:
            return None
        good_prefix = prefix
    if joined.count(" " + good_prefix) != n - 1 or max(map(len, clean)) >= max_length:
        return None
    dates = _lastmods(lastmods)
    if dates is None or not _CHANGEFREQS.issuperset(changefreqs) or \
            not _PRIORITY_KEYS.issuperset(priorities):
        return None
    freqs: Sequence[str | None] = changefreqs if "" not in changefreqs else \
        [f or None for f in changefreqs]
    locations: Iterable[str | None]
    if not any(images):
        locations = repeat(None, n)
    else:
        texts = _texts(images)
        if texts is None:
            return None
        found = texts[0]
        locations = [i or None for i in found] if "" in found else found
    rows: list[UrlRow] = list(zip(clean, dates, freqs, map(_PRIORITIES.__getitem__, priorities),
                                  locations, strict=False))
    return rows, good_prefix
