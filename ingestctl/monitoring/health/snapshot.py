"""What the health checks read: a plain snapshot of the store, the breakers and the config.

``monitoring/snapshots.py`` fills it; :mod:`.evaluate` runs the checks on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ImportFreshness:
    """One configured import: its freshness window and its last success and failure."""

    name: str
    freshness: float = 0.0  # seconds; 0 means HealthConfig.default_freshness
    last_success: datetime | None = None
    last_failure: datetime | None = None


@dataclass
class SourceJobs:
    """Jobs of one source that finished inside the health window."""

    source: str
    completed: int = 0
    failed: int = 0


@dataclass
class QuotaUse:
    """Use of one API quota (api + account/site scope) as a ratio of its limit."""

    api: str
    scope: str
    ratio: float
    counted_by: str = "ingestctl"


@dataclass
class QualityRun:
    """Data-quality results of the last run of one import."""

    import_name: str
    errors: int = 0
    warnings: int = 0
    job_id: int | None = None


@dataclass
class HealthSnapshot:
    """Everything the checks need, read from the store (and the breaker file) by the lead."""

    database_ok: bool = True
    database_error: str | None = None
    imports: list[ImportFreshness] = field(default_factory=list)
    jobs: list[SourceJobs] = field(default_factory=list)
    dead_letters: int = 0  # dead letters created inside the window
    open_breakers: list[str] = field(default_factory=list)
    expired_leases: int = 0
    quotas: list[QuotaUse] = field(default_factory=list)
    scheduler_expected: bool | None = None  # None means HealthConfig.scheduler_expected
    scheduler_heartbeat: datetime | None = None
    undelivered_alerts: int = 0
    oldest_undelivered_alert: datetime | None = None
    quality: list[QualityRun] = field(default_factory=list)
    alert_channels: list[str] | None = None  # channels besides the log; None: not read
    missed_slots: list[tuple[str, datetime]] = field(default_factory=list)  # in the window
    schedules_configured: bool = False
    database: str = "sqlite"  # the backend: sqlite or postgres
    schema_version: int | None = None
    schema_latest: int | None = None
    pool: dict[str, int] = field(default_factory=dict)  # psycopg-pool's figures (PostgreSQL)
    database_free_bytes: int | None = None  # on the store's filesystem; None: not known
    database_dir: str = ""

    @classmethod
    def unreachable(cls, error: str, free_bytes: int | None = None) -> HealthSnapshot:
        """The snapshot of a store that could not be opened or written."""
        return cls(database_ok=False, database_error=error, database_free_bytes=free_bytes)
