"""One authenticated JSON call to a Google API: limiter, bearer token, one 401 retry, errors.

``send_request`` is the only place a Google request reaches the network. The lead routes it
through the shared retrying fetcher by passing another ``send`` in :class:`CallOptions`; the
retry of a 401 with a fresh token stays here because only this layer knows the token provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ingestctl.clock import SYSTEM, Clock
from ingestctl.errors import TransientError
from ingestctl.sources.google.auth import TokenProvider
from ingestctl.sources.google.errors import (
    DailyReset,
    RateLimitHeaders,
    google_error,
    next_pacific_midnight,
    parse_rate_limit_headers,
    status_error,
)
from ingestctl.sources.google.limits import ClientRateLimiter

Sender = Callable[[httpx.Client, httpx.Request], httpx.Response]


def send_request(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Put one request on the wire and read its body; network failures are transient."""
    try:
        return client.send(request)
    except httpx.TimeoutException as exc:
        raise TransientError(f"timeout: {type(exc).__name__}", url=str(request.url)) from None
    except httpx.TransportError as exc:
        raise TransientError(f"connection failed: {type(exc).__name__}: {exc}",
                             url=str(request.url)) from None


@dataclass(frozen=True)
class Observation:
    """What one response told about quota: recorded per API and scope by the caller."""

    api: str
    scopes: Mapping[str, str]
    status: int
    headers: RateLimitHeaders
    at: datetime


@dataclass
class CallOptions:
    """The seams of a Google call: time, client-side limiter, sender and quota observer."""

    clock: Clock = SYSTEM
    limiter: ClientRateLimiter | None = None
    send: Sender = send_request
    observe: Callable[[Observation], None] | None = None
    # Scopes beyond the one the call names itself, e.g. {"project": ..., "user": ...}.
    scopes: Mapping[str, str] = field(default_factory=dict)
    # How long a quota error naming no window defers the job (Search Console's load quota).
    load_quota: timedelta | None = None


def call_json(
    client: httpx.Client,
    method: str,
    url: str,
    tokens: TokenProvider,
    *,
    api: str,
    scopes: Mapping[str, str],
    options: CallOptions,
    params: Mapping[str, str | int] | None = None,
    json_body: Any = None,
    daily_reset: DailyReset = next_pacific_midnight,
) -> Any:
    """Send one call and return its decoded JSON, or raise the IngestError it means."""
    all_scopes = {**options.scopes, **scopes}
    for attempt in (1, 2):
        if options.limiter is not None:
            options.limiter.acquire(api, all_scopes)
        token = tokens.token()
        request = client.build_request(
            method, url, params=dict(params) if params else None, json=json_body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        response = options.send(client, request)
        now = options.clock.now()
        if options.observe is not None:
            options.observe(Observation(api, all_scopes, response.status_code,
                                        parse_rate_limit_headers(response.headers, now), now))
        # A token can expire or be revoked mid-import: refresh once, then believe the 401.
        if response.status_code == 401 and attempt == 1:
            tokens.invalidate()
            continue
        shown = str(request.url)
        # A server may echo the token back: it never reaches an error message.
        content = response.content.replace(token.encode(), b"[redacted]")
        error = google_error(response.status_code, response.headers, content,
                             url=shown, now=now, daily_reset=daily_reset,
                             load_quota=options.load_quota)
        if error is None:
            error = status_error(response.status_code, response.headers, url=shown, now=now)
        if error is not None:
            raise error
        return json.loads(response.content)
    raise AssertionError("unreachable")  # pragma: no cover
