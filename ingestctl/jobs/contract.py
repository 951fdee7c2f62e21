"""The contract between the runner and the sources: what a source gets and what it returns.

The runner builds an :class:`ImportContext` for each attempt and calls :meth:`Source.run`;
the source streams items into the store, reports progress through the context (published with
the lease renewals, and counters written) and returns an :class:`AttemptReport`. Sources
import this module, never the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ingestctl.clock import Clock
from ingestctl.config import Config
from ingestctl.errors import IngestError
from ingestctl.events import EventBus
from ingestctl.interrupt import Cancellation
from ingestctl.models.jobs import Job
from ingestctl.quality.summaries import QualitySummary
from ingestctl.store import Store, counters

if TYPE_CHECKING:
    from ingestctl.jobs.lease import LeaseKeeper
    from ingestctl.jobs.queue import JobQueue
    from ingestctl.resilience.classify import BodyClassifier
    from ingestctl.resilience.retry import Rng
    from ingestctl.sources.http import HttpFetcher
    from ingestctl.sources.inflight import InFlight

log = logging.getLogger("ingestctl.runner")

ProgressCallback = Callable[[Job, dict[str, Any]], None]


@dataclass
class AttemptReport:
    """What a source reports when an attempt ends."""

    items: int = 0
    requests: int = 0
    job_items: int | None = None
    result: dict[str, Any] | None = None
    # Filled while streaming, evaluated by the quality gate after the source returns.
    summaries: list[QualitySummary] = field(default_factory=list)
    duplicate_keys: int = 0
    # When set, the volume rules compare ``volume`` (in this unit) with the previous completed
    # run's instead of items: a Search Console run loads as many days as are new, so it
    # compares rows per day. ``volume`` None then means "nothing comparable this time".
    volume_unit: str | None = None
    volume: float | None = None
    # The source had nothing to import this time (no new final day): zero items is expected.
    nothing_due: bool = False


@dataclass
class ImportContext:
    """What a source gets for one attempt: the job, the config, the store and a progress hook."""

    job: Job
    config: Config
    store: Store
    clock: Clock
    events: EventBus
    queue: JobQueue
    on_progress: ProgressCallback | None = None
    requests: int = 0
    rng: Rng | None = None  # request-retry jitter; tests pass a fixed one
    lease: LeaseKeeper | None = None  # renews the lease; progress goes out with it
    # Set on SIGINT or SIGTERM: sources stop, requests in flight are aborted.
    cancel: Cancellation = field(default_factory=Cancellation)
    inflight: InFlight | None = None  # the deadline and abort of every request
    _last_beat: datetime | None = field(default=None, repr=False)
    _counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=dict, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def progress(self, **state: Any) -> None:
        """Report progress (items, current, files_done, files_total) for other processes.

        The lease is renewed by a :class:`LeaseKeeper` whatever the source does; this hands
        it the progress to publish. Call it from the thread that owns the store connection.
        """
        if self.on_progress is not None:
            self.on_progress(self.job, state)
        if self.lease is not None:
            self.lease.publish(state)
        moment = self.clock.now()
        interval = timedelta(seconds=self.config.jobs.heartbeat)
        if self._last_beat is None or moment - self._last_beat >= interval:
            self._last_beat = moment
            if self.lease is None:
                self.queue.heartbeat(self.job, state)
            self.flush_counts()

    def count_request(self, n: int = 1) -> None:
        """Count HTTP requests made by this attempt."""
        self.requests += n

    def count(self, name: str, labels: dict[str, str], by: float = 1) -> None:
        """Add to a store counter; kept in memory and written with the next heartbeat."""
        key = (name, tuple(sorted(labels.items())))
        self._counts[key] = self._counts.get(key, 0) + by

    def flush_counts(self) -> None:
        """Write the counted increments to the store in one transaction."""
        if not self._counts:
            return
        pending, self._counts = self._counts, {}
        with self.store.write() as conn:
            for (name, labels), value in pending.items():
                counters.increment(conn, name, dict(labels), value)

    def http(self, api: str | None = None, *,
             body_classifier: BodyClassifier | None = None) -> HttpFetcher:
        """An HTTP fetcher with the configured retries that counts requests and retries.

        ``api`` labels ``ingestctl_api_requests_total``; it defaults to the job's source.
        The client is closed when the attempt ends.
        """
        # Start-up weight: httpx and tenacity only when a source asks for HTTP (test_startup.py).
        from ingestctl.sources.http import HttpFetcher, build_client

        client = build_client(self.config.http)
        self._closers.append(client.close)
        label = api or self.job.source

        def on_response(url: str, code: str) -> None:
            self.count_request()
            self.count("api_requests_total", {"api": label, "code": code})

        def on_retry(number: int, error: IngestError, wait: float) -> None:
            cls = error.error_class.value
            log.info("request retry %s in %.2fs: %s", number, wait, error,
                     extra={"job_id": self.job.id, "error_class": cls, "wait": wait})
            self.count("retries_total", {"source": self.job.source, "error_class": cls})

        extra: dict[str, Any] = {} if self.rng is None else {"rng": self.rng}
        return HttpFetcher(client, self.config.retry, clock=self.clock, on_retry=on_retry,
                           on_response=on_response, body_classifier=body_classifier,
                           inflight=self.inflight, cancel=self.cancel,
                           sleep=self.cancel.sleeper(self.clock), **extra)

    def close(self) -> None:
        """Release what the attempt opened and write its counters."""
        for close in self._closers:
            close()
        self._closers.clear()
        self.flush_counts()


class Source(Protocol):
    """An import source: runs one attempt of a job."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """Import everything the job names; raise an IngestError on failure."""
        ...
