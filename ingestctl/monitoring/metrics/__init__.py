"""Prometheus metrics (docs/reference/metrics.md): a collector over a store snapshot, textfiles.

Imports prometheus_client (needed for the exposition) but nothing heavier: no httpx, lxml,
APScheduler, tenacity or source module, so `ingestctl metrics` starts fast.
"""

from ingestctl.monitoring.metrics.collector import (
    DURATION_BUCKETS,
    DurationHistogram,
    MetricsSnapshot,
    SnapshotCollector,
    bucket_index,
    exposition,
)
from ingestctl.monitoring.metrics.textfile import write_textfile

__all__ = [
    "DURATION_BUCKETS",
    "DurationHistogram",
    "MetricsSnapshot",
    "SnapshotCollector",
    "bucket_index",
    "exposition",
    "write_textfile",
]
