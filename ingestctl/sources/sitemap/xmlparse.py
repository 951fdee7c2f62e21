"""Incremental, hardened XML parsing of sitemaps and feeds with flat memory.

lxml's pull parser only reports the end of entry elements (``url``, ``sitemap``, ``item``,
``entry``); completed entries are read, then deleted from the tree after every fed piece so
memory does not grow with the file. An entry is built in memory until it ends, so the input
since the last completed entry is capped (:data:`MAX_ENTRY_BYTES`, :data:`MAX_ENTRY_TAGS`):
one ``<url>`` with millions of empty children fails the file instead of taking gigabytes.
Entities are never resolved, DTDs never loaded, the network never touched; a DTD internal
subset is refused before this runs (see ``sniff``).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.elements import ATOM_NS, SITEMAP_NS, ElementReader, Handler
from ingestctl.sources.sitemap.model import Parsed, ProblemCode, ProblemLog, SitemapKind
from ingestctl.sources.sitemap.sniff import Sniffed

_POSITION = re.compile(r", line \d+, column \d+$")
RSS1_NS = "http://purl.org/rss/1.0/"
# lxml refuses single feeds above ~10 MB without huge_tree; we never hand it more than this.
FEED_PIECE = 1 << 20
#: Pieces the tree parser is fed in, so the caps below are checked that often.
TREE_PIECE = 1 << 16
#: Bytes, and tags (``<``), an entry may span (counted since the last completed entry, to
#: the piece): a URL with 1,000 images and their captions stays far below both.
MAX_ENTRY_BYTES = 2 * 1000 * 1000
MAX_ENTRY_TAGS = 50_000

_KINDS = {
    "urlset": SitemapKind.URLSET,
    "sitemapindex": SitemapKind.SITEMAPINDEX,
    "rss": SitemapKind.RSS,
    "RDF": SitemapKind.RSS,
    "feed": SitemapKind.ATOM,
}


class XmlEntries:
    """Parses one XML sitemap, index or feed pushed in pieces; entries come out as they end."""

    def __init__(self, url: str, sniffed: Sniffed, max_entries: int, max_url_length: int,
                 on_limit: str, log: ProblemLog) -> None:
        kind = _KINDS.get(sniffed.root_local)
        if kind is None:
            raise DataError(f"not a sitemap: root element <{sniffed.root_local or '?'}> is "
                            "none of urlset, sitemapindex, rss, feed",
                            url=url, line=sniffed.root_line)
        self.kind = kind
        self.url = url
        self.count = 0
        self.max_entries = max_entries
        self.on_limit = on_limit
        self.log = log
        ns = sniffed.root_ns
        reader = self._reader = ElementReader(ns, max_url_length, log)
        self._shift_line: int | None = None
        self._line_delta = 0
        self._col_delta = 0
        # Input since the last completed entry (see MAX_ENTRY_BYTES), and the lines fed.
        self._open_bytes = self._open_tags = 0
        self._lines_fed = 1
        self._handle: Handler
        if kind is SitemapKind.URLSET:
            tag, self._handle = _qname(ns, "url"), reader.url
        elif kind is SitemapKind.SITEMAPINDEX:
            tag, self._handle = _qname(ns, "sitemap"), reader.sitemap
        elif kind is SitemapKind.ATOM:
            tag, self._handle = _qname(ns, "entry"), reader.atom_entry
        else:
            tag = _qname(RSS1_NS, "item") if sniffed.root_local == "RDF" else "item"
            self._handle = reader.rss_item
        expected = {SitemapKind.URLSET: SITEMAP_NS, SitemapKind.SITEMAPINDEX: SITEMAP_NS,
                    SitemapKind.ATOM: ATOM_NS}.get(kind)
        if expected is not None and ns != expected:
            log.add(ProblemCode.BAD_NAMESPACE,
                    f"<{sniffed.root_local}> has namespace {ns or 'none'}, expected {expected}",
                    sniffed.root_line, None, ns)
        # Never pass collect_ids=False: with it lxml 6 loads an external DTD despite load_dtd.
        self._parser = etree.XMLPullParser(
            events=("end",), tag=tag, resolve_entities=False, no_network=True, load_dtd=False,
            huge_tree=False, remove_comments=True, remove_pis=True)

    @property
    def bad_lastmods(self) -> int:
        """Entries whose date is there but cannot be read."""
        return self._reader.bad_lastmods

    def resume_at(self, head: bytes, line: int, column: int) -> None:
        """Start mid-file: ``head`` is the file up to its root start tag, and the next byte
        fed is at ``line``/``column`` (1-based) of the file; positions are reported in it."""
        self.feed(head, [])
        head_line = head.count(b"\n") + 1
        head_column = len(head) - (head.rfind(b"\n") + 1) + 1
        self._shift_line = head_line
        self._line_delta = self._reader.line_offset = line - head_line
        self._col_delta = column - head_column

    def feed(self, data: bytes, out: list[Parsed]) -> None:
        """Parse ``data`` and append the entries it completes to ``out``."""
        parser = self._parser
        for start in range(0, len(data), TREE_PIECE):
            piece = data[start:start + TREE_PIECE] if len(data) > TREE_PIECE else data
            try:
                parser.feed(piece)
            except etree.XMLSyntaxError as exc:
                self._drain(out)  # the entries that ended before the error are kept
                raise self._syntax_error(exc) from None
            self._lines_fed += piece.count(b"\n")
            if self._drain(out):
                self._open_bytes = self._open_tags = 0
            else:
                self._open_bytes += len(piece)
                self._open_tags += piece.count(b"<")
                if self._open_bytes > MAX_ENTRY_BYTES or self._open_tags > MAX_ENTRY_TAGS:
                    raise DataError(
                        f"no sitemap entry ended in the last {MAX_ENTRY_BYTES:,} bytes or "
                        f"{MAX_ENTRY_TAGS:,} tags; the rest of the file is not read",
                        url=self.url, line=self._lines_fed + self._line_delta,
                        hint="no sitemap entry is that large; check what the server sends")

    def close(self, out: list[Parsed]) -> None:
        """End of input: fails when the document is incomplete."""
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc) from None
        self._drain(out)

    def _drain(self, out: list[Parsed]) -> int:
        """Read the entries completed so far; how many there were."""
        handle = self._handle
        append = out.append
        limit = self.max_entries
        count = start = self.count
        last: Any = None
        for _event, el in self._parser.read_events():
            count += 1
            last = el
            if count > limit:
                self.count = count
                self.over_limit(last.sourceline + self._line_delta)
                continue
            entry = handle(el)
            if entry is not None:
                append(entry)
        self.count = count
        if last is not None:
            # Everything before the last completed entry is done with: free it.
            parent = last.getparent()
            if parent is not None:
                del parent[:-1]
            last.clear()
        return count - start

    def over_limit(self, line: int) -> None:
        """Record (or raise, with on_limit="error") the first entry over the limit."""
        if self.count != self.max_entries + 1:
            return
        noun = "index entries" if self.kind is SitemapKind.SITEMAPINDEX else "URLs"
        message = f"more than {self.max_entries:,} {noun} in one file"
        if self.on_limit == "error":
            raise DataError(message, url=self.url, line=line)
        self.log.add(ProblemCode.OVER_URL_LIMIT, message + f"; only the first "
                     f"{self.max_entries:,} are imported", line)

    def _syntax_error(self, exc: etree.XMLSyntaxError) -> DataError:
        error = syntax_error(exc, self.url)
        line, column = error.line, error.column
        if line is None:
            return error
        if line is not None:
            if line == self._shift_line and column is not None:
                column += self._col_delta
            line += self._line_delta
        return syntax_error(exc, self.url, line, column)


def syntax_error(exc: etree.XMLSyntaxError, url: str, line: int | None = None,
                 column: int | None = None) -> DataError:
    """The DataError for an lxml syntax error, at lxml's position unless one is given."""
    # exc.msg is the first error of this parse; exc.error_log may hold older ones.
    message = _POSITION.sub("", exc.msg or str(exc)).strip()
    position = exc.position
    if (not position or not position[0]) and exc.error_log:
        # lxml sometimes closes with "no element found" at 0:0 after a logged error.
        last: Any = getattr(exc.error_log, "last_error", None)
        if last is not None and last.line:
            message, position = last.message.strip(), (last.line, last.column)
    if line is None and position:
        line, column = position
    return DataError(f"malformed XML: {message}", url=url, line=line, column=column)


def _qname(namespace: str | None, local: str) -> str:
    return f"{{{namespace}}}{local}" if namespace else local
