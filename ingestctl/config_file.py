"""Reading the config: TOML file, environment overrides and defaults, validated in one
place (every problem a ConfigError naming file, key, value and what is allowed); and the
redacted form `config show` prints."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingestctl.config import (
    DB_URL_ENV,
    ENV_PREFIX,
    IMPORT_NAME,
    Config,
    EmailConfig,
    ImportConfig,
    parse_dimension_set,
)
from ingestctl.config_values import Converter, to_durations
from ingestctl.errors import ConfigError
from ingestctl.redact import redact_url, use_query_params
from ingestctl.units import duration_text, parse_duration

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
        if not IMPORT_NAME.match(imp.name):
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
                elif durations_as_text and f.metadata.get("conv") is to_durations:
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
