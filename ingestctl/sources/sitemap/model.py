"""What the sitemap parser produces: entries, problems, the kind of file and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingestctl.config import SitemapConfig


class SitemapKind(StrEnum):
    """The format a sitemap file turned out to be (sniffed from its content, not its name)."""

    URLSET = "urlset"
    SITEMAPINDEX = "sitemapindex"
    RSS = "rss"
    ATOM = "atom"
    TEXT = "text"
    ROBOTS = "robots"


class ProblemCode(StrEnum):
    """Non-fatal findings; the importer turns them into quality results."""

    INVALID_URL = "invalid_url"
    URL_TOO_LONG = "url_too_long"
    MISSING_LOC = "missing_loc"
    BAD_LASTMOD = "bad_lastmod"
    BAD_PRIORITY = "bad_priority"
    BAD_CHANGEFREQ = "bad_changefreq"
    BAD_NAMESPACE = "bad_namespace"
    OVER_URL_LIMIT = "over_url_limit"
    OVER_SIZE_LIMIT = "over_size_limit"


@dataclass(slots=True)
class Image:
    """One ``image:image`` of a URL."""

    loc: str
    title: str | None = None
    caption: str | None = None


@dataclass(slots=True)
class Video:
    """One ``video:video`` of a URL."""

    title: str | None = None
    content_loc: str | None = None
    player_loc: str | None = None
    thumbnail_loc: str | None = None
    description: str | None = None


@dataclass(slots=True)
class News:
    """The ``news:news`` block of a URL."""

    publication_name: str | None = None
    language: str | None = None
    publication_date: str | None = None
    title: str | None = None


@dataclass(slots=True)
class Alternate:
    """An ``xhtml:link rel="alternate"`` of a URL."""

    hreflang: str | None
    href: str


@dataclass(slots=True)
class UrlEntry:
    """One page listed by a urlset, feed or text sitemap; ``line`` is where it starts."""

    loc: str
    lastmod: str | None = None
    changefreq: str | None = None
    priority: float | None = None
    images: list[Image] = field(default_factory=list)
    videos: list[Video] = field(default_factory=list)
    news: News | None = None
    alternates: list[Alternate] = field(default_factory=list)
    line: int = 0


@dataclass(slots=True)
class ChildSitemap:
    """One ``sitemap`` listed by a sitemap index."""

    loc: str
    lastmod: str | None = None
    line: int = 0


Entry = UrlEntry | ChildSitemap
#: A URL in the common shape, straight from the fast path when lines are not wanted: (loc,
#: lastmod, changefreq, priority, its only image); the columns of the staging table ``urls``.
UrlRow = tuple[str, str | None, str | None, float | None, str | None]
Parsed = Entry | UrlRow


@dataclass(slots=True)
class Problem:
    """A non-fatal finding in a sitemap file, with where it was found."""

    code: ProblemCode
    message: str
    line: int | None = None
    column: int | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class SitemapLimits:
    """Per-file limits; ``on_limit`` says whether going over warns or fails the file."""

    max_urls_per_file: int = 50_000
    max_bytes_per_file: int = 50 * 1000 * 1000
    max_index_entries: int = 50_000
    max_url_length: int = 2048
    on_limit: str = "warn"

    @classmethod
    def from_config(cls, config: SitemapConfig) -> SitemapLimits:
        """The limits of a ``[sitemap]`` config section."""
        return cls(
            max_urls_per_file=config.max_urls_per_file,
            max_bytes_per_file=config.max_bytes_per_file,
            max_index_entries=config.max_index_entries,
            max_url_length=config.max_url_length,
            on_limit=config.on_limit,
        )


class ProblemLog:
    """Problems of one file: the first ``keep`` of each code in full, all of them counted."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.items: list[Problem] = []
        self.counts: dict[ProblemCode, int] = {}

    def add(self, code: ProblemCode, message: str, line: int | None = None,
            column: int | None = None, value: str | None = None) -> None:
        """Record one problem; beyond ``keep`` of a code only the count grows."""
        seen = self.counts.get(code, 0)
        self.counts[code] = seen + 1
        if seen < self.keep:
            self.items.append(Problem(code, message, line, column, value))
