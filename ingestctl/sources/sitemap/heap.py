"""Keep glibc from holding on to memory a sitemap import has freed.

An import moves hundreds of megabytes through 256 KB buffers in a dozen threads. By default
glibc gives each thread its own arena and, once a big block has been freed, serves blocks of
that size from the arenas instead of the system, so freed memory stays resident: the main
process grew to 80 MB where 55 MB is live. Two settings fix it: big blocks always come from
(and go back to) the system, and threads share two arenas. They are process-wide and only
change where memory comes from; see docs/benchmarks.md for the figures.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("ingestctl.sitemap")

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Blocks from this size on are mapped and unmapped one by one (glibc's initial default,
#: which it otherwise raises as big blocks are freed).
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2

_done = False


def keep_heap_small() -> None:
    """Apply the settings once per process (glibc only; elsewhere nothing to do)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in this C library: memory settings left as they are")
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_ARENA_MAX, ARENA_MAX)
