"""One attempt's Google plumbing: credentials, the shared retrying fetcher, quota and tokens.

Every Google request goes ``call_json`` -> :meth:`GoogleSession.send` -> the runner's
:class:`~ingestctl.sources.http.HttpFetcher` (tenacity retries that honour ``Retry-After``,
requests and retries counted in the store). Hooks on the fetcher's client pass *every* HTTP
request, retries included, through the :class:`ClientRateLimiter` (which counts it per API and
scope, per minute and per day, in SQLite) and record the rate-limit headers of every response.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ingestctl.clock import Clock, from_iso, to_iso
from ingestctl.config import GoogleConfig
from ingestctl.errors import AuthError, ConfigError, IngestError
from ingestctl.redact import redact_credentials
from ingestctl.resilience.classify import classify_response
from ingestctl.resilience.quota import quota_level_events
from ingestctl.sources.google.auth import (
    EnvTokenProvider,
    ServiceAccountTokenProvider,
    TokenProvider,
    load_service_account,
)
from ingestctl.sources.google.errors import (
    DailyReset,
    google_error,
    parse_rate_limit_headers,
)
from ingestctl.sources.google.limits import ClientRateLimiter, QuotaLimits, scope_key
from ingestctl.sources.google.transport import CallOptions
from ingestctl.sources.http import build_client, read_body
from ingestctl.store import Store
from ingestctl.store import google as g_store

if TYPE_CHECKING:
    from ingestctl.jobs.contract import ImportContext

log = logging.getLogger("ingestctl.google")

#: Largest JSON answer accepted (a full Search Console page is about 10 MB).
MAX_ANSWER_BYTES = 200 * 1000 * 1000
#: Minute buckets older than this are pruned as requests are counted.
MINUTE_HISTORY = timedelta(days=1)


def check_credentials(cfg: GoogleConfig, environ: Mapping[str, str] | None = None
                      ) -> dict[str, Any] | None:
    """Fail with a ConfigError unless usable credentials are configured.

    Returns the service-account key (never shown anywhere) or None for a token variable.
    """
    env = os.environ if environ is None else environ
    if cfg.service_account_file:
        return load_service_account(Path(cfg.service_account_file).expanduser())
    if cfg.access_token_env:
        EnvTokenProvider(cfg.access_token_env, env)
        return None
    raise ConfigError("no Google credentials configured", key="google.service_account_file",
                      hint="set [google] service_account_file to a service-account JSON key "
                           "file, or access_token_env to a variable holding an access token")


class StoreTokenCache:
    """The TokenCache in the store's ``google_tokens`` table (the 0600 database)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def get(self, key: str) -> tuple[str, datetime] | None:
        """The cached token and its expiry, if any."""
        found = g_store.get_token(self.store, key)
        if found is None:
            return None
        expiry = from_iso(found[1])
        return (found[0], expiry) if expiry is not None else None

    def put(self, key: str, token: str, expiry: datetime) -> None:
        """Remember a token until ``expiry``."""
        g_store.put_token(self.store, key, token, to_iso(expiry) or "",
                          to_iso(self.clock.now()) or "")


class StoreQuotaCounter:
    """The QuotaCounter in the store: minute and quota-day buckets per API and scope."""

    def __init__(self, store: Store, limits: QuotaLimits) -> None:
        self.store = store
        self.limits = limits

    def count(self, api: str, scope: str, minute_start: datetime,
              day_start: datetime) -> tuple[int, int]:
        """Requests made since ``minute_start`` and since ``day_start``."""
        return g_store.quota_counts(self.store, api, scope, to_iso(minute_start) or "",
                                    to_iso(day_start) or "")

    def add(self, api: str, scope: str, at: datetime, n: int = 1) -> None:
        """Record ``n`` requests made at ``at``, with the limits in effect."""
        limits = self.limits.for_api(api)
        limit = limits.limit(scope.partition(":")[0])
        bucket = g_store.Bucket(
            minute=to_iso(at.replace(second=0, microsecond=0)) or "",
            day=to_iso(limits.day_start(at)) or "", day_reset=to_iso(limits.day_reset(at)) or "",
            minute_limit=limit.per_minute if limit else 0,
            day_limit=limit.per_day if limit else 0)
        g_store.add_requests(self.store, api, [(scope, bucket)], to_iso(at) or "", n,
                             prune_before=to_iso(at - MINUTE_HISTORY))


class GoogleSession:
    """Credentials, fetcher, limiter and CallOptions for one attempt against one API."""

    def __init__(self, ctx: ImportContext, api: str, scopes: Mapping[str, str],
                 oauth_scopes: Sequence[str], daily_reset: DailyReset,
                 load_quota: timedelta | None = None) -> None:
        cfg = ctx.config.google
        key_info = check_credentials(cfg)
        self.ctx = ctx
        self.api = api
        self.daily_reset = daily_reset
        self.load_quota = load_quota
        self._sent_token = ""
        self.limits = QuotaLimits.from_config(cfg)
        self.counter = StoreQuotaCounter(ctx.store, self.limits)
        self.limiter = ClientRateLimiter(self.counter, self.limits, ctx.clock, ctx.clock.sleep)
        self._last_error: tuple[int, dict[str, str], bytes] | None = None
        self.fetcher = ctx.http(api, body_classifier=self._classify)
        self.client = self.fetcher.client
        self.client.event_hooks["request"].append(self._before_request)
        self.client.event_hooks["response"].append(self._after_response)
        # Token exchanges are not API calls: a plain client, outside the quota hooks.
        self._token_client = build_client(ctx.config.http)
        self.tokens: TokenProvider
        all_scopes = dict(scopes)
        if key_info is not None:
            provider = ServiceAccountTokenProvider(
                cfg.service_account_file, oauth_scopes, cfg.token_uri or None,
                self._token_client, ctx.clock, StoreTokenCache(ctx.store, ctx.clock),
                rng=ctx.rng or random.random)
            self.tokens = provider
            all_scopes.setdefault("user", provider.client_email)
            all_scopes.setdefault("project", cfg.project_id or str(key_info.get("project_id")
                                                                   or ""))
        else:
            self.tokens = EnvTokenProvider(cfg.access_token_env, os.environ)
            all_scopes.setdefault("project", cfg.project_id)
        self.scopes = {k: v for k, v in all_scopes.items() if v}
        self.options = CallOptions(clock=ctx.clock, send=self.send, scopes=self.scopes,
                                   load_quota=load_quota)

    def set_limits(self, limits: QuotaLimits) -> None:
        """Use ``limits`` from now on (e.g. the Merchant quota service's)."""
        self.limits = limits
        self.counter.limits = limits
        self.limiter.limits = limits

    def close(self) -> None:
        """Close the token client and report quota levels (alerts hang off those events)."""
        self._token_client.close()

        health = self.ctx.config.health
        for event in quota_level_events(self.ctx.store, self.ctx.clock.now(), self.api,
                                        health.quota_warning, health.quota_critical):
            self.ctx.events.emit(event)

    def _classify(self, status: int, headers: Mapping[str, str], body: bytes, *, url: str,
                  now: datetime) -> IngestError | None:
        self._last_error = (status, dict(headers), body)
        # A server may echo the request's token back: it never reaches an error message.
        if self._sent_token:
            body = body.replace(self._sent_token.encode(), b"[redacted]")
        error = google_error(status, headers, body, url=url, now=now,
                             daily_reset=self.daily_reset, load_quota=self.load_quota)
        if error is None and not 200 <= status < 300:
            scrubbed = redact_credentials(body.decode("utf-8", "replace")).encode()
            error = classify_response(status, headers, scrubbed, url=url, now=now)
        return error

    def _before_request(self, request: httpx.Request) -> None:
        auth = request.headers.get("authorization", "")
        self._sent_token = auth.partition(" ")[2]
        # Waits for room in every per-minute limit; a spent day budget raises and defers.
        self.limiter.acquire(self.api, self.scopes)

    def _after_response(self, response: httpx.Response) -> None:
        now = self.ctx.clock.now()
        headers = parse_rate_limit_headers(response.headers, now)
        shown = None if headers.empty else asdict(headers)
        g_store.record_response(self.ctx.store, self.api,
                                [scope_key(k, v) for k, v in self.scopes.items()],
                                to_iso(now) or "", response.status_code, shown)

    def send(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        """The CallOptions sender: one call through the retrying fetcher."""
        url = str(request.url)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "accept", "content-type")}
        try:
            fetched = self.fetcher.fetch(
                url, lambda response: read_body(response, url=url, max_bytes=MAX_ANSWER_BYTES),
                method=request.method, headers=headers, content=request.content or None)
        except AuthError as exc:
            # Hand a 401 back to call_json, which refreshes the token once and tries again.
            if exc.status_code == 401 and self._last_error and self._last_error[0] == 401:
                status, raw_headers, body = self._last_error
                return httpx.Response(status, headers=_plain(raw_headers), content=body,
                                      request=request)
            raise
        return httpx.Response(fetched.status_code, headers=_plain(dict(fetched.headers)),
                              content=fetched.value or b"", request=request)


def _plain(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers of an already decoded body: without the encoding and length of the wire."""
    return {k: v for k, v in headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")}
