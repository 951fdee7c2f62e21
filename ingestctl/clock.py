"""The only seam to time: ``now()`` and ``sleep()``; tests pass their own :class:`Clock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What ingestctl needs of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current wall-clock time in UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` of real time."""
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it and records the wait."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        """The fake current time."""
        return self.current

    def sleep(self, seconds: float) -> None:
        """Record the wait and move time forward by it."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)


SYSTEM: Clock = SystemClock()


def now() -> datetime:
    """The current time in UTC from the system clock."""
    return SYSTEM.now()


def sleep(seconds: float) -> None:
    """Sleep on the system clock."""
    SYSTEM.sleep(seconds)


def to_iso(moment: datetime | None) -> str | None:
    """Fixed-width ISO 8601 in UTC, so stored times sort as text."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str | None) -> datetime | None:
    """Parse a time written by :func:`to_iso` (or any ISO 8601 form) back to aware UTC."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_out(text: str | None) -> str | None:
    """A stored time as shown to users and in JSON: seconds precision, ``Z`` suffix."""
    moment = from_iso(text)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
