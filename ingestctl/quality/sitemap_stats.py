"""A streaming accumulator of sitemap quality counters: per URL, or per batch counted in SQL.

The sitemap importer stages its rows in SQLite files and counts most figures there
(:class:`CountedUrls`, one query per batch); :meth:`SitemapStatsAccumulator.add` counts one
URL at a time for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import SplitResult, urlsplit

from ingestctl.quality.summaries import SitemapSummary, keep_example

_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class CountedUrls:
    """Figures of a batch of valid URLs, counted elsewhere (by SQLite over a staging file).

    Lastmods are normalised (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ``), so "later than"
    is a string comparison against :attr:`SitemapStatsAccumulator.future_threshold`.
    """

    urls: int = 0
    dated: int = 0                  # URLs with a parseable lastmod
    future: int = 0                 # of those, lastmod after the future threshold
    earliest: str | None = None
    latest: str | None = None
    future_examples: tuple[str, ...] = ()
    outside_path: int = 0           # on the sitemap's origin, outside its directory
    outside_examples: tuple[str, ...] = ()
    other_origin: tuple[str, ...] = ()  # not spelled like the sitemap's origin: check each


def parse_lastmod(value: str) -> datetime | None:
    """A W3C datetime (YYYY, YYYY-MM, YYYY-MM-DD, with time and zone) in UTC, or None."""
    text = value.strip()
    try:
        if _YEAR.match(text):
            return datetime(int(text), 1, 1, tzinfo=UTC)
        month = _YEAR_MONTH.match(text)
        if month:
            return datetime(int(month[1]), int(month[2]), 1, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # The protocol requires a zone with a time; a missing one is read as UTC, not rejected.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def url_problem(url: str, max_length: int = 2048) -> tuple[str | None, SplitResult | None]:
    """Why ``url`` is not a valid sitemap URL (None when it is), and its parts when parsed."""
    if not url:
        return "empty", None
    if len(url) > max_length:
        return f"longer than {max_length:,} characters", None
    if _BAD_CHARS.search(url):
        return "contains whitespace or control characters", None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "cannot be parsed", None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return "not an absolute http(s) URL", None
    if not parts.hostname:
        return "has no host", None
    del port
    return None, parts


def _origin(parts: SplitResult) -> tuple[str, int | None]:
    return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())


class SitemapStatsAccumulator:
    """Counts what the sitemap rules need while the importer streams URLs.

    ``sitemap_url`` is the file that lists the URLs (pass ``sitemap_url=`` to ``add`` when an
    index spreads them over several files); local files skip the host and path checks.
    """

    def __init__(
        self,
        sitemap_url: str | None = None,
        *,
        now: datetime,
        future_tolerance: timedelta = timedelta(days=1),
        max_url_length: int = 2048,
    ) -> None:
        self.sitemap_url = sitemap_url
        self.max_url_length = max_url_length
        self._future_after = now.astimezone(UTC) + future_tolerance
        self._summary = SitemapSummary()
        self._scopes: dict[str, tuple[tuple[str, int | None], str] | None] = {}
        self._prefixes: dict[str, str] = {}
        self._last_raw: str | None = None
        self._last_parsed: datetime | None = None
        self._first_lastmod: datetime | None = None
        self._all_same = True
        self._robots: list[str] | None = None
        self._listed: set[str] = set()

    def add(self, url: str, lastmod: str | datetime | date | None = None, *,
            sitemap_url: str | None = None) -> None:
        """Count one ``<url>`` entry: its location and, when present, its lastmod."""
        summary = self._summary
        summary.urls += 1
        scope_url = sitemap_url or self.sitemap_url
        if not self._plainly_fine(url, scope_url):
            problem, parts = url_problem(url, self.max_url_length)
            if problem is not None or parts is None:
                summary.invalid_urls += 1
                keep_example(summary.examples, "invalid_url_share", f"{url} ({problem})")
            else:
                self._check_scope(url, parts, scope_url)
        if lastmod is not None and lastmod != "":
            self._add_lastmod(lastmod)

    @property
    def future_threshold(self) -> str:
        """The normalised lastmod after which a date lies in the future."""
        return self._future_after.strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_counted(self, counted: CountedUrls) -> None:
        """Count a batch of valid URLs of this accumulator's sitemap, counted in SQL."""
        summary = self._summary
        summary.urls += counted.urls
        summary.lastmods += counted.dated
        summary.future_lastmod += counted.future
        for value in counted.future_examples:
            keep_example(summary.examples, "future_lastmod_share", value)
        summary.outside_path_urls += counted.outside_path
        for value in counted.outside_examples:
            keep_example(summary.examples, "outside_path_url_share", value)
        if counted.dated and counted.earliest is not None:
            first = parse_lastmod(counted.earliest)
            if self._first_lastmod is None:
                self._first_lastmod = first
            if counted.earliest != counted.latest or first != self._first_lastmod:
                self._all_same = False
        for url in counted.other_origin:
            problem, parts = url_problem(url, self.max_url_length)
            if problem is None and parts is not None:
                self._check_scope(url, parts, self.sitemap_url)

    def add_unreadable_lastmods(self, count: int, examples: Iterable[str] = ()) -> None:
        """Count URL entries whose lastmod is there but is no date."""
        self._summary.lastmods += count
        self._summary.unparseable_lastmod += count
        for value in examples:
            keep_example(self._summary.examples, "unparseable_lastmod_share", value)

    def add_invalid(self, raw: str, reason: str = "invalid") -> None:
        """Count a ``<url>`` entry the parser already rejected (empty ``<loc>``, say)."""
        self._summary.urls += 1
        self._summary.invalid_urls += 1
        keep_example(self._summary.examples, "invalid_url_share", f"{raw} ({reason})")

    def add_child(self, url: str, *, ok: bool) -> None:
        """Count one child sitemap of an index, and whether it was fetched and parsed."""
        self._summary.child_sitemaps += 1
        if not ok:
            self._summary.failed_child_sitemaps += 1
            keep_example(self._summary.examples, "failed_child_sitemap_share", url)

    def add_file_over_limits(self, url: str, reason: str = "") -> None:
        """Count a sitemap file over the protocol limits (URL count or uncompressed size)."""
        self._summary.files_over_limits += 1
        keep_example(self._summary.examples, "files_over_limits",
                     f"{url} ({reason})" if reason else url)

    def add_index_children(self, urls: Sequence[str], index_url: str | None = None) -> None:
        """Record the children an index file lists (called once per index file read)."""
        self._summary.index_children = (self._summary.index_children or 0) + len(urls)
        self._listed.update(urls)
        if index_url is not None:
            self._listed.add(index_url)

    def set_robots_sitemaps(self, urls: Sequence[str]) -> None:
        """Record the sitemaps robots.txt names."""
        self._robots = list(urls)
        self._summary.robots_sitemaps = len(urls)

    def summary(self) -> SitemapSummary:
        """The counters so far (a copy is not made: call it once, at the end)."""
        parsed = self._summary.lastmods - self._summary.unparseable_lastmod
        same = self._all_same and self._first_lastmod is not None and parsed > 0
        self._summary.same_lastmod = self._first_lastmod.isoformat() if same and \
            self._first_lastmod else None
        if self._robots is not None and self._summary.index_children is not None:
            self._summary.robots_unlisted = [u for u in self._robots if u not in self._listed]
        return self._summary

    def _add_lastmod(self, lastmod: str | datetime | date) -> None:
        summary = self._summary
        summary.lastmods += 1
        if isinstance(lastmod, str):
            # Generated sitemaps repeat one value a lot; skip re-parsing it.
            if lastmod == self._last_raw:
                when = self._last_parsed
            else:
                when = parse_lastmod(lastmod)
                self._last_raw, self._last_parsed = lastmod, when
        elif isinstance(lastmod, datetime):
            when = lastmod.replace(tzinfo=UTC) if lastmod.tzinfo is None else \
                lastmod.astimezone(UTC)
        else:
            when = datetime(lastmod.year, lastmod.month, lastmod.day, tzinfo=UTC)
        if when is None:
            summary.unparseable_lastmod += 1
            keep_example(summary.examples, "unparseable_lastmod_share", str(lastmod))
            return
        if when > self._future_after:
            summary.future_lastmod += 1
            keep_example(summary.examples, "future_lastmod_share", when.isoformat())
        if self._first_lastmod is None:
            self._first_lastmod = when
        elif self._all_same and when != self._first_lastmod:
            self._all_same = False

    def _plainly_fine(self, url: str, scope_url: str | None) -> bool:
        """The fast path for the usual URL: under its sitemap's own origin and directory."""
        if scope_url is None:
            return False
        prefix = self._prefixes.get(scope_url)
        if prefix is None:
            prefix = self._prefixes[scope_url] = _prefix(scope_url)
        return bool(prefix) and url.startswith(prefix) and len(url) <= self.max_url_length \
            and not _BAD_CHARS.search(url)

    def _check_scope(self, url: str, parts: SplitResult, sitemap_url: str | None) -> None:
        if sitemap_url is None:
            return
        if sitemap_url not in self._scopes:
            self._scopes[sitemap_url] = _scope(sitemap_url)
        scope = self._scopes[sitemap_url]
        if scope is None:
            return
        origin, directory = scope
        if _origin(parts) != origin:
            self._summary.off_host_urls += 1
            keep_example(self._summary.examples, "off_host_url_share", url)
        elif not (parts.path or "/").startswith(directory):
            self._summary.outside_path_urls += 1
            keep_example(self._summary.examples, "outside_path_url_share", url)


def _scope(sitemap_url: str) -> tuple[tuple[str, int | None], str] | None:
    """The origin and directory a sitemap file may list URLs under; None for local files."""
    problem, parts = url_problem(sitemap_url, max_length=1 << 16)
    if problem is not None or parts is None:
        return None
    directory = (parts.path or "/").rsplit("/", 1)[0] + "/"
    return _origin(parts), directory


def _prefix(sitemap_url: str) -> str:
    """The literal 'scheme://host/dir/' every in-scope URL starts with; '' for local files."""
    prefixes = scope_prefixes(sitemap_url)
    return prefixes[1] if prefixes else ""


def scope_prefixes(sitemap_url: str) -> tuple[str, str] | None:
    """The literal 'scheme://host/' and 'scheme://host/dir/' of a sitemap's origin and
    directory (what URLs in scope start with, spelled alike); None for local files."""
    problem, parts = url_problem(sitemap_url, max_length=1 << 16)
    if problem is not None or parts is None:
        return None
    directory = (parts.path or "/").rsplit("/", 1)[0] + "/"
    return f"{parts.scheme}://{parts.netloc}/", f"{parts.scheme}://{parts.netloc}{directory}"
