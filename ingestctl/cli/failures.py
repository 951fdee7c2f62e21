"""Expected errors -> one stderr line and an exit code: the one place both entry paths use.

The Typer application (:mod:`.app`) and the probes' fast path (:mod:`.probes`) call
:func:`exit_code_for` on whatever a command raised; ``None`` means the error was not an
expected one and must propagate (a bug: its traceback is wanted).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ingestctl.cli.output import error
from ingestctl.cli.state import AppState
from ingestctl.errors import EXIT_FAILED, IngestError

log = logging.getLogger("ingestctl.cli")


def exit_code_for(exc: BaseException, st: AppState | None) -> int | None:
    """Print the one line that ``exc`` deserves and return its exit code (None: unexpected)."""
    if isinstance(exc, IngestError):
        log.error("%s", exc, extra={"error_class": exc.error_class.value,
                                    "error_type": type(exc).__name__, "console": False})
        error(str(exc))
        return exc.exit_code
    if isinstance(exc, sqlite3.Error):  # a store call outside the core's own error handling
        # Start-up weight: the store's error mapping only when the store failed.
        from ingestctl.store.database import store_error

        where = st.home.database if st is not None else Path("ingestctl.db")
        mapped = store_error(where, exc)
        log.error("%s", mapped, extra={"error_class": mapped.error_class.value,
                                       "error_type": type(exc).__name__, "console": False})
        error(str(mapped))
        return mapped.exit_code
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C in a command without its own handlers
        error("aborted")
        return 1
    if isinstance(exc, OSError):  # a file the core could not open or write (permissions, space)
        filename = f"{exc.filename}: " if exc.filename else ""
        error(f"{filename}{exc.strerror or exc}; check that the --home directory and its "
              "files are writable by this user")
        return EXIT_FAILED
    return None
