"""Tell XML from text sitemaps by content, find the root element, and refuse DTD subsets.

Runs once per file over its first bytes, before the XML parser sees anything, so a
billion-laughs or external-entity file fails before any entity is even declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"
MAX_PROLOG = 1 << 20
_NAME = re.compile(r"[^\s/>]+")
_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([^"']+)""")
_UTF8 = ("utf-8", "utf8", "us-ascii", "ascii")
_XMLNS = re.compile(r"""xmlns(?::([^\s=]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")


class SniffError(Exception):
    """The start of the file is not something we will parse."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the first bytes say: XML with its root element, or a text sitemap."""

    is_xml: bool
    root_local: str = ""
    root_ns: str | None = None
    root_line: int | None = None
    root_prefix: str = ""
    namespaces: tuple[tuple[str, str], ...] = ()
    # Byte offset just past the root start tag, and whether the bytes are UTF-8 (or ASCII).
    root_end: int = 0
    utf8: bool = False
    # Byte span of a DOCTYPE declaration, blanked out before any XML parser sees it.
    doctype: tuple[int, int] | None = None


def sniff(buf: bytes, final: bool) -> Sniffed | None:
    """The format of ``buf``, or None when more bytes are needed to tell."""
    skipped = 0
    if buf.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = buf.decode("utf-16", errors="ignore")
        skipped = -1
    elif buf.startswith(UTF8_BOM):
        text = buf[3:].decode("latin-1")
        skipped = 3
    else:
        text = buf.decode("latin-1")
    pos = _skip_space(text, 0)
    if pos == len(text):
        return Sniffed(False) if final else None
    if text[pos] != "<":
        if "\x00" in text[:4096]:
            raise SniffError("binary content, not a sitemap", 1, 1)
        return Sniffed(False)
    doctype: tuple[int, int] | None = None
    while True:
        pos = _skip_space(text, pos)
        if pos >= len(text):
            break
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            step = 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            step = 3
        elif text.startswith("<!DOCTYPE", pos):
            end = _tag_end(text, pos, doctype=True)
            step = 1
            if end >= 0:
                if skipped < 0:
                    raise SniffError("DOCTYPE in a UTF-16 document is not supported",
                                     *_where(text, pos))
                doctype = (pos + skipped, end + 1 + skipped)
        elif not final and ("<!--".startswith(text[pos:pos + 4])
                            or "<!DOCTYPE".startswith(text[pos:pos + 9])):
            break  # too short to tell a comment or DOCTYPE from other markup yet
        elif text[pos:pos + 9].upper() == "<!DOCTYPE":
            raise SniffError("not a sitemap: an HTML page", *_where(text, pos))
        elif text.startswith("<!", pos):
            raise SniffError("malformed XML: unexpected markup before the root element",
                             *_where(text, pos))
        elif not text.startswith("<", pos):
            raise SniffError("malformed XML: text before the root element", *_where(text, pos))
        else:
            end = _tag_end(text, pos)
            if end >= 0:
                sniffed = _root(text[pos + 1:end], _where(text, pos)[0])
                if skipped < 0:
                    return sniffed
                declared = _ENCODING.search(text, 0, pos)
                utf8 = declared is None or declared.group(1).lower() in _UTF8
                return Sniffed(True, sniffed.root_local, sniffed.root_ns, sniffed.root_line,
                               sniffed.root_prefix, sniffed.namespaces, end + 1 + skipped, utf8,
                               doctype)
            step = 1
        if end < 0:
            break
        pos = end + step
    if final:
        return Sniffed(True)
    if len(buf) > MAX_PROLOG:
        raise SniffError("no root element in the first 1 MB", *_where(text, len(text)))
    return None


def blank(data: bytes, span: tuple[int, int]) -> bytes:
    """``data`` with ``span`` replaced by spaces, newlines kept so positions do not move."""
    start, end = span
    hidden = bytes(10 if byte == 10 else 32 for byte in data[start:end])
    return data[:start] + hidden + data[end:]


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _where(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _tag_end(text: str, pos: int, *, doctype: bool = False) -> int:
    """Index of the ``>`` closing the tag at ``pos`` (quotes skipped), or -1 if not yet seen.

    For a DOCTYPE an internal subset (``[``, where entities are declared) is refused.
    """
    quote = ""
    for i in range(pos + (9 if doctype else 1), len(text)):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "[" and doctype:
            raise SniffError("DOCTYPE with an internal subset (entity declarations) is not "
                             "allowed", *_where(text, pos))
        elif char == ">":
            return i
    return -1


def _root(tag: str, line: int) -> Sniffed:
    match = _NAME.match(tag)
    name = match.group(0) if match else ""
    prefix, _, local = name.rpartition(":")
    namespaces = {m.group(1) or "": m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _XMLNS.finditer(tag)}
    return Sniffed(True, local, namespaces.get(prefix), line, prefix,
                   tuple(sorted(namespaces.items())))
