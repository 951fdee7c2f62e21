"""The settings: one dataclass per config section, each key with its default and converter.

Reading them (``config_file.load_config``) takes defaults < config file <
``INGESTCTL_<SECTION>__<KEY>`` environment variables; every problem is a
:class:`~ingestctl.errors.ConfigError` naming the file, the key, what was found and what is
allowed.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestctl import __version__
from ingestctl.config_values import (
    boolean,
    choice,
    number,
    option,
    option_list,
    text,
    text_list,
    time_zone,
    to_durations,
    whole,
)
from ingestctl.units import parse_duration, parse_size

ENV_PREFIX = "INGESTCTL_"
DB_URL_ENV = "INGESTCTL_DB_URL"  # [store] url, as libpq users spell it in their environment
SOURCES = ("sitemap", "merchant", "search-console")
#: Search Console's ``type`` values (spelled as its reference documents them).
SEARCH_TYPES = ("web", "image", "video", "news", "discover", "googleNews")
#: Search Console dimensions an import may group by, in the order rows are keyed.
SEARCH_CONSOLE_DIMENSIONS = ("date", "query", "page", "country", "device", "searchAppearance")


def _dimension_sets(value: Any) -> list[str]:
    # An environment variable separates sets with ";" (each set is "date,query,...").
    return text_list(value, ";", 'a list of dimension sets such as ["date,query,page", "date"]')


def parse_dimension_set(text: str, search_type: str) -> tuple[str, ...]:
    """A Search Console dimension set ("query,page") as dimensions in key order, date first.

    Every set is grouped by date (one request per day). Raises ValueError naming the problem.
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in SEARCH_CONSOLE_DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r} in {text!r} (one of "
                             f"{', '.join(SEARCH_CONSOLE_DIMENSIONS)})")
    if len(set(names)) != len(names):
        raise ValueError(f"a dimension is repeated in {text!r}")
    dims = ("date", *(d for d in SEARCH_CONSOLE_DIMENSIONS[1:] if d in names))
    if "searchAppearance" in dims and len(dims) > 2:
        raise ValueError(f"{text!r}: searchAppearance is grouped alone (with date only); "
                         "Google answers it in a separate query")
    if search_type in ("discover", "googleNews") and "query" in dims:
        raise ValueError(f"{text!r}: {search_type} data has no query dimension")
    return dims


@dataclass
class RetryConfig:
    """Retries of each HTTP request (tenacity)."""

    attempts: int = option(whole(1), 3)
    initial_delay: float = option(parse_duration, 1.0)
    max_delay: float = option(parse_duration, 30.0)
    multiplier: float = option(number(1.0), 2.0)
    retry_after_cap: float = option(parse_duration, 300.0)


@dataclass
class JobsConfig:
    """Retries of whole jobs and their leases."""

    max_attempts: int = option(whole(1), 3)
    retry_delays: list[float] = option_list(to_durations, [5.0, 10.0, 20.0])
    max_inline_wait: float = option(parse_duration, 60.0)
    lease: float = option(parse_duration, 60.0)
    heartbeat: float = option(parse_duration, 10.0)


@dataclass
class BreakerConfig:
    """Circuit breakers, one per source key."""

    failure_threshold: int = option(whole(1), 5)
    reset_timeout: float = option(parse_duration, 60.0)
    success_threshold: int = option(whole(1), 2)
    probe_lease: float = option(parse_duration, 120.0)


@dataclass
class HttpConfig:
    """The HTTP client shared by all sources."""

    timeout: float = option(parse_duration, 30.0)
    # The whole request, first byte sent to last byte read; 0 turns it off.
    request_deadline: float = option(parse_duration, 600.0)
    user_agent: str = option(text, f"ingestctl/{__version__}")
    max_redirects: int = option(whole(0), 10)


@dataclass
class SitemapConfig:
    """Limits and behaviour of sitemap imports."""

    max_urls_per_file: int = option(whole(1), 50000)
    max_bytes_per_file: int = option(parse_size, 50 * 1000 * 1000)
    max_index_entries: int = option(whole(1), 50000)
    max_depth: int = option(whole(0), 5)
    max_files: int = option(whole(1), 1000)
    concurrency: int = option(whole(1), 4)
    allow_cross_host: bool = option(boolean, False)
    on_limit: str = option(choice("warn", "error"), "warn")
    max_url_length: int = option(whole(1), 2048)
    parse_processes: int = option(whole(-1), -1)


@dataclass
class EmailConfig:
    """SMTP delivery of alerts: on when ``to`` names a recipient, unless ``enabled = false``."""

    enabled: bool | None = option(boolean, None)  # None: on exactly when ``to`` is set
    smtp_host: str = option(text, "localhost")
    smtp_port: int = option(whole(1), 25)
    security: str = option(choice("none", "starttls", "tls"), "none")
    username: str = option(text, "")
    password_env: str = option(text, "INGESTCTL_SMTP_PASSWORD")
    timeout: float = option(parse_duration, 10.0)
    from_addr: str = option(text, "ingestctl@localhost")
    to: list[str] = option_list(text_list, [])
    ca_file: str = option(text, "")  # extra CA (PEM) trusted for starttls/tls; "" = system store

    @property
    def active(self) -> bool:
        """True when alerts go out by email: ``enabled``, or unset and ``to`` given."""
        return bool(self.to) if self.enabled is None else self.enabled


@dataclass
class WebhookConfig:
    """JSON POST delivery of alerts (Slack-compatible ``text``)."""

    url_env: str = option(text, "INGESTCTL_WEBHOOK_URL")
    timeout: float = option(parse_duration, 10.0)


@dataclass
class AlertsConfig:
    """Alert rules and channels."""

    repeat_interval: float = option(parse_duration, 4 * 3600.0)
    send_resolved: bool = option(boolean, True)
    delivery_alert_after: float = option(parse_duration, 3600.0)
    host: str = option(text, "")  # the host name alerts show; "" = this machine's name
    email: EmailConfig = field(default_factory=EmailConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass
class HealthConfig:
    """Thresholds of `ingestctl health`."""

    min_success_rate: float = option(number(0.0, 1.0), 0.9)
    critical_success_rate: float = option(number(0.0, 1.0), 0.5)
    window: float = option(parse_duration, 86400.0)
    dead_letters_warning: int = option(whole(0), 1)
    dead_letters_critical: int = option(whole(0), 10)
    quota_warning: float = option(number(0.0, 1.0), 0.8)
    quota_critical: float = option(number(0.0, 1.0), 0.95)
    default_freshness: float = option(parse_duration, 2 * 86400.0)
    scheduler_expected: bool = option(boolean, False)
    scheduler_stale: float = option(parse_duration, 120.0)
    quality_errors_status: str = option(choice("warning", "critical"), "warning")
    min_free_space: int = option(parse_size, 100 * 1000 * 1000)


@dataclass
class SecurityConfig:
    """What ingestctl redacts from everything it shows (docs/guide/security.md)."""

    # Query parameters whose values are secret, besides the built-in token-like names.
    redact_query_params: list[str] = option_list(text_list, [])


@dataclass
class StatusConfig:
    """`ingestctl status`: the live view's refresh and how many rows each list fetches."""

    watch_interval: float = option(parse_duration, 2.0)
    limit: int = option(whole(1), 50)


@dataclass
class DisplayConfig:
    """How listings show times."""

    tz: str = option(time_zone, "UTC")


@dataclass
class QualityConfig:
    """Data-quality rules: when a violation fails the import."""

    # "error": an error-severity violation fails the import (exit 1, dead-lettered, critical
    # alert); "never": violations are only recorded and alerted on.
    fail_on: str = option(choice("never", "error"), "error")
    # Rule overrides for every import; validated by ingestctl.quality.check_config.
    rules: dict[str, Any] = field(default_factory=dict, metadata={"conv": dict})


@dataclass
class GoogleConfig:
    """Credentials and endpoints of the Google APIs."""

    service_account_file: str = option(text, "")
    access_token_env: str = option(text, "")
    merchant_base_url: str = option(text, "https://merchantapi.googleapis.com")
    search_console_base_url: str = option(text, "https://searchconsole.googleapis.com")
    token_uri: str = option(text, "")
    project_id: str = option(text, "")
    merchant_page_size: int = option(whole(1, 1000), 1000)
    merchant_qpm: int = option(whole(0), 60)
    merchant_qpd: int = option(whole(0), 0)
    search_console_row_limit: int = option(whole(1, 25000), 25000)
    search_console_first_run_days: int = option(whole(1, 486), 28)
    search_console_load_quota_wait: float = option(parse_duration, 900.0)
    search_console_qpm_site: int = option(whole(0), 1200)
    search_console_qpm_user: int = option(whole(0), 1200)
    search_console_qpm_project: int = option(whole(0), 40000)
    search_console_qpd_project: int = option(whole(0), 30_000_000)


@dataclass
class LoggingConfig:
    """The structured log: where it goes and how the file is rotated."""

    level: str = option(choice("debug", "info", "warning", "error"), "info")
    output: str = option(choice("file", "stderr", "both"), "file")
    rotation: str = option(choice("size", "logrotate"), "size")
    max_bytes: int = option(parse_size, 10 * 1000 * 1000)
    backups: int = option(whole(0), 5)


@dataclass
class RetentionConfig:
    """How long finished history stays in the store (``ingestctl prune``)."""

    enabled: bool = option(boolean, True)
    older_than: float = option(parse_duration, 90 * 86400.0)
    schedule: str = option(text, "30 3 * * *")


@dataclass
class SentryConfig:
    """Error tracking and cron monitoring in Sentry (the ``ingestctl[sentry]`` extra)."""

    dsn_env: str = option(text, "")
    environment: str = option(text, "")
    crons: bool = option(boolean, True)
    max_runtime: float = option(parse_duration, 3600.0)


POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq query parameters that carry secrets (the password may also sit in the user info).


def is_postgres_url(url: str) -> bool:
    """True when ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return url.split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in url


def _db_url(value: Any) -> str:
    url = text(value).strip()
    if not url:
        return ""
    if not is_postgres_url(url):
        raise ValueError("expected a postgresql://user@host:5432/dbname URL, or \"\" for "
                         "SQLite in the home directory")
    if importlib.util.find_spec("psycopg") is None or (
            importlib.util.find_spec("psycopg_pool") is None):
        raise ValueError("PostgreSQL needs psycopg and psycopg-pool: "
                         "pip install 'ingestctl[postgres]'")
    return url


@dataclass
class StoreConfig:
    """Where the jobs, the queue and the imported data live (docs/guide/scale-out.md)."""

    # "" = SQLite in the home directory; a postgresql:// URL shares one queue between hosts.
    url: str = field(default="", metadata={"conv": _db_url, "secret_url": True})
    pool_size: int = option(whole(1), 10)
    connect_timeout: float = option(parse_duration, 10.0)


@dataclass
class SchedulerConfig:
    """The `ingestctl scheduler` daemon."""

    poll_interval: float = option(parse_duration, 5.0)
    shutdown_grace: float = option(parse_duration, 30.0)
    max_workers: int = option(whole(1), 4)
    http: str = option(text, "")
    http_workers: int = option(whole(1), 4)
    http_timeout: float = option(parse_duration, 10.0)
    http_max_connections: int = option(whole(1), 100)


#: What a configured import's name may look like (it names log lines, files and units).
IMPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ImportConfig:
    """One configured import (an ``[[imports]]`` table)."""

    name: str = option(text, "")
    source: str = option(choice(*SOURCES), "sitemap")
    url: str = option(text, "")
    account: str = option(text, "")
    site: str = option(text, "")
    schedule: str = option(text, "")
    timezone: str = option(text, "UTC")
    jitter: float = option(parse_duration, 0.0)
    misfire_grace: float = option(parse_duration, 3600.0)
    coalesce: bool = option(boolean, True)
    freshness: float = option(parse_duration, 0.0)
    ping_url: str = option(text, "")
    search_type: str = option(choice(*SEARCH_TYPES), "web")
    provisional: bool = option(boolean, True)
    dimensions: list[str] = option_list(_dimension_sets, [])
    quality: dict[str, Any] = field(default_factory=dict, metadata={"conv": dict})

    @property
    def target(self) -> str:
        """The URL, account or site this import reads."""
        return {"sitemap": self.url, "merchant": self.account,
                "search-console": self.site}[self.source]


@dataclass
class Config:
    """The whole effective configuration."""

    retry: RetryConfig = field(default_factory=RetryConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    sitemap: SitemapConfig = field(default_factory=SitemapConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    google: GoogleConfig = field(default_factory=GoogleConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    sentry: SentryConfig = field(default_factory=SentryConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    imports: list[ImportConfig] = field(default_factory=list)
    path: Path | None = None

    def import_named(self, name: str) -> ImportConfig | None:
        """The configured import called ``name``, if any."""
        return next((imp for imp in self.imports if imp.name == name), None)


