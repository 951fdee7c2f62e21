"""Parsing of the human units the config and options use: durations and byte sizes."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$",
                   re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, None: 1}


def parse_duration(value: object) -> float:
    """Seconds from ``"500ms"``, ``"5s"``, ``"10m"``, ``"4h"``, ``"30d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"30s\"")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    raise ValueError("expected a duration such as \"500ms\", \"30s\", \"10m\", \"4h\" or \"30d\"")


def parse_size(value: object) -> int:
    """Bytes from ``"50MB"``, ``"512KiB"`` or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return int(float(match.group(1)) * _SIZE_UNITS[unit])
    raise ValueError("expected a size such as \"50MB\" or a number of bytes")


def duration_text(seconds: float) -> str:
    """A duration as a config file writes it, in its largest whole unit (hours up to 72h, as
    people write ``"24h"``): ``"4h"``, ``"90s"``, ``"500ms"``, ``"30d"``; :func:`parse_duration`
    reads it back to the same number."""
    units = ("h", "m", "s", "ms") if seconds < 72 * 3600 else ("d", "h", "m", "s", "ms")
    for unit in units:
        count = seconds / _DURATION_UNITS[unit]
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"


def format_duration(seconds: float) -> str:
    """A short human form of a duration: ``"1h 5m"``, ``"42s"``, ``"250ms"``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{u}" for n, u in parts if n][:2]
    return " ".join(shown) or "0s"


def format_size(size: int) -> str:
    """A short human form of a byte count in the units ``parse_size`` reads: ``"87.3MB"``."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.1f}{unit}"
    return f"{size}B"
