"""Map every failure of a remote source to an :class:`IngestError` and so to an error class.

Two entry points: :func:`classify_exception` for what the transport or a parser raised, and
:func:`classify_response` for an HTTP status. The error class then decides retry, defer or dead
letter (docs/design.md, error classes); nothing else in ingestctl inspects httpx exceptions or
status codes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Protocol
from xml.etree.ElementTree import ParseError

import httpx
from lxml import etree

from ingestctl.errors import (
    AuthError,
    DataError,
    IngestError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)

#: Bytes of an error body quoted in a message; enough to show an API's error text.
SNIPPET_CHARS = 200


class BodyClassifier(Protocol):
    """Hook that reads an API's error body (e.g. Google's) before the status decides."""

    def __call__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        url: str,
        now: datetime,
    ) -> IngestError | None:
        """Return the error the body describes, or None to let the status decide."""
        ...


def classify_exception(exc: BaseException, *, url: str) -> IngestError:
    """The :class:`IngestError` for an exception raised while fetching or reading ``url``."""
    if isinstance(exc, IngestError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connect timeout",
            httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout",
            httpx.PoolTimeout: "connection pool timeout",
        }.get(type(exc), "timeout")
        return TransientError(f"{kind} fetching {url}", url=url)
    if isinstance(exc, httpx.ConnectError):
        return TransientError(f"cannot connect to {url}: {_reason(exc)}", url=url,
                              hint="check the host name and that the server is up")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
                  | httpx.CloseError):
        return TransientError(f"connection broken fetching {url}: {_reason(exc)}", url=url)
    if isinstance(exc, httpx.TooManyRedirects):
        # A redirect loop does not fix itself within a retry; treat it as a missing resource.
        return NotFoundError(f"too many redirects (a redirect loop?) fetching {url}", url=url,
                             hint="open the URL in a browser and fix the redirect chain")
    if isinstance(exc, httpx.DecodingError | zlib.error | EOFError):
        return TransientError(f"truncated or corrupt compressed body from {url}: "
                              f"{_reason(exc)}", url=url)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return DataError(f"invalid URL ({_reason(exc)})", url=url)
    if isinstance(exc, etree.XMLSyntaxError | ParseError):
        line, column = _position(exc)
        return DataError(f"malformed XML: {_reason(exc)}", url=url, line=line, column=column)
    if isinstance(exc, json.JSONDecodeError):
        return DataError(f"malformed JSON: {exc.msg}", url=url, line=exc.lineno,
                         column=exc.colno)
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"undecodable text: {exc.reason}", url=url)
    if isinstance(exc, httpx.TransportError | OSError):
        return TransientError(f"{name} fetching {url}: {_reason(exc)}", url=url)
    # Unknown failures are retried (once the retries run out they are dead-lettered with
    # their type name), because refusing to retry would turn every surprise into data loss.
    return TransientError(f"unexpected {name} fetching {url}: {_reason(exc)}", url=url)


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str,
    now: datetime,
    body_classifier: BodyClassifier | None = None,
) -> IngestError | None:
    """The error an HTTP ``status`` stands for, or None for 2xx and 304."""
    if 200 <= status < 300 or status == 304:
        return None
    if body_classifier is not None:
        error = body_classifier(status, headers, body, url=url, now=now)
        if error is not None:
            return error
    label = _status_label(status)
    if status == 429:
        retry_after = parse_retry_after(header(headers, "Retry-After"), now=now)
        return RateLimitedError(f"{label} from {url}", retry_after=retry_after, url=url,
                                status_code=status)
    if status == 408 or status >= 500:
        retry_after = parse_retry_after(header(headers, "Retry-After"), now=now)
        return TransientError(f"{label} from {url}", url=url, status_code=status,
                              retry_after=retry_after)
    if status in (401, 403):
        return AuthError(f"{label} from {url}{_snippet(body)}", url=url, status_code=status,
                         hint="check the credentials and the account's permissions")
    if status in (404, 410):
        return NotFoundError(f"{label} for {url}", url=url, status_code=status,
                             hint="check the URL")
    if 400 <= status < 500:
        error = DataError(f"{label}{_snippet(body)}", url=url)
    else:
        error = DataError(f"unexpected {label}", url=url)
    error.status_code = status
    return error


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value, case-insensitively, from any mapping (httpx.Headers or a dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def _status_label(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _snippet(body: bytes) -> str:
    text = " ".join(body[: SNIPPET_CHARS * 4].decode("utf-8", "replace").split())
    if not text:
        return ""
    return ": " + (text[:SNIPPET_CHARS] + "..." if len(text) > SNIPPET_CHARS else text)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _position(exc: BaseException) -> tuple[int | None, int | None]:
    position = getattr(exc, "position", None)
    if isinstance(position, tuple) and len(position) == 2:
        return position[0], position[1]
    lineno = getattr(exc, "lineno", None)
    return (lineno if isinstance(lineno, int) else None), None
