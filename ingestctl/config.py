"""Configuration: TOML file, environment overrides and every default, validated in one place.

Precedence: defaults < config file < ``INGESTCTL_<SECTION>__<KEY>`` environment variables.
Every problem is a :class:`~ingestctl.errors.ConfigError` naming the file, the key, what was
found and what is allowed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingestctl import __version__
from ingestctl.errors import ConfigError
from ingestctl.redact import redact_url, use_query_params
from ingestctl.units import duration_text, parse_duration, parse_size

Converter = Callable[[Any], Any]
ENV_PREFIX = "INGESTCTL_"
DB_URL_ENV = "INGESTCTL_DB_URL"  # [store] url, as libpq users spell it in their environment
SOURCES = ("sitemap", "merchant", "search-console")
#: Search Console's ``type`` values (spelled as its reference documents them).
SEARCH_TYPES = ("web", "image", "video", "news", "discover", "googleNews")
#: Search Console dimensions an import may group by, in the order rows are keyed.
SEARCH_CONSOLE_DIMENSIONS = ("date", "query", "page", "country", "device", "searchAppearance")


def _int(minimum: int = 0, maximum: int | None = None) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        if value < minimum or (maximum is not None and value > maximum):
            wanted = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"expected a whole number {wanted}")
        return value
    return convert


def _float(low: float | None = None, high: float | None = None) -> Converter:
    def convert(value: Any) -> float:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ValueError("expected a number")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValueError(f"expected a number from {low} to {high}")
        return number
    return convert


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError("expected true or false")


def _choice(*allowed: str) -> Converter:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return str(value)
    return convert


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return list(value)


def _durations(value: Any) -> list[float]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of durations such as [\"5s\", \"10s\"]")
    return [parse_duration(v) for v in value]


def _dimension_sets(value: Any) -> list[str]:
    # An environment variable separates sets with ";" (each set is "date,query,...").
    if isinstance(value, str):
        value = [part.strip() for part in value.split(";") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of dimension sets such as ["date,query,page", "date"]')
    return list(value)


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


def _opt(conv: Converter, default: Any) -> Any:
    return field(default=default, metadata={"conv": conv})


def _opt_list(conv: Converter, default: list[Any]) -> Any:
    return field(default_factory=lambda: list(default), metadata={"conv": conv})


@dataclass
class RetryConfig:
    """Retries of each HTTP request (tenacity)."""

    attempts: int = _opt(_int(1), 3)
    initial_delay: float = _opt(parse_duration, 1.0)
    max_delay: float = _opt(parse_duration, 30.0)
    multiplier: float = _opt(_float(1.0), 2.0)
    retry_after_cap: float = _opt(parse_duration, 300.0)


@dataclass
class JobsConfig:
    """Retries of whole jobs and their leases."""

    max_attempts: int = _opt(_int(1), 3)
    retry_delays: list[float] = _opt_list(_durations, [5.0, 10.0, 20.0])
    max_inline_wait: float = _opt(parse_duration, 60.0)
    lease: float = _opt(parse_duration, 60.0)
    heartbeat: float = _opt(parse_duration, 10.0)


@dataclass
class BreakerConfig:
    """Circuit breakers, one per source key."""

    failure_threshold: int = _opt(_int(1), 5)
    reset_timeout: float = _opt(parse_duration, 60.0)
    success_threshold: int = _opt(_int(1), 2)
    probe_lease: float = _opt(parse_duration, 120.0)


@dataclass
class HttpConfig:
    """The HTTP client shared by all sources."""

    timeout: float = _opt(parse_duration, 30.0)
    # The whole request, first byte sent to last byte read; 0 turns it off.
    request_deadline: float = _opt(parse_duration, 600.0)
    user_agent: str = _opt(_str, f"ingestctl/{__version__}")
    max_redirects: int = _opt(_int(0), 10)


@dataclass
class SitemapConfig:
    """Limits and behaviour of sitemap imports."""

    max_urls_per_file: int = _opt(_int(1), 50000)
    max_bytes_per_file: int = _opt(parse_size, 50 * 1000 * 1000)
    max_index_entries: int = _opt(_int(1), 50000)
    max_depth: int = _opt(_int(0), 5)
    max_files: int = _opt(_int(1), 1000)
    concurrency: int = _opt(_int(1), 4)
    allow_cross_host: bool = _opt(_bool, False)
    on_limit: str = _opt(_choice("warn", "error"), "warn")
    max_url_length: int = _opt(_int(1), 2048)
    parse_processes: int = _opt(_int(-1), -1)


@dataclass
class EmailConfig:
    """SMTP delivery of alerts: on when ``to`` names a recipient, unless ``enabled = false``."""

    enabled: bool | None = _opt(_bool, None)  # None: on exactly when ``to`` is set
    smtp_host: str = _opt(_str, "localhost")
    smtp_port: int = _opt(_int(1), 25)
    security: str = _opt(_choice("none", "starttls", "tls"), "none")
    username: str = _opt(_str, "")
    password_env: str = _opt(_str, "INGESTCTL_SMTP_PASSWORD")
    timeout: float = _opt(parse_duration, 10.0)
    from_addr: str = _opt(_str, "ingestctl@localhost")
    to: list[str] = _opt_list(_str_list, [])
    ca_file: str = _opt(_str, "")  # extra CA (PEM) trusted for starttls/tls; "" = system store

    @property
    def active(self) -> bool:
        """True when alerts go out by email: ``enabled``, or unset and ``to`` given."""
        return bool(self.to) if self.enabled is None else self.enabled


@dataclass
class WebhookConfig:
    """JSON POST delivery of alerts (Slack-compatible ``text``)."""

    url_env: str = _opt(_str, "INGESTCTL_WEBHOOK_URL")
    timeout: float = _opt(parse_duration, 10.0)


@dataclass
class AlertsConfig:
    """Alert rules and channels."""

    repeat_interval: float = _opt(parse_duration, 4 * 3600.0)
    send_resolved: bool = _opt(_bool, True)
    delivery_alert_after: float = _opt(parse_duration, 3600.0)
    host: str = _opt(_str, "")  # the host name alerts show; "" = this machine's name
    email: EmailConfig = field(default_factory=EmailConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass
class HealthConfig:
    """Thresholds of `ingestctl health`."""

    min_success_rate: float = _opt(_float(0.0, 1.0), 0.9)
    critical_success_rate: float = _opt(_float(0.0, 1.0), 0.5)
    window: float = _opt(parse_duration, 86400.0)
    dead_letters_warning: int = _opt(_int(0), 1)
    dead_letters_critical: int = _opt(_int(0), 10)
    quota_warning: float = _opt(_float(0.0, 1.0), 0.8)
    quota_critical: float = _opt(_float(0.0, 1.0), 0.95)
    default_freshness: float = _opt(parse_duration, 2 * 86400.0)
    scheduler_expected: bool = _opt(_bool, False)
    scheduler_stale: float = _opt(parse_duration, 120.0)
    quality_errors_status: str = _opt(_choice("warning", "critical"), "warning")
    min_free_space: int = _opt(parse_size, 100 * 1000 * 1000)


@dataclass
class SecurityConfig:
    """What ingestctl redacts from everything it shows (docs/guide/security.md)."""

    # Query parameters whose values are secret, besides the built-in token-like names.
    redact_query_params: list[str] = _opt_list(_str_list, [])


@dataclass
class StatusConfig:
    """`ingestctl status`: the live view's refresh and how many rows each list fetches."""

    watch_interval: float = _opt(parse_duration, 2.0)
    limit: int = _opt(_int(1), 50)


def _zone(value: Any) -> str:
    name = _str(value)
    if name.upper() == "UTC" or name == "local":
        return name

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as Europe/Berlin, UTC or local") from None
    return name


@dataclass
class DisplayConfig:
    """How listings show times."""

    tz: str = _opt(_zone, "UTC")


@dataclass
class QualityConfig:
    """Data-quality rules: when a violation fails the import."""

    # "error": an error-severity violation fails the import (exit 1, dead-lettered, critical
    # alert); "never": violations are only recorded and alerted on.
    fail_on: str = _opt(_choice("never", "error"), "error")
    # Rule overrides for every import; validated by ingestctl.quality.check_config.
    rules: dict[str, Any] = field(default_factory=dict, metadata={"conv": dict})


@dataclass
class GoogleConfig:
    """Credentials and endpoints of the Google APIs."""

    service_account_file: str = _opt(_str, "")
    access_token_env: str = _opt(_str, "")
    merchant_base_url: str = _opt(_str, "https://merchantapi.googleapis.com")
    search_console_base_url: str = _opt(_str, "https://searchconsole.googleapis.com")
    token_uri: str = _opt(_str, "")
    project_id: str = _opt(_str, "")
    merchant_page_size: int = _opt(_int(1, 1000), 1000)
    merchant_qpm: int = _opt(_int(0), 60)
    merchant_qpd: int = _opt(_int(0), 0)
    search_console_row_limit: int = _opt(_int(1, 25000), 25000)
    search_console_first_run_days: int = _opt(_int(1, 486), 28)
    search_console_load_quota_wait: float = _opt(parse_duration, 900.0)
    search_console_qpm_site: int = _opt(_int(0), 1200)
    search_console_qpm_user: int = _opt(_int(0), 1200)
    search_console_qpm_project: int = _opt(_int(0), 40000)
    search_console_qpd_project: int = _opt(_int(0), 30_000_000)


@dataclass
class LoggingConfig:
    """The structured log: where it goes and how the file is rotated."""

    level: str = _opt(_choice("debug", "info", "warning", "error"), "info")
    output: str = _opt(_choice("file", "stderr", "both"), "file")
    rotation: str = _opt(_choice("size", "logrotate"), "size")
    max_bytes: int = _opt(parse_size, 10 * 1000 * 1000)
    backups: int = _opt(_int(0), 5)


@dataclass
class RetentionConfig:
    """How long finished history stays in the store (``ingestctl prune``)."""

    enabled: bool = _opt(_bool, True)
    older_than: float = _opt(parse_duration, 90 * 86400.0)
    schedule: str = _opt(_str, "30 3 * * *")


@dataclass
class SentryConfig:
    """Error tracking and cron monitoring in Sentry (the ``ingestctl[sentry]`` extra)."""

    dsn_env: str = _opt(_str, "")
    environment: str = _opt(_str, "")
    crons: bool = _opt(_bool, True)
    max_runtime: float = _opt(parse_duration, 3600.0)


POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq query parameters that carry secrets (the password may also sit in the user info).


def is_postgres_url(url: str) -> bool:
    """True when ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return url.split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in url


def _db_url(value: Any) -> str:
    url = _str(value).strip()
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
    pool_size: int = _opt(_int(1), 10)
    connect_timeout: float = _opt(parse_duration, 10.0)


@dataclass
class SchedulerConfig:
    """The `ingestctl scheduler` daemon."""

    poll_interval: float = _opt(parse_duration, 5.0)
    shutdown_grace: float = _opt(parse_duration, 30.0)
    max_workers: int = _opt(_int(1), 4)
    http: str = _opt(_str, "")
    http_workers: int = _opt(_int(1), 4)
    http_timeout: float = _opt(parse_duration, 10.0)
    http_max_connections: int = _opt(_int(1), 100)


_IMPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ImportConfig:
    """One configured import (an ``[[imports]]`` table)."""

    name: str = _opt(_str, "")
    source: str = _opt(_choice(*SOURCES), "sitemap")
    url: str = _opt(_str, "")
    account: str = _opt(_str, "")
    site: str = _opt(_str, "")
    schedule: str = _opt(_str, "")
    timezone: str = _opt(_str, "UTC")
    jitter: float = _opt(parse_duration, 0.0)
    misfire_grace: float = _opt(parse_duration, 3600.0)
    coalesce: bool = _opt(_bool, True)
    freshness: float = _opt(parse_duration, 0.0)
    ping_url: str = _opt(_str, "")
    search_type: str = _opt(_choice(*SEARCH_TYPES), "web")
    provisional: bool = _opt(_bool, True)
    dimensions: list[str] = _opt_list(_dimension_sets, [])
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


# TOML spells the sender "from", a Python keyword.
_ALIASES = {"from": "from_addr"}
_SECRET_SUFFIXES = ("password", "token", "secret")


def _fill(obj: Any, data: Mapping[str, Any], where: str, path: str | None) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj) if f.name != "path"}
    for raw_key, value in data.items():
        key = _ALIASES.get(raw_key, raw_key)
        name = f"{where}.{raw_key}" if where else raw_key
        spec = fields.get(key)
        if spec is None or key == "imports" and where:
            allowed = ", ".join(sorted(k if k != "from_addr" else "from" for k in fields))
            raise ConfigError(f"unknown key (allowed here: {allowed})", path=path, key=name)
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"expected a table, found {value!r}", path=path, key=name)
            _fill(current, value, name, path)
            continue
        conv: Converter = spec.metadata["conv"]
        try:
            setattr(obj, key, conv(value))
        except (ValueError, TypeError) as exc:
            shown = (redact_url(value) if spec.metadata.get("secret_url")
                     and isinstance(value, str) else value)
            raise ConfigError(f"found {shown!r}: {exc}", path=path, key=name) from None


def _parse_imports(raw: Any, path: str | None) -> list[ImportConfig]:
    if not isinstance(raw, list):
        raise ConfigError("expected [[imports]] tables", path=path, key="imports")
    imports: list[ImportConfig] = []
    for index, table in enumerate(raw):
        where = f"imports[{index}]"
        if not isinstance(table, Mapping):
            raise ConfigError("expected a table", path=path, key=where)
        imp = ImportConfig()
        _fill(imp, table, where, path)
        if not _IMPORT_NAME.match(imp.name):
            raise ConfigError(f"found name {imp.name!r}: expected letters, digits, '.', '_' or "
                              "'-' (at most 64)", path=path, key=f"{where}.name")
        if any(other.name == imp.name for other in imports):
            raise ConfigError(f"duplicate import name {imp.name!r}", path=path,
                              key=f"{where}.name")
        if not imp.target:
            needed = {"sitemap": "url", "merchant": "account", "search-console": "site"}
            raise ConfigError(f"a {imp.source} import needs {needed[imp.source]}", path=path,
                              key=where)
        if imp.dimensions and imp.source != "search-console":
            raise ConfigError("dimensions apply to search-console imports only", path=path,
                              key=f"{where}.dimensions")
        for text in imp.dimensions:
            try:
                parse_dimension_set(text, imp.search_type)
            except ValueError as exc:
                raise ConfigError(str(exc), path=path, key=f"{where}.dimensions") from None
        imports.append(imp)
    return imports


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``INGESTCTL_ALERTS__EMAIL__SMTP_HOST=x`` sets ``[alerts.email] smtp_host = "x"``."""
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        *sections, key = name[len(ENV_PREFIX):].lower().split("__")
        table = overrides
        for section in sections:
            table = table.setdefault(section, {})
        table[key] = value
    return overrides


def find_config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read (docs/reference/config.md); None when there is none (defaults)."""
    env = os.environ if environ is None else environ
    chosen = explicit or env.get("INGESTCTL_CONFIG")
    if chosen:
        return Path(chosen).expanduser()
    xdg = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for candidate in (Path("ingestctl.toml"), xdg / "ingestctl" / "config.toml"):
        try:
            if candidate.is_file():
                return candidate
        except OSError as exc:  # e.g. an unreadable ~/.config/ingestctl
            raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(candidate),
                              hint="make it readable by this user or pass --config PATH"
                              ) from None
    return None


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate the configuration; raise ConfigError on any problem."""
    env = os.environ if environ is None else environ
    config = Config(path=path)
    shown = str(path) if path else None
    if path is not None:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError("file not found", path=shown,
                              hint="pass --config PATH or create ingestctl.toml") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", path=shown) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=shown) from None
        raw_imports = data.pop("imports", [])
        _fill(config, data, "", shown)
        config.imports = _parse_imports(raw_imports, shown)
    overrides = _env_overrides(env)
    overrides.pop("imports", None)
    if env.get(DB_URL_ENV):
        overrides.setdefault("store", {})["url"] = env[DB_URL_ENV]
    _fill(config, overrides, "", f"environment {ENV_PREFIX}*")
    _settle_email(config.alerts.email, shown)
    # Every surface of this process redacts the configured names from here on.
    use_query_params(config.security.redact_query_params)
    return config


def _settle_email(email: EmailConfig, path: str | None) -> None:
    """An ``[alerts.email]`` that names recipients is on unless it says ``enabled = false``."""
    if email.enabled and not email.to:
        raise ConfigError("email alerts are enabled but name no recipient",
                          path=path, key="alerts.email.to",
                          hint='set to = ["ops@example.org"], or enabled = false')
    email.enabled = email.active


def redacted(config: Config, *, durations_as_text: bool = False) -> dict[str, Any]:
    """The effective config as plain data, with anything secret-looking masked; with
    ``durations_as_text``, durations as a config file writes them (``"4h"``, not 14400.0)."""
    def walk(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out: dict[str, Any] = {}
            for f in dataclasses.fields(value):
                if f.name == "path":
                    continue
                key = "from" if f.name == "from_addr" else f.name
                item = getattr(value, f.name)
                secret = key.endswith(_SECRET_SUFFIXES) and not key.endswith("_env")
                if f.metadata.get("secret_url") and item:
                    item = redact_url(item)
                elif durations_as_text and f.metadata.get("conv") is parse_duration:
                    item = duration_text(item)
                elif durations_as_text and f.metadata.get("conv") is _durations:
                    item = [duration_text(v) for v in item]
                out[key] = "***" if secret and item else walk(item)
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and "://" in value:
            return redact_url(value)  # ping_url, sitemap URLs, base URLs
        return value
    result: dict[str, Any] = walk(config)
    return result
