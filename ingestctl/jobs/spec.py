"""Turning what the user asked for (a source and target, or a configured name) into a JobSpec."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingestctl.config import SOURCES, Config, ImportConfig
from ingestctl.errors import UsageError
from ingestctl.models.jobs import JobSpec

# The options of `run` each source takes; anything else given is a usage error, never ignored.
SOURCE_OPTIONS: dict[str, tuple[str, ...]] = {
    "sitemap": (),
    "merchant": ("account",),
    "search-console": ("site", "start_date", "end_date", "provisional", "search_type",
                       "dimensions"),
}
# A configured import has its target and name in the config; a date range may still be asked.
CONFIGURED_OPTIONS: dict[str, tuple[str, ...]] = {
    "sitemap": (), "merchant": (), "search-console": ("start_date", "end_date", "provisional"),
}


def flag(option: str) -> str:
    """The command-line spelling of an option key: start_date -> --start-date."""
    return "--" + option.replace("_", "-")


def check_source(name: str, option: str = "--source") -> str:
    """``name`` when it is a source; else a usage error with a suggestion."""
    if name in SOURCES:
        return name
    close = difflib.get_close_matches(name, SOURCES, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UsageError(f"{option} {name!r} is not a source",
                     hint=f"{hint}sources: {', '.join(SOURCES)}")


def _reject_foreign(options: dict[str, object], allowed: tuple[str, ...], what: str) -> None:
    foreign = [key for key in options if key not in allowed]
    if not foreign:
        return
    flags = ", ".join(flag(key) for key in foreign)
    owners = [f"{', '.join(flag(k) for k in foreign if k in keys)} "
              f"{'goes' if sum(k in keys for k in foreign) == 1 else 'go'} with `run {src}`"
              for src, keys in SOURCE_OPTIONS.items() if any(k in keys for k in foreign)]
    verb = "does" if len(foreign) == 1 else "do"
    raise UsageError(f"{flags} {verb} not apply to `run {what}`",
                     hint="; ".join(owners) or None)


def sitemap_target(text: str) -> str:
    """An http(s) URL as given, or a local path made absolute; rejects anything else."""
    parts = urlsplit(text)
    if parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise UsageError(f"not a valid URL: {text!r}")
        return text
    if parts.scheme and len(parts.scheme) > 1 and parts.scheme != "file":
        raise UsageError(f"unsupported URL scheme {parts.scheme!r} in {text!r}",
                         hint="use http://, https:// or a local file path")
    path = Path(parts.path if parts.scheme == "file" else text).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"sitemap file not found: {path}")
    return str(path)


def spec_for_config(imp: ImportConfig) -> JobSpec:
    """The job spec of a configured import."""
    options: dict[str, Any] = {}
    if imp.source == "search-console":
        options = {"search_type": imp.search_type, "provisional": imp.provisional}
        if imp.dimensions:
            options["dimensions"] = list(imp.dimensions)
    return JobSpec(imp.source, imp.target, imp.name, options)


def resolve_spec(config: Config, what: str, target: str | None, *, name: str | None = None,
                 options: dict[str, Any] | None = None) -> JobSpec:
    """The spec of ``run sitemap URL``, ``run merchant``, ``run search-console``, ``run NAME``."""
    options = {k: v for k, v in (options or {}).items() if v not in (None, False)}
    if what in SOURCE_OPTIONS:
        _reject_foreign(options, SOURCE_OPTIONS[what], what)
    if what == "sitemap":
        if not target:
            raise UsageError("run sitemap needs a URL or a file path",
                             hint="e.g. `ingestctl run sitemap https://example.com/sitemap.xml`")
        return JobSpec("sitemap", sitemap_target(target), name or "", {})
    if what == "merchant":
        account = options.pop("account", None) or target
        if not account:
            raise UsageError("run merchant needs --account ID")
        return JobSpec("merchant", str(account), name or "", options)
    if what == "search-console":
        site = options.pop("site", None) or target
        if not site:
            raise UsageError("run search-console needs --site SITE",
                             hint="e.g. --site sc-domain:example.com")
        return JobSpec("search-console", str(site), name or "", options)
    configured = config.import_named(what)
    if configured is None:
        known = ", ".join(imp.name for imp in config.imports) or "none configured"
        raise UsageError(f"unknown source or import {what!r}",
                         hint=f"sources: {', '.join(SOURCES)}; imports: {known}")
    if target:
        raise UsageError(f"import {what!r} is configured; it takes no target argument")
    if name:
        raise UsageError(f"import {what!r} is configured; --name applies to ad-hoc runs only")
    _reject_foreign(options, CONFIGURED_OPTIONS[configured.source], what)
    spec = spec_for_config(configured)
    if options:  # a date range asked of a configured Search Console import
        return JobSpec(spec.source, spec.target, spec.name, {**spec.options, **options})
    return spec
