"""API quota use against limits, read from the store only (``quota``, metrics and health).

Limits are those in effect at the last counted request (config defaults, or the Merchant
quota service's); the day count is the current quota day's, and 0 once that day has reset.
Other clients may share a quota: when the Merchant quota service (``quotas.list``) reported
more use of the ``products.list`` group this quota day than ingestctl counted itself, the
higher figure is the day's use, and ``counted_by`` says whose it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingestctl.clock import from_iso, iso_out, to_iso
from ingestctl.events import Event, EventKind
from ingestctl.store import Store
from ingestctl.store import google as g_store

INGESTCTL = "ingestctl"
QUOTA_SERVICE = "Merchant quota service"
#: The Merchant method whose quota group the products import spends.
PRODUCTS_LIST = "products.list"


def _ratio(used: int, limit: int) -> float | None:
    return used / limit if limit > 0 else None


@dataclass(frozen=True)
class QuotaLine:
    """Use of one API in one scope: this minute and this quota day, with limits and headers."""

    api: str
    scope: str
    minute_used: int
    minute_limit: int
    day_used: int
    day_limit: int
    day_resets_at: str | None
    last_request_at: str | None
    last_status: int | None
    headers: dict[str, Any] | None
    counted_by: str = INGESTCTL
    own_day_used: int | None = None

    @property
    def ratio(self) -> float | None:
        """Share of the quota day used: by the local count against the day limit, else by the
        API's own ``X-RateLimit-*`` headers; None when neither is known."""
        day = _ratio(self.day_used, self.day_limit)
        if day is not None or not self.headers:
            return day
        limit, remaining = self.headers["x_ratelimit_limit"], self.headers["x_ratelimit_remaining"]
        if limit and remaining is not None:
            return (int(limit) - int(remaining)) / int(limit)
        return None

    def to_json(self) -> dict[str, Any]:
        """The line as ``quota --json`` shows it."""
        return {
            "api": self.api, "scope": self.scope, "ratio": self.ratio,
            "minute": {"used": self.minute_used, "limit": self.minute_limit or None,
                       "ratio": _ratio(self.minute_used, self.minute_limit)},
            "day": {"used": self.day_used, "limit": self.day_limit or None,
                    "ratio": _ratio(self.day_used, self.day_limit),
                    "resets_at": iso_out(self.day_resets_at), "counted_by": self.counted_by,
                    "ingestctl_used": self.day_used if self.own_day_used is None
                    else self.own_day_used},
            "last_request_at": iso_out(self.last_request_at), "last_status": self.last_status,
            "rate_limit_headers": self.headers,
        }


def service_usage(store: Store) -> dict[str, tuple[int, str]]:
    """``account:ID`` -> (use of its ``products.list`` group, when) the quota service said."""
    found: dict[str, tuple[int, str]] = {}
    for group in g_store.merchant_groups(store):
        if any(m == PRODUCTS_LIST or m.endswith(("." + PRODUCTS_LIST, "/" + PRODUCTS_LIST))
               for m in group["methods"]):
            found[f"account:{group['account']}"] = (int(group["usage"]), group["fetched_at"])
    return found


def quota_lines(store: Store, now: datetime) -> list[QuotaLine]:
    """Every API and scope that made requests, with its current use."""
    minute = to_iso(now.replace(second=0, microsecond=0)) or ""
    remote = service_usage(store)
    lines = []
    for row in g_store.quota_states(store, minute):
        reset = from_iso(row["day_reset"])
        day_used = int(row["day_used"]) if reset is not None and now < reset else 0
        own, counted_by = day_used, INGESTCTL
        reported = remote.get(row["scope"]) if row["api"] == "merchant" else None
        # Only a figure of the current quota day counts (read since the day started).
        if reported is not None and reset is not None and now < reset and \
                reported[1] >= (row["day_start"] or "") and reported[0] > day_used:
            day_used, counted_by = reported[0], QUOTA_SERVICE
        headers = None
        if row["headers_at"]:
            headers = {"seen_at": iso_out(row["headers_at"]), "retry_after": row["retry_after"],
                       "ratelimit": row["ratelimit"], "ratelimit_policy": row["ratelimit_policy"],
                       "x_ratelimit_limit": row["x_limit"],
                       "x_ratelimit_remaining": row["x_remaining"],
                       "x_ratelimit_reset": row["x_reset"]}
        lines.append(QuotaLine(
            api=row["api"], scope=row["scope"], minute_used=int(row["minute_used"]),
            minute_limit=int(row["minute_limit"] or 0), day_used=day_used,
            day_limit=int(row["day_limit"] or 0), day_resets_at=row["day_reset"],
            last_request_at=row["last_request_at"], last_status=row["last_status"],
            headers=headers, counted_by=counted_by, own_day_used=own))
    return lines


def quota_report(store: Store, now: datetime) -> dict[str, Any]:
    """What ``ingestctl quota --json`` prints."""
    groups = [{**g, "fetched_at": iso_out(g["fetched_at"])}
              for g in g_store.merchant_groups(store)]
    return {"quotas": [line.to_json() for line in quota_lines(store, now)],
            "merchant_quota_groups": groups}


def quota_level_events(store: Store, now: datetime, api: str, warning: float,
                       critical: float) -> list[Event]:
    """A QUOTA_LEVEL event per scope of ``api`` with a known ratio: ok, warning or critical.

    Emitted after every attempt against the API; alerting sends a level once per repeat
    interval and a resolved notice when a scope that fired is back to ok.
    """
    events = []
    for line in quota_lines(store, now):
        ratio = line.ratio
        if line.api != api or ratio is None:
            continue
        level, threshold = ("critical", critical) if ratio >= critical else (
            ("warning", warning) if ratio >= warning else ("ok", warning))
        events.append(Event(EventKind.QUOTA_LEVEL, now, data={
            "api": line.api, "scope": line.scope, "used": line.day_used,
            "limit": line.day_limit, "level": level, "threshold": threshold,
            "resets_at": line.day_resets_at, "ratio": round(ratio, 4),
            "counted_by": line.counted_by}))
    return events
