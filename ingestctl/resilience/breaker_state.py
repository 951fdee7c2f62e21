"""A circuit breaker's state as stored (breakers.json or the breakers table) and its changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ingestctl.clock import from_iso, to_iso

FORMAT_VERSION = 1


class BreakerStatus(StrEnum):
    """The state of one circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class BreakerState:
    """One key's breaker as stored in the file."""

    key: str
    state: BreakerStatus = BreakerStatus.CLOSED
    failures: int = 0
    successes: int = 0
    opened_at: datetime | None = None
    open_until: datetime | None = None
    probe_owner: str | None = None
    probe_until: datetime | None = None
    last_error_class: str | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored (and ``breaker list --json``) shape; times are ISO 8601 UTC."""
        return {
            "key": self.key,
            "state": self.state.value,
            "failures": self.failures,
            "successes": self.successes,
            "opened_at": to_iso(self.opened_at),
            "open_until": to_iso(self.open_until),
            "probe_owner": self.probe_owner,
            "probe_until": to_iso(self.probe_until),
            "last_error_class": self.last_error_class,
            "updated_at": to_iso(self.updated_at),
        }

    @classmethod
    def from_json(cls, key: str, data: Any) -> BreakerState:
        """Parse one stored entry; raises ValueError when it is not a valid breaker."""
        if not isinstance(data, dict):
            raise ValueError(f"entry {key!r} is not an object")
        try:
            state = cls(
                key=key,
                state=BreakerStatus(data.get("state", "closed")),
                failures=_count(data.get("failures", 0)),
                successes=_count(data.get("successes", 0)),
                opened_at=from_iso(data.get("opened_at")),
                open_until=from_iso(data.get("open_until")),
                probe_owner=_text(data.get("probe_owner"), "probe_owner"),
                probe_until=from_iso(data.get("probe_until")),
                last_error_class=_text(data.get("last_error_class"), "last_error_class"),
                updated_at=from_iso(data.get("updated_at")),
            )
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ValueError(f"entry {key!r}: {exc}") from exc
        if state.state is BreakerStatus.OPEN and state.open_until is None:
            raise ValueError(f"entry {key!r} is open without open_until")
        return state


@dataclass(frozen=True)
class BreakerTransition:
    """A breaker changed state; the runner turns it into an event (and the alerts an alert)."""

    key: str
    old: BreakerStatus
    new: BreakerStatus
    at: datetime
    reason: str


@dataclass(frozen=True)
class Admission:
    """A call was let through; ``is_probe`` when it is the one half-open trial call."""

    key: str
    is_probe: bool = False
    transition: BreakerTransition | None = None

    @property
    def allowed(self) -> bool:
        """Always True: a refusal raises :class:`CircuitOpenError` instead."""
        return True


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"bad counter {value!r}")
    return value
