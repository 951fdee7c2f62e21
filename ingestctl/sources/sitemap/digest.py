"""Whether a sitemap file holds the content read last time, told without parsing it.

A file's row keeps the SHA-256 of its content after gunzip (``digest``) and, for a gzip file,
of its bytes as fetched (``raw_digest``). A file fetched again is hashed as it streams: plain
content is its own raw bytes; gzip bytes identical to last time hold the same content without
being inflated; only gzip bytes that differ (a server that recompresses) are inflated and their
content hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

from ingestctl.sources.sitemap.decompress import GZIP_MAGIC, Inflater


def same_content(chunks: Iterable[bytes], reread: Callable[[], Iterator[bytes]],
                 digest: str, raw_digest: str | None, limit: int) -> tuple[bool, int]:
    """(True when the content hashes to ``digest``, the bytes read).

    ``reread`` gives the bytes again (a spooled copy), should they need inflating.
    """
    raw = hashlib.sha256()
    head = b""
    size = 0
    for chunk in chunks:
        raw.update(chunk)
        size += len(chunk)
        if len(head) < 2:
            head += chunk[:2]
    if head[:2] != GZIP_MAGIC:
        return size <= limit and raw.hexdigest() == digest, size
    if raw_digest is not None and raw.hexdigest() == raw_digest:
        return True, size
    inflater = Inflater(limit)
    try:
        for chunk in reread():
            for _ in inflater.feed(chunk):
                pass
            if inflater.over_limit:
                return False, size
        for _ in inflater.finish():
            pass
    except ValueError:
        return False, size  # a corrupt stream: the parser says exactly what is wrong
    return not inflater.truncated and inflater.hexdigest() == digest, size
