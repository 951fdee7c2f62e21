"""Cheap URL validation for the hot path: absolute http(s), short enough, no whitespace."""

from __future__ import annotations

from urllib.parse import urlsplit

from ingestctl.sources.sitemap.model import ProblemCode

_SCHEMES = ("http://", "https://")


def check_url(url: str, max_length: int) -> ProblemCode | None:
    """None when ``url`` is an acceptable absolute http(s) URL, else the problem code."""
    if len(url) >= max_length:
        return ProblemCode.URL_TOO_LONG
    if url.startswith("https://"):
        start = 8
    elif url.startswith("http://"):
        start = 7
    elif url[:8].lower().startswith(_SCHEMES):
        start = 7 if url[4] == ":" else 8
    else:
        return ProblemCode.INVALID_URL
    # isprintable() rejects control characters in C; spaces need their own test.
    if " " in url or not url.isprintable():
        return ProblemCode.INVALID_URL
    slash = url.find("/", start)
    host = url[start:slash] if slash >= 0 else url[start:]
    if host.replace(".", "").replace("-", "").isalnum():
        return None
    # Rare forms (ports, IPv6, credentials, query right after the host) get the full parser.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return ProblemCode.INVALID_URL
    return None if parts.hostname else ProblemCode.INVALID_URL
