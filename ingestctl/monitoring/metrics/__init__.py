"""Prometheus metrics (docs/reference/metrics.md): families from a store snapshot, textfiles.

Imports nothing heavy: no prometheus_client (see exposition.py), httpx, lxml, APScheduler,
tenacity or source module, so `ingestctl metrics` starts fast.
"""

from ingestctl.monitoring.metrics.collector import (
    DURATION_BUCKETS,
    DurationHistogram,
    MetricsSnapshot,
    bucket_index,
    exposition,
    snapshot_families,
)
from ingestctl.monitoring.metrics.exposition import CONTENT_TYPE
from ingestctl.monitoring.metrics.textfile import write_textfile

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "DurationHistogram",
    "MetricsSnapshot",
    "bucket_index",
    "exposition",
    "snapshot_families",
    "write_textfile",
]
