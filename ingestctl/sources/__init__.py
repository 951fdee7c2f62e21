"""Import sources, loaded lazily so read-only commands never import httpx or lxml."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ingestctl.errors import UsageError

if TYPE_CHECKING:
    from ingestctl.jobs.contract import Source


_MODULES = {
    "sitemap": "ingestctl.sources.sitemap.importer",
    "merchant": "ingestctl.sources.google.merchant",
    "search-console": "ingestctl.sources.google.search_console",
}


def get_source(name: str) -> Source:
    """The source called ``name``."""
    module_name = _MODULES.get(name)
    if module_name is None:
        raise UsageError(f"unknown source {name!r}", hint=f"known: {', '.join(_MODULES)}")
    module = importlib.import_module(module_name)
    source: Source = module.SOURCE
    return source
