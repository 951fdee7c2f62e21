"""Turning what the user asked for (a source and target, or a configured name) into a JobSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingestctl.config import SOURCES, Config, ImportConfig
from ingestctl.errors import UsageError
from ingestctl.models.jobs import JobSpec


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
    return spec_for_config(configured)
