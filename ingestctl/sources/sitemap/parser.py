"""The push parser for one sitemap file: raw bytes in, entries out, limits enforced.

Feed it bytes straight from a socket or a file in any chunk size::

    parser = SitemapParser(url, SitemapLimits.from_config(config.sitemap))
    for chunk in response.iter_raw():
        store.add(parser.feed(chunk))
    store.add(parser.close())
    record(parser.kind, parser.problems)

:meth:`SitemapParser.feed_into` is the importer's form: URLs in the common shape come out as
plain row tuples (:data:`~ingestctl.sources.sitemap.model.UrlRow`), and the entries read
before a syntax error are in ``out`` when the error is raised.

Gzip is recognised by its magic bytes and inflated incrementally, never past
``max_bytes_per_file``; the format (urlset, sitemapindex, RSS, Atom, text) is sniffed from the
content. Malformed XML, a DTD internal subset, a corrupt or truncated gzip stream, and any
limit with ``on_limit="error"`` raise :class:`~ingestctl.errors.DataError` naming the file,
line and column. Soft findings (bad URLs, dates, namespace, a limit with ``on_limit="warn"``)
land in :attr:`SitemapParser.problems`.
"""

from __future__ import annotations

from collections.abc import Callable

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.decompress import Inflater
from ingestctl.sources.sitemap.fastpath import FastUrlset, eligible
from ingestctl.sources.sitemap.model import (
    Entry,
    Image,
    Parsed,
    Problem,
    ProblemCode,
    ProblemLog,
    SitemapKind,
    SitemapLimits,
    UrlEntry,
)
from ingestctl.sources.sitemap.sniff import MAX_PROLOG, Sniffed, SniffError, blank, sniff
from ingestctl.sources.sitemap.text import TextEntries
from ingestctl.sources.sitemap.xmlparse import XmlEntries


class SitemapParser:
    """Push parser of one sitemap file; see the module docstring."""

    def __init__(self, url: str, limits: SitemapLimits | None = None, *,
                 fast: bool = True, lines: bool = True) -> None:
        self.url = url
        self.limits = limits or SitemapLimits()
        self._log = ProblemLog()
        self._inflater = Inflater(self.limits.max_bytes_per_file)
        self._head = b""
        self._impl: XmlEntries | FastUrlset | TextEntries | None = None
        # False forces the lxml tree parser everywhere (tests compare the two paths).
        self.fast = fast
        # False: URLs of the fast path come out as row tuples, without their line.
        self.lines = lines
        self._stopped = False
        self._closed = False
        self._in_markup = False

    @property
    def kind(self) -> SitemapKind | None:
        """The format, once the first bytes have told it."""
        return self._impl.kind if self._impl is not None else None

    @property
    def problems(self) -> list[Problem]:
        """Soft findings, the first 100 of each code (see :attr:`problem_counts`)."""
        return self._log.items

    @property
    def problem_counts(self) -> dict[ProblemCode, int]:
        """How many problems of each code were found in all."""
        return self._log.counts

    @property
    def bytes_in(self) -> int:
        """Raw bytes fed so far (compressed size for gzip)."""
        return self._inflater.bytes_in

    @property
    def bytes_out(self) -> int:
        """Content bytes produced so far (never more than ``max_bytes_per_file``)."""
        return self._inflater.bytes_out

    @property
    def count(self) -> int:
        """Entries seen so far, including invalid ones and those over the limit."""
        return self._impl.count if self._impl is not None else 0

    @property
    def done(self) -> bool:
        """True once more input would be ignored (size limit reached): stop reading."""
        return self._stopped

    @property
    def gzipped(self) -> bool:
        """True when the content arrived gzip-compressed."""
        return bool(self._inflater.gzip)

    @property
    def bad_lastmods(self) -> int:
        """URL entries whose lastmod (or feed date) is there but cannot be read."""
        return self._impl.bad_lastmods if self._impl is not None else 0

    @property
    def digest(self) -> str | None:
        """SHA-256 of the content (after gunzip), once the whole file was read; else None."""
        if not self._closed or self._stopped or self._inflater.truncated:
            return None
        return self._inflater.hexdigest()

    @property
    def raw_digest(self) -> str | None:
        """SHA-256 of the bytes fed, for a gzip file read whole; else None."""
        if self.digest is None or not self._inflater.gzip:
            return None
        return self._inflater.raw_hexdigest()

    def feed(self, chunk: bytes) -> list[Entry]:
        """Entries completed by ``chunk``, in document order."""
        out: list[Parsed] = []
        self.feed_into(chunk, out)
        return _entries(out)

    def close(self) -> list[Entry]:
        """The last entries; raises DataError when the file is incomplete or not a sitemap."""
        out: list[Parsed] = []
        self.close_into(out)
        return _entries(out)

    def feed_into(self, chunk: bytes, out: list[Parsed],
                  spill: Callable[[list[Parsed]], None] | None = None) -> None:
        """Append what ``chunk`` completes to ``out`` (rows or entries, in document order).

        ``spill`` is handed ``out`` (then emptied) after each piece of content: a small
        chunk of gzip can hold tens of megabytes of entries.
        """
        if self._stopped:
            self._inflater.bytes_in += len(chunk)
            return
        try:
            for piece in self._inflater.feed(chunk):
                self._consume(piece, out)
                if spill is not None and out:
                    spill(out)
                    out.clear()
        except ValueError as exc:
            raise DataError(str(exc), url=self.url) from None
        if self._inflater.over_limit:
            self._size_limit()

    def close_into(self, out: list[Parsed]) -> None:
        """Append the last rows or entries to ``out``; DataError for an incomplete file."""
        if self._closed:
            return
        self._closed = True
        if self._stopped:
            return
        for piece in self._inflater.finish():
            self._consume(piece, out)
        if self._inflater.truncated:
            raise DataError("gzip stream ends early (truncated file)", url=self.url)
        if self._impl is None:
            sniffed = self._sniff(final=True)
            assert sniffed is not None
            if sniffed.doctype is not None:
                self._head = blank(self._head, sniffed.doctype)
            self._start(sniffed, self._head)
            self._head = b""
        assert self._impl is not None
        self._impl.close(out)

    def _consume(self, piece: bytes, out: list[Parsed]) -> None:
        if self._impl is not None:
            self._impl.feed(piece, out)
            return
        self._head += piece
        # Once markup has started, only a ">" can complete it: tiny chunks stay linear.
        if self._in_markup and b">" not in piece and len(self._head) <= MAX_PROLOG:
            return
        sniffed = self._sniff(final=False)
        if sniffed is None:
            self._in_markup = bool(self._head.strip(b" \t\r\n"))
            return
        head, self._head = self._head, b""
        if sniffed.doctype is not None:
            # No parser option can then load an external DTD or declare an entity.
            head = blank(head, sniffed.doctype)
        self._start(sniffed, head)
        assert self._impl is not None
        self._impl.feed(head, out)

    def _sniff(self, final: bool) -> Sniffed | None:
        try:
            sniffed = sniff(self._head, final)
        except SniffError as exc:
            raise DataError(str(exc), url=self.url, line=exc.line, column=exc.column) from None
        if sniffed is None and final:
            sniffed = Sniffed(True)
        return sniffed

    def _start(self, sniffed: Sniffed, head: bytes) -> None:
        limits = self.limits
        if not sniffed.is_xml:
            self._impl = TextEntries(self.url, limits.max_urls_per_file, limits.max_url_length,
                                     limits.on_limit, self._log)
            return
        max_entries = (limits.max_index_entries if sniffed.root_local == "sitemapindex"
                       else limits.max_urls_per_file)
        if eligible(sniffed) and self.fast:
            self._impl = FastUrlset(self.url, sniffed, head[:sniffed.root_end], max_entries,
                                    limits.max_url_length, limits.on_limit, self._log,
                                    lines=self.lines)
            return
        self._impl = XmlEntries(self.url, sniffed, max_entries, limits.max_url_length,
                                limits.on_limit, self._log)

    def _size_limit(self) -> None:
        limit = self.limits.max_bytes_per_file
        message = f"content larger than {limit:,} bytes"
        if self.limits.on_limit == "error":
            self._stopped = True
            raise DataError(message + " (max_bytes_per_file)", url=self.url)
        self._log.add(ProblemCode.OVER_SIZE_LIMIT,
                      message + "; the rest of the file is ignored", None, None, str(limit))
        self._stopped = True


def _entries(out: list[Parsed]) -> list[Entry]:
    """Rows as :class:`UrlEntry` objects, for callers that want entries."""
    return [UrlEntry(e[0], e[1], e[2], e[3], [Image(e[4])] if e[4] else [], [], None, [], 0)
            if type(e) is tuple else e for e in out]  # type: ignore[misc]
