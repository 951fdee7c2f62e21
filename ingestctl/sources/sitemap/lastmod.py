"""Normalise sitemap and feed dates: every W3C datetime form plus the broken forms in the wild.

Results are ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or ``YYYY-MM-DD`` when only a date was given.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_tz

_fromiso = datetime.fromisoformat
_CACHE: dict[str, str | None] = {}
_CACHE_MAX = 4096

_W3C = re.compile(
    r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?)?"
)


def normalize_lastmod(text: str) -> str | None:
    """The UTC form of a W3C/ISO 8601 or RFC 822 date, or None for garbage."""
    # Fast path: the two forms that make up nearly every real sitemap. Anything else (a space
    # or a lower-case t, other offsets, fractions) takes the one general path below.
    n = len(text)
    if (n == 25 and text.endswith("+00:00") or n == 20 and text[19] == "Z") \
            and text[10] == "T":
        head = text[:19]
        try:
            _fromiso(head)
        except ValueError:
            return _slow(text)
        return head + "Z"
    cached = _CACHE.get(text)
    if cached is not None or text in _CACHE:
        return cached
    result = _slow(text.strip())
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[text] = result
    return result


def _slow(text: str) -> str | None:
    if not text:
        return None
    match = _W3C.fullmatch(text)
    if match is None:
        return _rfc822(text)
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        day_value = date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    if hour is None:
        return day_value.isoformat()
    try:
        moment = datetime(day_value.year, day_value.month, day_value.day,
                          int(hour), int(minute), int(second or 0), tzinfo=_zone(zone))
    except (ValueError, OverflowError):
        return None
    return _utc(moment)


def _zone(zone: str | None) -> timezone:
    if zone is None or zone in ("Z", "z", "UTC", "GMT"):
        return UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _utc(moment: datetime) -> str | None:
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return None


def _rfc822(text: str) -> str | None:
    parts = parsedate_tz(text)
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0
    try:
        moment = datetime(year, month, day, hour, minute, second,
                          tzinfo=timezone(timedelta(seconds=offset)))
    except (ValueError, OverflowError):
        return None
    return _utc(moment)
