"""Atomic writes for node_exporter's textfile collector."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEXTFILE_MODE = 0o644  # node_exporter usually runs as another user and must read the file


def write_textfile(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename.

    node_exporter never sees a partial file: it reads only ``*.prom`` names and the temporary
    file is named ``.<name>.<random>.tmp`` until ``os.replace`` swaps it in.
    """
    target = Path(path)
    directory = target.parent
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), TEXTFILE_MODE)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    # The rename itself must survive a crash, so the directory entry is synced too.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
