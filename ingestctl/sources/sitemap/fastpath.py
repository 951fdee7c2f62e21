"""The fast path for plain urlsets: libxml2 checks the bytes, a strict regex reads them.

Building an lxml tree and walking it costs about three times what libxml2 needs to check
well-formedness alone. Most urlsets are machine-written in one shape, so while every byte
still goes through libxml2 (without a tree, entities unresolved, same errors and positions),
entries are read by a regex that only accepts the simple shape: ``<url>`` with ``loc``,
``lastmod``, ``changefreq``, ``priority`` in that order and images with only a ``loc``, text
without markup. The first thing that does not fit (a comment inside a url, a video, an
attribute, another element) hands the rest of the file to the tree parser, which starts at
that byte with the root start tag in front and reports lines and columns of the real file.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from lxml import etree

from ingestctl.errors import DataError
from ingestctl.sources.sitemap.elements import CHANGEFREQS, IMAGE_NS, ElementReader
from ingestctl.sources.sitemap.fastrows import PRIORITIES, clean_rows
from ingestctl.sources.sitemap.lastmod import normalize_lastmod
from ingestctl.sources.sitemap.model import Image, Parsed, ProblemLog, SitemapKind, UrlEntry
from ingestctl.sources.sitemap.sniff import Sniffed
from ingestctl.sources.sitemap.urls import check_url
from ingestctl.sources.sitemap.xmlparse import FEED_PIECE, XmlEntries, syntax_error

# A url block still incomplete after this many bytes goes to the tree parser instead.
MAX_PENDING = 1 << 20
_SPACE = re.compile(r"[ \t\r\n]*")
_REF = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
fromiso = datetime.fromisoformat


def eligible(sniffed: Sniffed) -> bool:
    """True when the file can take the fast path: an unprefixed UTF-8 urlset."""
    return sniffed.root_local == "urlset" and not sniffed.root_prefix and sniffed.utf8


@lru_cache(maxsize=8)
def _patterns(image_prefix: str | None
              ) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    p = re.escape(image_prefix or "image")
    # The first image's loc is a group of its own; any further images are read afterwards.
    # Possessive quantifiers (*+): text and spaces are never given back, so no backtracking.
    image = (rf"<{p}:image>[ \t\r\n]*+<{p}:loc>([^<]*+)</{p}:loc>[ \t\r\n]*+</{p}:image>"
             r"[ \t\r\n]*+")
    images = (f"(?:{image}((?:{image.replace('([^<]*+)', '[^<]*+')})*))?" if image_prefix
              else "()()")
    block = re.compile(
        r"<url>[ \t\r\n]*+<loc>([^<]*+)</loc>[ \t\r\n]*+"
        r"(?:<lastmod>([^<]*+)</lastmod>[ \t\r\n]*+)?"
        r"(?:<changefreq>([^<]*+)</changefreq>[ \t\r\n]*+)?"
        r"(?:<priority>([^<]*+)</priority>[ \t\r\n]*+)?" + images + r"</url>[ \t\r\n]*+")
    # The same with the whole block as a first group, for findall over a run (see fastrows).
    whole = re.compile(f"({block.pattern})")
    return block, whole, re.compile(rf"<{p}:loc>([^<]*)</{p}:loc>")


def _unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref[0] != "#":
            return _NAMED[ref]
        return chr(int(ref[2:], 16) if ref[1] == "x" else int(ref[1:]))
    return _REF.sub(replace, text)


def unescape(text: str) -> str:
    """``text`` with XML character and entity references replaced (``&amp;`` fast)."""
    if text.count("&") == text.count("&amp;"):
        return text.replace("&amp;", "&")
    return _unescape(text)


def _text(text: str) -> str:
    text = text.strip()
    return unescape(text) if "&" in text else text


class _NoEvents:
    """A parser target without callbacks: libxml2 checks the document and builds nothing."""

    def close(self) -> None:
        """Nothing was built."""


class FastUrlset:
    """Parses an eligible urlset pushed in pieces; falls back to :class:`XmlEntries`."""

    kind = SitemapKind.URLSET

    def __init__(self, url: str, sniffed: Sniffed, head: bytes, max_entries: int,
                 max_url_length: int, on_limit: str, log: ProblemLog, *,
                 lines: bool = True) -> None:
        self.url = url
        # Without lines, URLs come out as row tuples, clean runs of them built in C loops.
        self._runs = not lines
        self.sniffed = sniffed
        self.count = 0
        self.max_entries = max_entries
        self.max_url_length = max_url_length
        self.on_limit = on_limit
        self.log = log
        self._head = head
        # The tree parser is built now (it logs namespace problems) but fed only on fallback.
        self._fallback = XmlEntries(url, sniffed, max_entries, max_url_length, on_limit, log)
        self._tree: XmlEntries | None = None
        self._reader = ElementReader(sniffed.root_ns, max_url_length, log)
        prefix = next((p for p, ns in sniffed.namespaces if ns == IMAGE_NS and p), None)
        self._block, self._whole, self._image_loc = _patterns(prefix)
        self._image_prefix = prefix is not None
        self._validator: Any = etree.XMLParser(
            target=_NoEvents(),  # type: ignore[arg-type]
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        self._skip = len(head)     # the head is checked but holds no entries
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self._abs = len(head)      # offset of _buf[0] (characters after the head)
        self._line = head.count(b"\n") + 1
        self._line_start = head.rfind(b"\n") + 1
        self._done = False
        self._good_prefix = "\x00"  # matches nothing until a URL has been checked in full

    @property
    def bad_lastmods(self) -> int:
        """Entries whose lastmod is there but cannot be read (both paths)."""
        return self._reader.bad_lastmods + self._fallback.bad_lastmods

    def feed(self, data: bytes, out: list[Parsed]) -> None:
        """Check and parse ``data``; append the entries it completes to ``out``."""
        if self._tree is not None:
            self._tree.feed(data, out)
            return
        validator = self._validator
        for start in range(0, len(data), FEED_PIECE):
            try:
                validator.feed(data[start:start + FEED_PIECE] if len(data) > FEED_PIECE else data)
            except etree.XMLSyntaxError as exc:
                error = syntax_error(exc, self.url)
                self._read_before(data, error, out)
                raise error from None
        if self._skip:
            skipped = min(self._skip, len(data))
            data = data[skipped:]
            self._skip -= skipped
        if not self._done and data:
            text = self._decoder.decode(data)
            self._buf = self._buf + text if self._buf else text
            self._extract(out)

    def _read_before(self, data: bytes, error: DataError, out: list[Parsed]) -> None:
        """The entries that end before a syntax error in ``data``: a broken file keeps them."""
        if self._done or error.line is None:
            return
        if self._skip:
            skipped = min(self._skip, len(data))
            data = data[skipped:]
            self._skip -= skipped
        buf = self._buf + self._decoder.decode(data)
        # Offset of the error's line in buf, then its column (lxml counts from 1).
        cut, line = 0, self._line
        while line < error.line:
            newline = buf.find("\n", cut)
            if newline < 0:
                cut = len(buf)
                break
            cut, line = newline + 1, line + 1
        else:
            cut += max(0, (error.column or 1) - 1)
        self._buf = buf[:cut]
        with contextlib.suppress(DataError):  # the tree parser may see the same error
            self._extract(out)
        self._buf = ""

    def close(self, out: list[Parsed]) -> None:
        """End of input: fails when the document is incomplete."""
        if self._tree is None:
            try:
                self._validator.close()
            except etree.XMLSyntaxError as exc:
                raise syntax_error(exc, self.url) from None
            if self._done or not self._buf.strip():
                return
            self._switch(0, out)
        assert self._tree is not None
        self._tree.close(out)
        self.count = self._tree.count

    def _extract(self, out: list[Parsed]) -> None:
        buf = self._buf
        pos = 0
        line, counted = self._line, 0
        count_lines = buf.count
        append = out.append
        limit = self.max_entries
        max_length = self.max_url_length
        reader = self._reader
        findall_images = self._image_loc.findall
        good_prefix = self._good_prefix
        image_prefix = self._image_prefix
        count = self.count
        as_rows = self._runs
        while True:
            pos = _SPACE.match(buf, pos).end()  # type: ignore[union-attr]
            end = self._run_end(buf, pos) if self._runs else pos
            if end > pos:
                groups = self._whole.findall(buf, pos, end)
                done = clean_rows(groups, end - pos, good_prefix, max_length) \
                    if count + len(groups) <= limit else None
                if done is not None:
                    found, good_prefix = done
                    out.extend(found)
                    count += len(found)
                    pos = end
                    continue
            for match in self._block.finditer(buf, pos):
                start = match.start()
                if start != pos:
                    break
                pos = match.end()
                line += count_lines("\n", counted, start)
                counted = start
                count += 1
                if count > limit:
                    self._fallback.count = self.count = count
                    self._fallback.over_limit(line)
                    continue
                loc, lastmod, changefreq, priority, image, images = match.groups()
                loc = loc.strip()
                if "&" in loc:
                    loc = unescape(loc)
                # Every URL of a file tends to share scheme and host: check those once.
                if not (loc.startswith(good_prefix) and len(loc) < max_length
                        and " " not in loc and loc.isprintable()):
                    if check_url(loc, max_length) is not None:
                        reader.valid_loc(loc, line)
                        continue
                    slash = loc.find("/", 8)
                    if slash > 0 and "@" not in loc[:slash]:
                        good_prefix = loc[:slash + 1]
                if lastmod:
                    text = lastmod
                    if len(text) == 25 and text[10] == "T" and text.endswith("+00:00"):
                        try:  # inlined fast path of normalize_lastmod
                            fromiso(text[:19])
                            lastmod = text[:19] + "Z"
                        except ValueError:
                            lastmod = normalize_lastmod(text)
                    else:
                        lastmod = normalize_lastmod(text if "&" not in text else unescape(text))
                    if lastmod is None:
                        reader.entry_date(_text(text), line)
                if changefreq and changefreq not in CHANGEFREQS:
                    changefreq = reader.changefreq(_text(changefreq), line)
                number = None
                if priority:
                    number = PRIORITIES.get(priority)
                    if number is None:
                        number = reader.priority(_text(priority), line)
                if image and not images:
                    image = image.strip()
                    if "&" in image:
                        image = unescape(image)
                    # The common shape: a row tuple, staged as it is (see staging.TABLES).
                    if as_rows:
                        append((loc, lastmod, changefreq or None, number, image or None))
                    else:
                        append(UrlEntry(loc, lastmod, changefreq or None, number,
                                        [Image(image)] if image else [], [], None, [], line))
                elif images or image is not None and image_prefix:
                    # Several images (or an empty first one): an entry, empty images dropped.
                    several = [Image(_text(more)) for more in findall_images(match.group(0))]
                    append(UrlEntry(loc, lastmod, changefreq or None, number,
                                    [one for one in several if one.loc], [], None, [], line))
                else:
                    if as_rows:
                        append((loc, lastmod, changefreq or None, number, None))
                    else:
                        append(UrlEntry(loc, lastmod, changefreq or None, number, [], [], None,
                                        [], line))
            rest = len(buf) - pos
            if rest == 0:
                break
            if buf.startswith(("<!--", "<?"), pos):
                close = "-->" if buf[pos + 1] == "!" else "?>"
                end = buf.find(close, pos + 2)
                if end < 0:
                    break
                pos = end + len(close)
                continue
            if buf.startswith("</", pos):
                self._done = True
                break
            if rest < 5 and "<url>".startswith(buf[pos:]):
                break
            if (buf.startswith("<url>", pos) and buf.find("</url>", pos) < 0
                    and rest <= MAX_PENDING):
                break  # an incomplete url: wait for the rest of it
            line += count_lines("\n", counted, pos)
            self.count = count
            self._switch_at(buf, pos, line, out)
            return
        self.count = count
        line += count_lines("\n", counted, pos)
        newline = buf.rfind("\n", 0, pos)
        if newline >= 0:
            self._line_start = self._abs + newline + 1
        self._line = line
        self._good_prefix = good_prefix
        self._abs += pos
        self._buf = buf[pos:] if not self._done else ""

    @staticmethod
    def _run_end(buf: str, pos: int) -> int:
        """Where a run of url blocks from ``pos`` would end: after the last ``</url>``."""
        if not buf.startswith("<url>", pos):
            return pos
        end = buf.rfind("</url>", pos)
        return _SPACE.match(buf, end + 6).end() if end > pos else pos  # type: ignore[union-attr]

    def _switch_at(self, buf: str, pos: int, line: int, out: list[Parsed]) -> None:
        newline = buf.rfind("\n", 0, pos)
        line_start = self._abs + newline + 1 if newline >= 0 else self._line_start
        self._abs += pos
        self._line = line
        self._line_start = line_start
        self._buf = buf
        self._switch(pos, out)

    def _switch(self, pos: int, out: list[Parsed]) -> None:
        # The decoder may hold the first bytes of a character split across chunks.
        rest = self._buf[pos:].encode() + self._decoder.getstate()[0]
        self._buf = ""
        tree = self._tree = self._fallback
        tree.count = self.count
        tree.resume_at(self._head, self._line, self._abs - self._line_start + 1)
        self._validator = None
        tree.feed(rest, out)
        self.count = tree.count
