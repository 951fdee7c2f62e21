"""Retry policies: tenacity strategies for each request, and the delays between job attempts.

Request retries are never hand-written loops: :func:`request_retrying` builds a
``tenacity.Retrying`` from :class:`RetryConfig` (stop, retry predicate, full-jitter wait that
honours ``Retry-After``) with an injected ``sleep`` and ``rng`` so tests assert exact waits.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import tenacity

from ingestctl.config import RetryConfig
from ingestctl.errors import ErrorClass, IngestError

#: The classes worth another request right away; the others are settled by the job level.
REQUEST_RETRYABLE = frozenset({ErrorClass.TRANSIENT, ErrorClass.RATE_LIMITED})

Sleep = Callable[[float], None]
Rng = Callable[[], float]
OnRetry = Callable[[int, IngestError, float], None]


def is_request_retryable(exc: BaseException) -> bool:
    """True for an :class:`IngestError` whose class is worth retrying the request."""
    return isinstance(exc, IngestError) and exc.error_class in REQUEST_RETRYABLE


def backoff_delay(cfg: RetryConfig, attempt_number: int, rng: Rng) -> float:
    """Full-jitter wait after failed attempt ``attempt_number`` (1-based)."""
    ceiling = min(cfg.max_delay, cfg.initial_delay * cfg.multiplier ** (attempt_number - 1))
    return rng() * ceiling


def retry_after_of(exc: BaseException | None) -> float | None:
    """The server's requested wait in seconds carried by an error, if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


class _Wait(tenacity.wait.wait_base):
    """Full jitter, or exactly the (capped) ``Retry-After`` when the error carries one."""

    def __init__(self, cfg: RetryConfig, rng: Rng) -> None:
        self.cfg = cfg
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        retry_after = retry_after_of(exc)
        if retry_after is not None:
            return min(retry_after, self.cfg.retry_after_cap)
        return backoff_delay(self.cfg, retry_state.attempt_number, self.rng)


def request_retrying(
    cfg: RetryConfig,
    *,
    sleep: Sleep,
    rng: Rng = random.random,
    on_retry: OnRetry | None = None,
) -> tenacity.Retrying:
    """A tenacity policy for one request: retries transient and rate-limited errors only."""

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        if on_retry is None or retry_state.outcome is None:
            return
        exc = retry_state.outcome.exception()
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        if isinstance(exc, IngestError):
            on_retry(retry_state.attempt_number, exc, wait)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(cfg.attempts),
        retry=tenacity.retry_if_exception(is_request_retryable),
        wait=_Wait(cfg, rng),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
