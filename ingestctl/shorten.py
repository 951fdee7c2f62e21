"""Shortening text to a width: names and URLs lose their middle, messages their end."""

from __future__ import annotations

ELLIPSIS = "…"


def middle_cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters, its middle replaced by ``…``.

    Paths and URLs keep their host and their last segment whole when they can:
    ``sitemap:https://shop.example.com/…/sitemap-3.xml``.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    budget = width - 1
    slashes = [i for i, ch in enumerate(text) if ch == "/"]
    scheme = text.find("://")
    start = text.find("/", scheme + 3) if scheme >= 0 else -1
    best: tuple[int, int, int] | None = None  # (kept, tail length, head end)
    for i in slashes:  # tails start at a slash; heads end just after one, at the host or later
        tail = len(text) - i
        for j in reversed(slashes):
            head = j + 1
            if j >= i or head + tail > budget or (start >= 0 and j < start):
                continue
            if best is None or (head + tail, tail) > best[:2]:
                best = (head + tail, tail, head)
            break
    if best is not None and best[0] * 2 >= budget:
        _, tail, head = best
        return text[:head] + ELLIPSIS + text[len(text) - tail:]
    # Else keep the last segment whole when it leaves room for a head; else cut mid-word.
    # The end of a name tells jobs apart, so it gets the odd character.
    tails = [len(text) - i for i in slashes if len(text) - i <= budget * 0.6]
    tail = max(tails) if tails else (budget + 1) // 2
    head = budget - tail
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def end_cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters, ending in ``…`` when cut."""
    if len(text) <= width:
        return text
    return text[:max(width - 1, 0)] + ELLIPSIS if width > 0 else ""
