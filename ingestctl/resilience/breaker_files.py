"""Where breakers live: breakers.json under a lock file (repaired when invalid), or the
store's ``breakers`` table (PostgreSQL), behind one :class:`BreakerBook` interface."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingestctl.errors import StoreError
from ingestctl.resilience.breaker_state import (
    FORMAT_VERSION,
    BreakerState,
    BreakerTransition,
)
from ingestctl.store import POSTGRES, Store
from ingestctl.store import breakers as breaker_rows

log = logging.getLogger("ingestctl.breaker")


@dataclass
class OpenBook:
    """The breakers as read for one read-modify-write: what changed, and whether to write."""

    states: dict[str, BreakerState]
    dirty: bool = False
    transitions: list[BreakerTransition] = field(default_factory=list)


class BreakerBook(Protocol):
    """Where the breakers live: breakers.json (:class:`FileBook`) or the store
    (:class:`StoreBook`)."""

    def transaction(self, key: str | None, *,
                    create: bool = False) -> AbstractContextManager[OpenBook]:
        """The stored breakers (at least ``key``'s; every one when None), locked against
        other processes until the block ends, then written back when the book is dirty."""
        ...

    def load(self) -> list[BreakerState]:
        """Every stored breaker, by key, without locking."""
        ...


class FileBook:
    """breakers.json, under an ``flock`` on a side lock file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def transaction(self, key: str | None, *, create: bool = False) -> Iterator[OpenBook]:
        """Every breaker of the file, whatever ``key``; an invalid file is set aside."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _file_error(self.lock_path, "cannot lock", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            states, problem = _read(self.path)
            book = OpenBook(states, dirty=problem is not None)
            if problem is not None:
                _set_aside(self.path, problem)
            yield book
            if book.dirty:
                try:
                    _write(self.path, book.states)
                except OSError as exc:
                    raise _file_error(self.path, "cannot write", exc) from None
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def load(self) -> list[BreakerState]:
        """The breakers of the file (none when it is missing)."""
        return load_states(self.path)


class StoreBook:
    """The ``breakers`` table of a PostgreSQL store, one row lock per key."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def transaction(self, key: str | None, *, create: bool = False) -> Iterator[OpenBook]:
        """The row of ``key`` (``create`` holds a new key's place) or every row, locked."""
        with self.store.write() as conn:
            rows = breaker_rows.lock(self.store, key, create=create)
            # A placeholder row (never updated) is no breaker yet: absent unless recorded.
            states = {k: st for k, row in rows.items()
                      if row["updated_at"] and (st := _parse(k, row)) is not None}
            book = OpenBook(states)
            yield book
            if book.dirty or len(states) != len(rows):
                breaker_rows.save(conn, {k: st.to_json() for k, st in book.states.items()},
                                  set(rows) - set(book.states))

    def load(self) -> list[BreakerState]:
        """Every breaker in the table, by key."""
        return [st for row in breaker_rows.load(self.store) if row["updated_at"]
                and (st := _parse(row["key"], row)) is not None]


def _parse(key: str, row: dict[str, Any]) -> BreakerState | None:
    try:
        return BreakerState.from_json(key, row)
    except ValueError as exc:
        log.warning("circuit breaker row %s is invalid (%s); it is treated as closed", key, exc)
        return None


def book_for(breakers_file: Path, store: Store | None) -> BreakerBook:
    """The breakers table of a PostgreSQL store, else the home's breakers.json."""
    if store is not None and store.dialect == POSTGRES:
        return StoreBook(store)
    return FileBook(breakers_file)


def load_states(path: Path) -> list[BreakerState]:
    """The breakers stored in ``path`` (empty when missing).

    A file that cannot be read or parsed is repaired by the first process that finds it: one
    warning, the old file kept as ``breakers.json.corrupt``, the readable breakers rewritten.
    """
    path = Path(path)
    states, problem = _read(path)
    if problem is not None:
        states = _repair(path, states)
    return [states[key] for key in sorted(states)]


def _repair(path: Path, found: dict[str, BreakerState]) -> dict[str, BreakerState]:
    """Under the lock: set a still broken file aside and write what could be read."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:  # a read-only home: say so and go on with what was readable
        log.warning("circuit breaker file %s is unreadable or invalid and cannot be repaired "
                    "(%s); the breakers it cannot read are treated as closed", path,
                    exc.strerror or exc)
        return found
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        states, problem = _read(path)
        if problem is not None:  # nobody repaired it in the meantime
            _set_aside(path, problem)
            try:
                _write(path, states)
            except OSError as exc:
                log.warning("circuit breaker file %s: cannot rewrite it (%s)", path,
                            exc.strerror or exc)
        return states
    finally:
        os.close(fd)


def _read(path: Path) -> tuple[dict[str, BreakerState], str | None]:
    """The stored breakers that could be read, and what is wrong with the file (None: fine)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot read it: {exc.strerror or exc}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "not UTF-8"
    except (ValueError, RecursionError) as exc:  # bad JSON, too deep, an endless number
        return {}, f"not valid JSON: {_short(exc)}"
    if not isinstance(data, dict) or not isinstance(data.get("breakers"), dict):
        return {}, "no 'breakers' object"
    states: dict[str, BreakerState] = {}
    problems = []
    for key, entry in data["breakers"].items():
        try:
            states[key] = BreakerState.from_json(key, entry)
        except ValueError as exc:
            problems.append(_short(exc))
    return states, "; ".join(problems) if problems else None


def _set_aside(path: Path, problem: str) -> None:
    kept = path.with_name(path.name + ".corrupt")
    log.warning("circuit breaker file %s is unreadable or invalid (%s); the breakers it cannot "
                "read are treated as closed; the file is rewritten and the old one kept as %s",
                path, problem, kept)
    with suppress(OSError):  # an unreadable file may not be movable either: it is replaced
        os.replace(path, kept)


def _file_error(path: Path, what: str, exc: OSError) -> StoreError:
    return StoreError(str(path), f"{what} the circuit breaker file: {exc.strerror or exc}",
                      hint="make the --home directory and its files writable by this user")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _write(path: Path, states: dict[str, BreakerState]) -> None:
    payload = {"version": FORMAT_VERSION,
               "breakers": {key: states[key].to_json() for key in sorted(states)}}
    # Start-up weight: only writers need tempfile; health, status and metrics only read the
    # file (tests/test_monitoring_cli.py).
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
