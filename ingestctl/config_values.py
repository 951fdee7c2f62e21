"""How one config value is read and checked: the converters that settings keys name.

Each converter takes what the TOML file or an environment variable gave and returns the
value, or raises ValueError saying what was expected (``config_file`` adds the file and key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingestctl.units import parse_duration

Converter = Callable[[Any], Any]


def whole(minimum: int = 0, maximum: int | None = None) -> Converter:
    """A converter to a whole number from ``minimum`` to ``maximum``."""
    def convert(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        if value < minimum or (maximum is not None and value > maximum):
            wanted = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"expected a whole number {wanted}")
        return value
    return convert


def number(low: float | None = None, high: float | None = None) -> Converter:
    """A converter to a number from ``low`` to ``high``."""
    def convert(value: Any) -> float:
        try:
            found = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            found = None
        if found is None:
            raise ValueError("expected a number")
        if (low is not None and found < low) or (high is not None and found > high):
            raise ValueError(f"expected a number from {low} to {high}")
        return found
    return convert


def text(value: Any) -> str:
    """A string, as is."""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def boolean(value: Any) -> bool:
    """true/false, also as the strings an environment variable holds (1/0, yes/no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError("expected true or false")


def choice(*allowed: str) -> Converter:
    """A converter to one of ``allowed``."""
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return str(value)
    return convert


def text_list(value: Any, separator: str = ",", expected: str = "a list of strings"
              ) -> list[str]:
    """A list of strings (an environment variable separates them with ``separator``)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(separator) if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected {expected}")
    return list(value)


def to_durations(value: Any) -> list[float]:
    """A list of durations (``["5s", "10s"]``) as seconds."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of durations such as [\"5s\", \"10s\"]")
    return [parse_duration(v) for v in value]


def option(conv: Converter, default: Any) -> Any:
    """A settings field: its default and the converter of its values."""
    return field(default=default, metadata={"conv": conv})


def option_list(conv: Converter, default: list[Any]) -> Any:
    """A list-valued settings field: its default (copied) and its converter."""
    return field(default_factory=lambda: list(default), metadata={"conv": conv})


def time_zone(value: Any) -> str:
    """An IANA zone name, ``UTC`` or ``local``."""
    name = text(value)
    if name.upper() == "UTC" or name == "local":
        return name

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Europe/Berlin, UTC or local") from None
    return name
