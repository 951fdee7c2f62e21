"""Redaction of the secrets URLs carry, for every surface a person or another system sees.

A URL loses its user info (``https://bob:pw@host`` -> ``https://host``) and the values of
token-like parameters in its query, fragment and path parameters (``?access_token=REDACTED``).
A parameter is token-like when its name (case-insensitive, ``-`` read as ``_``) starts with
``auth``, contains ``token``, ``secret``, ``passw``, ``signature``, ``credential``, ``apikey``,
``api_key`` or ``access_key``, has ``key``, ``sig``, ``pwd``, ``pass`` or ``session`` as one of
its ``_``/``.``-separated words, or is listed in ``[security] redact_query_params``. The store
keeps the real URL (the job needs it to fetch); everything shown is redacted. See
docs/guide/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "REDACTED"

_SUBSTRINGS = ("token", "secret", "passw", "signature", "credential", "apikey", "api_key",
               "access_key")
_WORDS = frozenset({"key", "sig", "pwd", "pass", "session", "sessionid", "jsessionid"})
_WORD_SPLIT = re.compile(r"[_.\[\]]+")
# ``name=value`` after ``?``, ``&``, ``;`` or ``#``: query, fragment and path parameters, also
# in relative URLs quoted in messages.
_PARAM = re.compile(r"(?<=[?&;#])([^=&;#?\s'\"<>/]+)=([^&;#\s'\"<>]*)")
# Lazy, and stopping before a ``:line:col`` suffix (DataError messages) or closing punctuation.
_URL_IN_TEXT = re.compile(
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+?(?=(?::\d+)*:?[.,;)\]]*(?:[\s'\"<>]|$))"
)

_extra_names: frozenset[str] = frozenset()


# Credentials that appear outside URLs: an Authorization header echoed in an error body, a
# bearer token, a token field of a JSON or form body, a Google access token.
_CREDENTIALS = (
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(\s*[:=]\s*)"
                r"(?:[A-Za-z][\w-]*\s+)?[^\s,;\"']+"), r"\1\2[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"), "Bearer [redacted]"),
    (re.compile(r"(?i)\b(access_token|refresh_token|id_token|assertion|client_secret|key|"
                r"oauth_token)(=|\"\s*:\s*\")[^&\s\"']+"), r"\1\2[redacted]"),
    (re.compile(r"\bya29\.[A-Za-z0-9\-._~+/]+"), "[redacted]"),
)


# Every pattern above needs one of these; most strings shown (names, states, counts) have none.
_MAY_HOLD_SECRET = re.compile(r"[=:]|ya29\.|(?i:bearer)")


def _normal(name: str) -> str:
    return unquote_plus(name).strip().lower().replace("-", "_")


def use_query_params(names: Iterable[str]) -> None:
    """Also redact the parameters named ``names`` (``[security] redact_query_params``)."""
    global _extra_names
    _extra_names = frozenset(_normal(name) for name in names if name.strip())


def is_secret_param(name: str) -> bool:
    """True when a query parameter called ``name`` carries a secret by the rules above."""
    normal = _normal(name)
    if normal in _extra_names or normal.startswith("auth"):
        return True
    if any(part in normal for part in _SUBSTRINGS):
        return True
    return any(word in _WORDS for word in _WORD_SPLIT.split(normal))


def _params(text: str) -> str:
    return _PARAM.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if is_secret_param(m.group(1)) else m.group(0),
        text)


def redact_url(url: str) -> str:
    """``url`` without user info and with the values of token-like parameters redacted."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, _params(parts.path), _params("?" + parts.query)[1:],
                       _params("#" + parts.fragment)[1:]))


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted, token-like parameters of relative URLs, and
    credentials outside URLs (:func:`redact_credentials`)."""
    if not _MAY_HOLD_SECRET.search(text):
        return text
    out: list[str] = []
    last = 0
    for match in _URL_IN_TEXT.finditer(text):
        out += [redact_credentials(_params(text[last:match.start()])), redact_url(match.group(0))]
        last = match.end()
    out.append(redact_credentials(_params(text[last:])))
    return "".join(out)


def redact_credentials(text: str, *known: str) -> str:
    """``text`` without credentials outside URLs (Authorization headers, bearer tokens, token
    fields) or any of the ``known`` secret values, each replaced by ``[redacted]``."""
    for secret in known:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def redact_target(target: str) -> str:
    """A job target as shown: URLs redacted, anything else (a path, an account id) as is."""
    return redact_url(target) if "://" in target else redact_text(target)


def redact_data(value: Any) -> Any:
    """``value`` (JSON-like data) with every string in it passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(k) if isinstance(k, str) else k: redact_data(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
