"""Text sitemaps: one URL per line, streamed across chunk boundaries (BOM and CRLF tolerated)."""

from __future__ import annotations

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.model import Parsed, ProblemCode, ProblemLog, SitemapKind, UrlEntry
from ingestctl.sources.sitemap.urls import check_url


class TextEntries:
    """Parses a text sitemap pushed in pieces; every non-empty line is one entry."""

    kind = SitemapKind.TEXT

    def __init__(self, url: str, max_entries: int, max_url_length: int, on_limit: str,
                 log: ProblemLog) -> None:
        self.url = url
        self.count = 0
        self.line = 0
        self.max_entries = max_entries
        self.max_url_length = max_url_length
        self.on_limit = on_limit
        self.log = log
        self.bad_lastmods = 0  # text sitemaps carry no dates
        self._rest = b""
        self._skipping = False
        # A partial line longer than this cannot become a valid URL: stop buffering it.
        self._max_line = max_url_length * 4 + 1024

    def feed(self, data: bytes, out: list[Parsed]) -> None:
        """Parse the complete lines of ``data`` and append their entries to ``out``."""
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return
            self._skipping = False
            self.line += 1
            data = data[newline + 1:]
        end = data.rfind(b"\n")
        if end < 0:
            self._rest += data
            if len(self._rest) > self._max_line:
                self.line += 1
                self.log.add(ProblemCode.URL_TOO_LONG, f"line longer than {self._max_line:,} "
                             "bytes", self.line, None, self._rest[:200].decode("utf-8", "replace"))
                self.line -= 1  # counted again when its newline arrives
                self._rest = b""
                self._skipping = True
            return
        block = self._rest + data[:end] if self._rest else data[:end]
        self._rest = data[end + 1:]
        self._lines(block, out)

    def close(self, out: list[Parsed]) -> None:
        """End of input: the last line needs no newline."""
        if self._rest and not self._skipping:
            self._lines(self._rest, out)
        self._rest = b""

    def _lines(self, block: bytes, out: list[Parsed]) -> None:
        text = block.decode("utf-8", "replace")
        if self.line == 0 and text.startswith("\ufeff"):
            text = text[1:]
        line = self.line
        count = self.count
        limit = self.max_entries
        max_length = self.max_url_length
        append = out.append
        for raw in text.split("\n"):
            line += 1
            loc = raw.strip()
            if not loc:
                continue
            count += 1
            if count > limit:
                if count == limit + 1:
                    self._over_limit(line)
                continue
            problem = check_url(loc, max_length)
            if problem is None:
                append(UrlEntry(loc, None, None, None, [], [], None, [], line))
            else:
                self.log.add(problem, "not an absolute http(s) URL under "
                             f"{max_length:,} characters", line, None, loc[:200])
        self.line = line
        self.count = count

    def _over_limit(self, line: int) -> None:
        message = f"more than {self.max_entries:,} URLs in one file"
        if self.on_limit == "error":
            raise DataError(message, url=self.url, line=line)
        self.log.add(ProblemCode.OVER_URL_LIMIT, message + f"; only the first "
                     f"{self.max_entries:,} are imported", line)
