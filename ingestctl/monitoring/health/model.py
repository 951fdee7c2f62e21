"""Health check results: statuses, Nagios threshold ranges and one check's reading.

Status order, worst last: OK < WARNING < UNKNOWN < CRITICAL (the Monitoring Plugins'
``max_state_alt``): a check that could not run hides a problem, so it outranks a known warning,
but a known critical problem still outranks not knowing.

health+json has only ``pass``, ``warn`` and ``fail``; UNKNOWN maps to ``fail`` because a
component nobody can vouch for is not healthy (a readiness probe should not pass on it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """The state of one check or of the whole service, with Monitoring Plugins exit codes."""

    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    UNKNOWN = "UNKNOWN"

    @property
    def exit_code(self) -> int:
        """The Monitoring Plugins exit code: 0, 1, 2 or 3."""
        return _EXIT[self]

    @property
    def health_json(self) -> str:
        """The health+json status: ``pass``, ``warn`` or ``fail`` (UNKNOWN is ``fail``)."""
        return _HEALTH_JSON[self]

    @property
    def severity(self) -> int:
        """Rank for choosing the worst status: OK 0, WARNING 1, UNKNOWN 2, CRITICAL 3."""
        return _SEVERITY[self]


_EXIT = {Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}
_HEALTH_JSON = {Status.OK: "pass", Status.WARNING: "warn", Status.CRITICAL: "fail",
                Status.UNKNOWN: "fail"}
_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses``; OK when there are none."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


def fmt_number(value: float) -> str:
    """A number as Nagios perfdata wants it: '.' decimal point, no exponent, no trailing zeros."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "U"  # the guidelines' "undetermined" value
    if value == int(value):
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")


def _num(text: str, whole: str) -> float:
    if not _NUMBER.match(text):
        raise ValueError(f"invalid threshold range {whole!r}: expected forms such as "
                         "'10', '10:', '~:10', '10:20' or '@10:20'")
    return float(text)


@dataclass(frozen=True)
class Threshold:
    """A Monitoring Plugins range (``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``).

    A value alerts when it lies outside ``[start, end]``, or inside it when ``inside`` (``@``).
    Endpoints belong to the range, so ``10`` alerts on 10.5 but not on 10.
    """

    start: float = 0.0
    end: float = math.inf
    inside: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Parse the range syntax of the Monitoring Plugins guidelines; ValueError if invalid."""
        raw = text.strip()
        inside = raw.startswith("@")
        body = raw[1:] if inside else raw
        if ":" in body:
            start_text, end_text = body.split(":", 1)
            start = (-math.inf if start_text == "~"
                     else _num(start_text, text) if start_text else 0.0)
            end = _num(end_text, text) if end_text else math.inf
        else:
            start, end = 0.0, _num(body, text)
        if start > end:
            raise ValueError(f"invalid threshold range {text!r}: start is above end")
        return cls(start=start, end=end, inside=inside, text=raw)

    @classmethod
    def below(cls, limit: float) -> Threshold:
        """Alert when the value is below ``limit`` (``limit:``)."""
        return cls.parse(f"{fmt_number(limit)}:")

    @classmethod
    def at_least(cls, limit: float) -> Threshold:
        """Alert when the value is ``limit`` or more (``@limit:``)."""
        return cls.parse(f"@{fmt_number(limit)}:")

    @classmethod
    def above(cls, limit: float) -> Threshold:
        """Alert when the value is above ``limit`` or below zero (``limit``)."""
        return cls.parse(fmt_number(limit))

    def violated(self, value: float) -> bool:
        """True when ``value`` should raise an alert under this range."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def __str__(self) -> str:
        return self.text


def classify(value: float, warn: Threshold | None, crit: Threshold | None) -> Status:
    """CRITICAL when ``crit`` is violated, else WARNING when ``warn`` is, else OK."""
    if crit is not None and crit.violated(value):
        return Status.CRITICAL
    if warn is not None and warn.violated(value):
        return Status.WARNING
    return Status.OK


Observed = float | int | bool | str | None


@dataclass(frozen=True)
class CheckResult:
    """One reading of one check; ``component:measurement`` is its health+json key.

    Several results may share a key and differ by ``component_id`` (one per import, source or
    quota scope). ``warn``/``crit`` are range texts for the perfdata, ``min``/``max`` its bounds.
    """

    component: str
    measurement: str
    status: Status
    observed_value: Observed
    observed_unit: str | None
    output: str
    warn: str | None = None
    crit: str | None = None
    min: float | None = None
    max: float | None = None
    time: datetime | None = None
    component_id: str | None = None

    @property
    def key(self) -> str:
        """The health+json key, e.g. ``jobs:success_rate``."""
        return f"{self.component}:{self.measurement}"

    @property
    def label(self) -> str:
        """The perfdata label: the key, then the component id when there is one."""
        return f"{self.key}:{self.component_id}" if self.component_id else self.key


def overall(results: Iterable[CheckResult]) -> Status:
    """The status of the whole service; UNKNOWN when nothing was checked."""
    listed = list(results)
    if not listed:
        return Status.UNKNOWN
    return worst(r.status for r in listed)
