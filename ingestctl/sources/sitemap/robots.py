"""Sitemap discovery from robots.txt."""

from __future__ import annotations

from urllib.parse import urljoin


def sitemaps_from_robots(text: str, base_url: str) -> list[str]:
    """Every ``Sitemap:`` URL of a robots.txt, resolved against ``base_url``, first seen kept."""
    found: dict[str, None] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip().lstrip("\ufeff")
        name, sep, value = line.partition(":")
        if not sep or name.strip().lower() != "sitemap":
            continue
        value = value.strip()
        if value:
            found.setdefault(urljoin(base_url, value), None)
    return list(found)
