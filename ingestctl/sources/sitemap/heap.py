"""Keep glibc from holding on to memory a sitemap import has freed, without paying for it.

An import moves hundreds of megabytes through 256 KB buffers in a dozen threads. By default
glibc gives each thread its own arena and, once a big block has been freed, serves blocks of
that size from the arenas instead of the system, so freed memory stays resident: the main
process grew to 80 MB where 55 MB is live. Threads share two arenas, and only blocks from 1 MB
on are mapped from (and returned to) the system one by one. The 256 KB buffers stay in the
heap: mapping each of them afresh cost a page fault per 4 KB, and with a fixed mmap threshold
glibc also gave every freed top of the heap above 128 KB back to the kernel at once, so the
next buffer faulted it in again; the heap keeps up to 8 MB free at its top instead. Together
that is about a tenth of the import's CPU for 5 MB more of resident memory in the process tree.
The settings are process-wide and only change where memory comes from; see
docs/benchmarks.md for the figures.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("ingestctl.sitemap")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Blocks from this size on are mapped and unmapped one by one (glibc otherwise raises its
#: threshold as big blocks are freed, and keeps them).
MMAP_THRESHOLD = 1024 * 1024
#: Free memory at the top of a heap beyond this is given back to the kernel.
TRIM_THRESHOLD = 8 * 1024 * 1024
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
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    mallopt(_M_ARENA_MAX, ARENA_MAX)
