"""Checks of a Google import made by ``ingestctl run`` before it creates a job."""

from __future__ import annotations

from collections.abc import Mapping

from ingestctl.config import Config
from ingestctl.models.jobs import JobSpec
from ingestctl.sources.google.options import search_console_options
from ingestctl.sources.google.session import check_credentials


def preflight(config: Config, spec: JobSpec, environ: Mapping[str, str] | None = None) -> None:
    """Raise UsageError (exit 2) for bad options, ConfigError (exit 78) for bad credentials."""
    if spec.source == "search-console":
        search_console_options(spec.options)
    check_credentials(config.google, environ)
