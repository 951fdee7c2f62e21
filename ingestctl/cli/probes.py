"""``health``, ``status --json`` and ``metrics``: what they print, and a path without Typer.

Monitoring runs these every few seconds, and loading Typer and Click is about a third of
their start-up. :func:`run_plain` answers them without Typer when every argument is one of
the plain forms below; anything else (``--help``, another option, a misspelt or repeated one,
a value that is not a plain word) returns None and goes to the Typer application, which
answers it as it answers every command. Both paths call the functions of this module and map
errors with :func:`~ingestctl.cli.failures.exit_code_for`, so they print the same.

Plain forms: the global options ``--config PATH``, ``--home DIR`` (or ``--option=value``),
``-q`` and ``--quiet``, before or after the command; then ``health [--format
text|nagios|json]``, ``status --json`` or ``metrics [--textfile PATH]``.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestctl import __version__, clock
from ingestctl.cli.failures import exit_code_for
from ingestctl.cli.output import emit_json
from ingestctl.cli.state import GLOBAL_VALUED, AppState
from ingestctl.errors import IngestError, StoreError
from ingestctl.monitoring import snapshots
from ingestctl.store import Store

if TYPE_CHECKING:
    from ingestctl.monitoring.health import CheckResult
    from ingestctl.monitoring.status import StatusSnapshot

#: ``health --format`` values.
HEALTH_FORMATS = ("text", "nagios", "json")


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def open_store(st: AppState) -> Store | None:
    """The store without crash recovery, or None when there is no database yet."""
    if not st.config.store.url and not st.home.database.exists():
        return None
    try:
        return st.store(recover=False)
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None


def health_results(st: AppState, now: Any) -> list[CheckResult]:
    """Run the checks; a missing or unreadable database is the CRITICAL database check."""
    # Start-up weight: this module serves health, metrics and status; each loads its own
    # models (tests/test_monitoring_cli.py, tests/test_startup.py).
    from ingestctl.monitoring.health import HealthSnapshot, run_checks

    config = st.config
    try:
        store = open_store(st)
        if store is None:
            snap = HealthSnapshot.unreachable(
                f"no database at {st.home.database} (run an import first)")
        else:
            snap = snapshots.health_snapshot(store, config, now, st.home.breakers)
    except StoreError as exc:
        snap = HealthSnapshot.unreachable(exc.reason)
    except sqlite3.Error as exc:
        snap = HealthSnapshot.unreachable(str(exc))
    return run_checks(snap, config.health, now)


def print_health(st: AppState, fmt: str) -> int:
    """Print the checks in ``fmt``; the exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""
    from ingestctl.monitoring.health import CheckResult, Status, overall

    now = clock.now()
    try:
        results = health_results(st, now)
    except Exception as exc:  # a probe must answer: anything unexpected is UNKNOWN
        text = exc.message if isinstance(exc, IngestError) else _one_line(exc)
        results = [CheckResult("ingestctl", "health", Status.UNKNOWN, None, None,
                               f"health check failed: {text}", time=now)]
    if fmt == "nagios":
        # Start-up weight: each format loads only its renderer (test_monitoring_cli.py).
        from ingestctl.monitoring.health import render_nagios

        sys.stdout.write(render_nagios(results) + "\n")
    elif fmt == "json":
        # Start-up weight: as above.
        from ingestctl.monitoring.health import render_json

        emit_json(render_json(results, now, __version__))
    else:
        # Start-up weight: Rich only for the table (nagios and json stay light).
        from ingestctl.cli.output import stdout
        from ingestctl.monitoring.health import render_table

        stdout.print(render_table(results))
    return overall(results).exit_code


def print_metrics(st: AppState, textfile: Path | None) -> None:
    """The Prometheus text exposition, to stdout or atomically to ``textfile``."""
    # Start-up weight: the metric families for `metrics` only (tests/test_monitoring_cli.py).
    from ingestctl.monitoring.metrics import MetricsSnapshot, exposition, write_textfile

    now = clock.now()
    store = open_store(st)
    try:
        snap = (MetricsSnapshot(success_ratio_window=st.config.health.window) if store is None
                else snapshots.metrics_snapshot(store, now, st.home.breakers,
                                                st.config.health.window))
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None
    data = exposition(snap)
    if textfile is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_textfile(textfile, data)
    except OSError as exc:
        raise IngestError(f"cannot write {textfile}: {exc.strerror or exc}",
                          hint="check the directory exists and is writable") from None


def status_snapshot(st: AppState) -> StatusSnapshot:
    """The status of this home now (an empty one while there is no database)."""
    now = clock.now()
    config = st.config
    store = open_store(st)
    if store is None:
        return snapshots.empty_status(config, now, st.home.database, st.home.breakers)
    try:
        return snapshots.status_snapshot(store, config, now, st.home.breakers,
                                           config.status.limit)
    except sqlite3.Error as exc:
        raise StoreError(str(st.home.database), str(exc)) from None


# -- the path without Typer -----------------------------------------------------------------

#: The global flags a plain form may carry (-v and --json-logs change logging: Typer's path).
_QUIET = ("-q", "--quiet")
#: Per command: its options that take a value, and the flags it accepts.
_COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "health": (("--format",), ()),
    "status": ((), ("--json",)),
    "metrics": (("--textfile",), ()),
}


def plain_probe(args: list[str]) -> tuple[str, dict[str, str], AppState] | None:
    """The command, its options and the global state when ``args`` is a plain form, else None."""
    command = ""
    seen: dict[str, str] = {}
    position = 0
    while position < len(args):
        word = args[position]
        name, equals, value = word.partition("=")
        if not word.startswith("-"):
            if command or word not in _COMMANDS:
                return None
            command = word
            position += 1
            continue
        if word in _QUIET or (command and word in _COMMANDS[command][1]):
            value = "1"
        elif name in GLOBAL_VALUED or (command and name in _COMMANDS[command][0]):
            if not equals:
                position += 1
                if position == len(args):
                    return None
                value = args[position]
            if not value or value.startswith("-"):
                return None
            word = name
        else:
            return None
        if word in seen or (word in _QUIET and set(_QUIET) & set(seen)):
            return None
        seen[word] = value
        position += 1
    if command == "status" and "--json" not in seen:
        return None  # the table view is Rich's, and `status` without --json is not a probe
    if command == "health" and seen.get("--format", "text") not in HEALTH_FORMATS:
        return None  # Typer says what is wrong (UNKNOWN, exit 3)
    if not command:
        return None
    st = AppState(seen.get("--config"), seen.get("--home"), False, 0,
                  any(flag in seen for flag in _QUIET))
    return command, seen, st


def run_plain(args: list[str]) -> int | None:
    """Answer a probe in a plain form without Typer: its exit code, or None to use Typer."""
    found = plain_probe(args)
    if found is None:
        return None
    command, options, st = found
    actions: dict[str, Callable[[], int | None]] = {
        "health": lambda: print_health(st, options.get("--format", "text")),
        "status": lambda: emit_json(status_snapshot(st).to_json()),
        "metrics": lambda: print_metrics(st, Path(options["--textfile"])
                                         if "--textfile" in options else None),
    }
    try:
        st.setup_stderr_logging()
        return actions[command]() or 0
    except (IngestError, sqlite3.Error, OSError, KeyboardInterrupt) as exc:
        code = exit_code_for(exc, st)
        if code is None:
            raise
        return code
    finally:
        st.close()
