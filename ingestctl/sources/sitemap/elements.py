"""Turn one completed XML element (url, sitemap, item, entry) into an entry.

This is the hot path of a sitemap import: tags are compared against prebuilt strings, values
are read once, and the slow local-name fallback only runs for unexpected namespaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

from ingestctl.sources.sitemap.lastmod import normalize_lastmod
from ingestctl.sources.sitemap.model import (
    Alternate,
    ChildSitemap,
    Entry,
    Image,
    News,
    ProblemCode,
    ProblemLog,
    UrlEntry,
    Video,
)
from ingestctl.sources.sitemap.urls import check_url

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"
VIDEO_NS = "http://www.google.com/schemas/sitemap-video/1.1"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"
ATOM_NS = "http://www.w3.org/2005/Atom"
CHANGEFREQS = frozenset({"always", "hourly", "daily", "weekly", "monthly", "yearly", "never"})

IMAGE = f"{{{IMAGE_NS}}}image"
IMAGE_LOC = f"{{{IMAGE_NS}}}loc"
IMAGE_TITLE = f"{{{IMAGE_NS}}}title"
IMAGE_CAPTION = f"{{{IMAGE_NS}}}caption"
VIDEO = f"{{{VIDEO_NS}}}video"
NEWS = f"{{{NEWS_NS}}}news"
XHTML_LINK = f"{{{XHTML_NS}}}link"
ATOM_LINK = f"{{{ATOM_NS}}}link"
ATOM_UPDATED = f"{{{ATOM_NS}}}updated"
ATOM_PUBLISHED = f"{{{ATOM_NS}}}published"

Element = Any  # lxml's _Element; typed loosely so the hot path stays free of casts
Handler = Callable[[Element], Entry | None]


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag[tag.rfind("}") + 1:]


def _text(element: Element) -> str | None:
    text = element.text
    if text is None:
        return None
    text = text.strip()
    return text or None


class ElementReader:
    """Builds entries from completed elements of one file, recording soft problems."""

    def __init__(self, namespace: str | None, max_url_length: int, log: ProblemLog) -> None:
        prefix = f"{{{namespace}}}" if namespace else ""
        self.loc_tag = prefix + "loc"
        self.lastmod_tag = prefix + "lastmod"
        self.changefreq_tag = prefix + "changefreq"
        self.priority_tag = prefix + "priority"
        self.max_url_length = max_url_length
        self.log = log
        # Added to lxml's line numbers when the parser starts mid-file (see fastpath).
        self.line_offset = 0
        #: Entries whose lastmod (or feed date) is there but cannot be read.
        self.bad_lastmods = 0

    def valid_loc(self, loc: str | None, line: int) -> TypeGuard[str]:
        """True when ``loc`` may be imported; records the problem otherwise."""
        if not loc:
            self.log.add(ProblemCode.MISSING_LOC, "entry without a location", line)
            return False
        code = check_url(loc, self.max_url_length)
        if code is None:
            return True
        if code is ProblemCode.URL_TOO_LONG:
            message = f"URL of {len(loc)} characters (limit {self.max_url_length})"
        else:
            message = "not an absolute http(s) URL"
        self.log.add(code, message, line, None, loc[:200])
        return False

    def lastmod(self, text: str | None, line: int) -> str | None:
        """The normalised date, or None with a bad_lastmod problem."""
        if text is None:
            return None
        value = normalize_lastmod(text)
        if value is None and text.strip():
            self.log.add(ProblemCode.BAD_LASTMOD, "unparseable date", line, None, text[:100])
        return value

    def entry_date(self, text: str | None, line: int) -> str | None:
        """:meth:`lastmod` of a URL entry's own date, counting the unreadable ones."""
        value = self.lastmod(text, line)
        if value is None and text is not None and text.strip():
            self.bad_lastmods += 1
        return value

    def url(self, el: Element) -> UrlEntry | None:
        """A urlset ``<url>``."""
        loc = lastmod = changefreq = priority = None
        images: list[Image] = []
        videos: list[Video] = []
        alternates: list[Alternate] = []
        news = None
        loc_tag, lastmod_tag = self.loc_tag, self.lastmod_tag
        for child in el:
            tag = child.tag
            if tag == loc_tag:
                loc = child.text
            elif tag == lastmod_tag:
                lastmod = child.text
            elif tag == IMAGE:
                image = _image(child)
                if image is not None:
                    images.append(image)
            elif tag == self.changefreq_tag:
                changefreq = child.text
            elif tag == self.priority_tag:
                priority = child.text
            elif tag == XHTML_LINK:
                if child.get("rel") == "alternate" and child.get("href"):
                    alternates.append(Alternate(child.get("hreflang"), child.get("href")))
            elif tag == VIDEO:
                videos.append(_video(child))
            elif tag == NEWS:
                news = self._news(child)
            else:
                # Wrong namespace on a core field: accept it by its local name.
                local = _local(tag)
                if local == "loc" and loc is None:
                    loc = child.text
                elif local == "lastmod" and lastmod is None:
                    lastmod = child.text
                elif local == "changefreq" and changefreq is None:
                    changefreq = child.text
                elif local == "priority" and priority is None:
                    priority = child.text
        line = el.sourceline + self.line_offset
        if loc is not None:
            loc = loc.strip()
        if not self.valid_loc(loc, line):
            return None
        return UrlEntry(loc, self.entry_date(lastmod, line) if lastmod else None,
                        self.changefreq(changefreq, line) if changefreq else None,
                        self.priority(priority, line) if priority else None,
                        images, videos, news, alternates, line)

    def sitemap(self, el: Element) -> ChildSitemap | None:
        """A sitemapindex ``<sitemap>``; a bare URL as its text is accepted too."""
        loc = lastmod = None
        for child in el:
            local = _local(child.tag)
            if local == "loc":
                loc = _text(child)
            elif local == "lastmod":
                lastmod = child.text
        if loc is None and len(el) == 0:
            loc = _text(el)
        line = el.sourceline + self.line_offset
        if not self.valid_loc(loc, line):
            return None
        return ChildSitemap(loc, self.lastmod(lastmod, line), line)

    def rss_item(self, el: Element) -> UrlEntry | None:
        """An RSS 2.0 (or RSS 1.0) ``<item>``: link, else a permalink guid; pubDate."""
        loc = guid = date = None
        for child in el:
            local = _local(child.tag)
            if local == "link":
                loc = _text(child)
            elif local == "guid" and child.get("isPermaLink", "true") != "false":
                guid = _text(child)
            elif local in ("pubDate", "date"):
                date = child.text
        line = el.sourceline + self.line_offset
        loc = loc or guid or el.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")
        if not self.valid_loc(loc, line):
            return None
        return UrlEntry(loc, self.entry_date(date, line), line=line)

    def atom_entry(self, el: Element) -> UrlEntry | None:
        """An Atom ``<entry>``: the alternate (or rel-less) link; updated, else published."""
        loc = date = published = None
        for child in el:
            tag = child.tag
            if tag == ATOM_LINK or _local(tag) == "link":
                if loc is None and child.get("rel", "alternate") == "alternate":
                    loc = (child.get("href") or "").strip() or None
            elif tag == ATOM_UPDATED:
                date = child.text
            elif tag == ATOM_PUBLISHED:
                published = child.text
        line = el.sourceline + self.line_offset
        if not self.valid_loc(loc, line):
            return None
        return UrlEntry(loc, self.entry_date(date or published, line), line=line)

    def changefreq(self, text: str, line: int) -> str | None:
        """The lower-cased changefreq, or None with a bad_changefreq problem."""
        value = text.strip().lower()
        if value in CHANGEFREQS:
            return value
        self.log.add(ProblemCode.BAD_CHANGEFREQ, "changefreq is not one of "
                     + ", ".join(sorted(CHANGEFREQS)), line, None, text[:100])
        return None

    def priority(self, text: str, line: int) -> float | None:
        """The priority from 0.0 to 1.0, or None with a bad_priority problem."""
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 1.0:
            return value
        self.log.add(ProblemCode.BAD_PRIORITY, "priority is not a number from 0.0 to 1.0",
                     line, None, text[:100])
        return None

    def _news(self, el: Element) -> News:
        news = News()
        for child in el:
            local = _local(child.tag)
            if local == "publication":
                for part in child:
                    name = _local(part.tag)
                    if name == "name":
                        news.publication_name = _text(part)
                    elif name == "language":
                        news.language = _text(part)
            elif local == "publication_date":
                line = child.sourceline + self.line_offset
                news.publication_date = self.lastmod(child.text, line)
            elif local == "title":
                news.title = _text(child)
        return news


def _image(el: Element) -> Image | None:
    loc = title = caption = None
    for child in el:
        tag = child.tag
        if tag == IMAGE_LOC:
            loc = child.text
        elif tag == IMAGE_TITLE:
            title = _text(child)
        elif tag == IMAGE_CAPTION:
            caption = _text(child)
    if loc is None:
        return None
    loc = loc.strip()
    return Image(loc, title, caption) if loc else None


def _video(el: Element) -> Video:
    video = Video()
    for child in el:
        local = _local(child.tag)
        if local == "title":
            video.title = _text(child)
        elif local == "content_loc":
            video.content_loc = _text(child)
        elif local == "player_loc":
            video.player_loc = _text(child)
        elif local == "thumbnail_loc":
            video.thumbnail_loc = _text(child)
        elif local == "description":
            video.description = _text(child)
    return video
