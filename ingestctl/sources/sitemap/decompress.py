"""Incremental gzip detection and inflation that never produces more than a byte limit."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
# Inflate in pieces this large so a bomb never sits in memory as one big string.
PIECE = 1 << 18


class Inflater:
    """Turns raw chunks into content chunks: gunzips when the stream starts with gzip magic.

    Output stops at ``limit`` bytes; ``over_limit`` then says more content was there.
    ``truncated`` is true after :meth:`finish` when a gzip stream ended early. The content
    is hashed as it goes (:meth:`hexdigest`): a file whose content did not change is
    recognised without parsing it, even when the server sends no validators.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes_in = 0
        self.bytes_out = 0
        self.gzip: bool | None = None
        self.over_limit = False
        self.truncated = False
        self._pending = b""
        self._z: zlib._Decompress | None = None
        self._trailing_garbage = False
        self._hash = hashlib.sha256()
        self._raw = hashlib.sha256()  # of the gzip bytes themselves

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Content pieces (at most ``PIECE`` bytes each) for one raw chunk."""
        self.bytes_in += len(data)
        if self.over_limit or not data:
            return
        if self.gzip is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            self._pending = b""
            self.gzip = data[:2] == GZIP_MAGIC
        if self.gzip:
            self._raw.update(data)
            yield from self._inflate(data)
        else:
            for start in range(0, len(data), PIECE):
                yield from self._emit(data[start:start + PIECE])
                if self.over_limit:
                    return

    def hexdigest(self) -> str:
        """SHA-256 of the content produced so far."""
        return self._hash.hexdigest()

    def raw_hexdigest(self) -> str:
        """SHA-256 of the gzip bytes fed so far."""
        return self._raw.hexdigest()

    def finish(self) -> Iterator[bytes]:
        """What is left at the end of the stream."""
        if self.gzip is None and self._pending:
            self.gzip = False
            yield from self._emit(self._pending)
        elif self.gzip and not self.over_limit:
            in_member = self._z is not None and not self._z.eof
            self.truncated = in_member or self._pending[:1] == GZIP_MAGIC[:1]

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while data and not self._trailing_garbage:
            z = self._z
            if z is None:
                # A new gzip member starts here (multi-member files are valid gzip).
                data = self._pending + data
                if len(data) < 2:
                    self._pending = data
                    return
                self._pending = b""
                if data[:2] != GZIP_MAGIC:
                    self._trailing_garbage = True
                    return
                z = self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            room = self.limit - self.bytes_out
            try:
                out = z.decompress(data, min(PIECE, room + 1))
            except zlib.error as exc:
                raise ValueError(f"corrupt gzip stream: {exc}") from None
            data = z.unconsumed_tail
            if z.eof:
                data = z.unused_data + data
                self._z = None
            if out:
                yield from self._emit(out)
                if self.over_limit:
                    return

    def _emit(self, out: bytes) -> Iterator[bytes]:
        room = self.limit - self.bytes_out
        if len(out) > room:
            out = out[:room]
            self.over_limit = True
        self.bytes_out += len(out)
        if out:
            self._hash.update(out)
            yield out
