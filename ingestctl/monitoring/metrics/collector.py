"""Prometheus metrics (docs/reference/metrics.md) from a plain snapshot of the store.

The store is the source of truth: the lead's store layer fills :class:`MetricsSnapshot` with
aggregate queries, and :func:`snapshot_families` turns it into metric families, so short-lived
cron processes lose nothing. Counters must only grow: fill them from rows that are never
deleted (or from summary tables), and ``jobs_total`` with terminal statuses only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingestctl import __version__
from ingestctl.monitoring.metrics.exposition import (
    MetricFamily,
    MetricType,
    labelled,
    render,
    single,
)

# Upper bounds (seconds) of the job duration histogram, +Inf last. The store can count jobs per
# bucket with one GROUP BY on a CASE over these bounds, see DurationHistogram.add_bucket.
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 1800, 3600, math.inf)


def bucket_index(seconds: float) -> int:
    """The index in DURATION_BUCKETS of the smallest bound >= ``seconds``."""
    return next(i for i, bound in enumerate(DURATION_BUCKETS) if seconds <= bound)


@dataclass
class DurationHistogram:
    """Finished-job durations of one source: per-bucket counts (not cumulative) and their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        """Add one duration."""
        self.add_bucket(bucket_index(seconds), 1, seconds)

    def add_bucket(self, index: int, count: int, total: float) -> None:
        """Add one GROUP BY row: ``count`` durations summing to ``total`` in bucket ``index``."""
        self.counts[index] += count
        self.sum += total

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as Prometheus wants them: cumulative, ``+Inf`` last."""
        running, out = 0, []
        for bound, count in zip(DURATION_BUCKETS, self.counts, strict=True):
            running += count
            out.append(("+Inf" if math.isinf(bound) else repr(float(bound)), float(running)))
        return out


@dataclass
class MetricsSnapshot:
    """Aggregates read from the store; each field feeds one metric family."""

    jobs_total: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, status)
    jobs_unfinished: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, status)
    job_durations: dict[str, DurationHistogram] = field(default_factory=dict)  # source
    items_imported_total: dict[str, int] = field(default_factory=dict)  # source
    retries_total: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, class)
    dead_letters: int = 0
    last_success_timestamp: dict[str, float] = field(default_factory=dict)  # import -> unix s
    last_failure_timestamp: dict[str, float] = field(default_factory=dict)  # import -> unix s
    schedule_missed_slots: dict[str, int] = field(default_factory=dict)  # import, in the window
    circuit_breaker_open: dict[str, bool] = field(default_factory=dict)  # key
    api_requests_total: dict[tuple[str, str], int] = field(default_factory=dict)  # (api, code)
    api_quota_used_ratio: dict[tuple[str, str], float] = field(default_factory=dict)
    quality_violations_total: dict[tuple[str, str], int] = field(default_factory=dict)
    alerts_total: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, outcome)
    success_ratio: dict[str, float] = field(default_factory=dict)  # source, over the window
    success_ratio_window: float = 86400.0
    scheduler_heartbeat_timestamp: float | None = None
    schema_version: int | None = None
    # The process serving these metrics: its host name and store backend. Every host of a
    # shared PostgreSQL store reports the same store-wide figures; these tell its series apart.
    host: str | None = None
    backend: str | None = None
    # Jobs processing now, by the host holding their lease (store-wide).
    jobs_running: dict[str, int] = field(default_factory=dict)
    # This process's pool (PostgreSQL): open, idle, max connections and requests waiting.
    database_pool: dict[str, int] = field(default_factory=dict)
    # The scheduler serving /metrics: its host -> 1 while it leads (PostgreSQL elects one).
    scheduler_leader: dict[str, float] = field(default_factory=dict)


def _counter(name: str, doc: str, labels: list[str],
             values: Mapping[Any, float]) -> MetricFamily:
    return labelled(name, MetricType.COUNTER, doc, labels, values)


def _gauge(name: str, doc: str, labels: list[str],
           values: Mapping[Any, float]) -> MetricFamily:
    return labelled(name, MetricType.GAUGE, doc, labels, values)


def snapshot_families(s: MetricsSnapshot) -> Iterator[MetricFamily]:
    """Every metric family of ``s``, with HELP text and sorted label values."""
    yield _counter("ingestctl_jobs_total",
                   "Jobs that reached a terminal status (completed or failed).",
                   ["source", "status"], s.jobs_total)
    yield _gauge("ingestctl_jobs_unfinished",
                 "Jobs not finished yet (pending, processing, retrying) by status.",
                 ["source", "status"], s.jobs_unfinished)
    yield _gauge("ingestctl_jobs_running",
                 "Jobs processing now, by the host holding their lease.",
                 ["host"], s.jobs_running)
    durations = MetricFamily("ingestctl_job_duration_seconds", MetricType.HISTOGRAM,
                             "Wall time of finished jobs from first start to finish.",
                             ("source",))
    for source in sorted(s.job_durations):
        hist = s.job_durations[source]
        buckets = hist.cumulative()
        for le, count in buckets:
            durations.add((source,), count, "_bucket", (("le", le),))
        durations.add((source,), buckets[-1][1], "_count")
        durations.add((source,), hist.sum, "_sum")
    yield durations
    yield _counter("ingestctl_items_imported_total", "Items upserted into the store.",
                   ["source"], s.items_imported_total)
    yield _counter("ingestctl_retries_total",
                   "Failed job attempts that were retried, by error class.",
                   ["source", "error_class"], s.retries_total)
    yield single("ingestctl_dead_letters", "Entries in the dead-letter queue.", s.dead_letters)
    yield _gauge("ingestctl_last_success_timestamp_seconds",
                 "Unix time of the last successful run of each import.",
                 ["import"], s.last_success_timestamp)
    yield _gauge("ingestctl_last_failure_timestamp_seconds",
                 "Unix time of the last failed (dead-lettered) run of each import.",
                 ["import"], s.last_failure_timestamp)
    yield _gauge("ingestctl_circuit_breaker_open",
                 "1 while the circuit breaker of the key is not closed, else 0.",
                 ["key"], {k: float(v) for k, v in s.circuit_breaker_open.items()})
    yield _counter("ingestctl_api_requests_total", "HTTP requests made to remote APIs.",
                   ["api", "code"], s.api_requests_total)
    yield _gauge("ingestctl_api_quota_used_ratio",
                 "Share of the current quota period used, per API and scope.",
                 ["api", "scope"], s.api_quota_used_ratio)
    yield _counter("ingestctl_quality_violations_total", "Data-quality rule violations.",
                   ["rule", "severity"], s.quality_violations_total)
    yield _counter("ingestctl_alerts_total", "Alert deliveries by channel and outcome.",
                   ["channel", "outcome"], s.alerts_total)
    window = f"{s.success_ratio_window / 3600:g}h"
    yield _gauge("ingestctl_job_success_ratio",
                 f"Completed / finished jobs of each source over the last {window}.",
                 ["source"], s.success_ratio)
    yield _gauge("ingestctl_schedule_missed_slots",
                 f"Scheduled runs of each import missed over the last {window}.",
                 ["import"], s.schedule_missed_slots)
    if s.schema_version is not None:
        yield single("ingestctl_database_schema_version", "Migrations the database has applied.",
                     s.schema_version)
    if s.host is not None:
        yield _gauge("ingestctl_info",
                     "The process serving these metrics: its host, store backend and "
                     "ingestctl version; always 1.", ["host", "backend", "version"],
                     {(s.host, s.backend or "", __version__): 1.0})
    if s.database_pool:
        yield _gauge("ingestctl_database_pool_connections",
                     "This process's PostgreSQL pool: open, idle and max connections and "
                     "requests waiting for one.", ["host", "state"],
                     {(s.host or "", k): float(v) for k, v in s.database_pool.items()})
    if s.scheduler_leader:
        yield _gauge("ingestctl_scheduler_leader",
                     "1 while the scheduler serving these metrics leads, 0 on standby.",
                     ["host"], s.scheduler_leader)
    if s.scheduler_heartbeat_timestamp is not None:
        yield single("ingestctl_scheduler_heartbeat_timestamp_seconds",
                     "Unix time of the scheduler daemon's last heartbeat.",
                     s.scheduler_heartbeat_timestamp)


def exposition(snapshot: MetricsSnapshot) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of ``snapshot``."""
    return render(snapshot_families(snapshot))
