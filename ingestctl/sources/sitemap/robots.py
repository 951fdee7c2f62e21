"""Sitemap discovery from robots.txt, read the way Google's robots.txt parser reads it.

A key that starts with ``sitemap`` or ``site-map`` (any case) names a sitemap; the key ends at
the first ``:`` (or, on a line without one, at whitespace when the line has exactly two
words); ``#`` starts a comment; lines end at CR, LF or CRLF.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

_LINES = re.compile(r"\r\n|\r|\n")
_KEYS = ("sitemap", "site-map")


def _key_value(line: str) -> tuple[str, str] | None:
    line = line.split("#", 1)[0].strip()
    key, sep, value = line.partition(":")
    if not sep:
        words = line.split()
        if len(words) != 2:
            return None
        key, value = words
    key = key.strip()
    return (key, value.strip()) if key else None


def sitemaps_from_robots(text: str, base_url: str) -> list[str]:
    """Every sitemap URL of a robots.txt, resolved against ``base_url``, first seen kept."""
    found: dict[str, None] = {}
    for raw in _LINES.split(text.lstrip("\ufeff")):
        pair = _key_value(raw)
        if pair is None or not pair[0].lower().startswith(_KEYS) or not pair[1]:
            continue
        found.setdefault(urljoin(base_url, pair[1]), None)
    return list(found)
