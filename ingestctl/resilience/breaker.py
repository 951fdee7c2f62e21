"""Circuit breakers shared by separate processes through one JSON file (``breakers.json``),
or, with a PostgreSQL store, through its ``breakers`` table so every host shares them.

Every read-modify-write holds an exclusive ``flock`` on a side lock file and replaces the
file atomically (temporary file in the same directory, fsync, ``os.replace``, mode 0600), so
cron-started processes never lose each other's updates and readers never see half a file. On
PostgreSQL the key's row is locked (``FOR UPDATE``) for the read-modify-write instead
(:class:`StoreBook`), so of processes on several hosts exactly one becomes the probe.

    closed --N countable failures--> open --reset_timeout--> half_open (one probe, leased)
    half_open --success_threshold successes--> closed;  half_open --probe failure--> open

Only classes with ``ErrorClass.trips_breaker`` (transient, rate_limited) count; auth,
not_found and data failures neither count nor reset the run of failures.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ingestctl.clock import SYSTEM, Clock, from_iso, to_iso
from ingestctl.config import BreakerConfig
from ingestctl.errors import CircuitOpenError, ErrorClass, StoreError
from ingestctl.host import hostname
from ingestctl.store import POSTGRES, Store
from ingestctl.store import breakers as breaker_rows

log = logging.getLogger("ingestctl.breaker")

FORMAT_VERSION = 1


class BreakerStatus(StrEnum):
    """The state of one circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class BreakerState:
    """One key's breaker as stored in the file."""

    key: str
    state: BreakerStatus = BreakerStatus.CLOSED
    failures: int = 0
    successes: int = 0
    opened_at: datetime | None = None
    open_until: datetime | None = None
    probe_owner: str | None = None
    probe_until: datetime | None = None
    last_error_class: str | None = None
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored (and ``breaker list --json``) shape; times are ISO 8601 UTC."""
        return {
            "key": self.key,
            "state": self.state.value,
            "failures": self.failures,
            "successes": self.successes,
            "opened_at": to_iso(self.opened_at),
            "open_until": to_iso(self.open_until),
            "probe_owner": self.probe_owner,
            "probe_until": to_iso(self.probe_until),
            "last_error_class": self.last_error_class,
            "updated_at": to_iso(self.updated_at),
        }

    @classmethod
    def from_json(cls, key: str, data: Any) -> BreakerState:
        """Parse one stored entry; raises ValueError when it is not a valid breaker."""
        if not isinstance(data, dict):
            raise ValueError(f"entry {key!r} is not an object")
        try:
            state = cls(
                key=key,
                state=BreakerStatus(data.get("state", "closed")),
                failures=_count(data.get("failures", 0)),
                successes=_count(data.get("successes", 0)),
                opened_at=from_iso(data.get("opened_at")),
                open_until=from_iso(data.get("open_until")),
                probe_owner=_text(data.get("probe_owner"), "probe_owner"),
                probe_until=from_iso(data.get("probe_until")),
                last_error_class=_text(data.get("last_error_class"), "last_error_class"),
                updated_at=from_iso(data.get("updated_at")),
            )
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ValueError(f"entry {key!r}: {exc}") from exc
        if state.state is BreakerStatus.OPEN and state.open_until is None:
            raise ValueError(f"entry {key!r} is open without open_until")
        return state


@dataclass(frozen=True)
class BreakerTransition:
    """A breaker changed state; the runner turns it into an event (and the alerts an alert)."""

    key: str
    old: BreakerStatus
    new: BreakerStatus
    at: datetime
    reason: str


@dataclass(frozen=True)
class Admission:
    """A call was let through; ``is_probe`` when it is the one half-open trial call."""

    key: str
    is_probe: bool = False
    transition: BreakerTransition | None = None

    @property
    def allowed(self) -> bool:
        """Always True: a refusal raises :class:`CircuitOpenError` instead."""
        return True


@dataclass
class _Book:
    states: dict[str, BreakerState]
    dirty: bool = False
    transitions: list[BreakerTransition] = field(default_factory=list)


OnTransition = Callable[[BreakerTransition], None]


class BreakerBook(Protocol):
    """Where the breakers live: breakers.json (:class:`FileBook`) or the store
    (:class:`StoreBook`)."""

    def transaction(self, key: str | None, *,
                    create: bool = False) -> AbstractContextManager[_Book]:
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
    def transaction(self, key: str | None, *, create: bool = False) -> Iterator[_Book]:
        """Every breaker of the file, whatever ``key``; an invalid file is set aside."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _file_error(self.lock_path, "cannot lock", exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            states, problem = _read(self.path)
            book = _Book(states, dirty=problem is not None)
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
    def transaction(self, key: str | None, *, create: bool = False) -> Iterator[_Book]:
        """The row of ``key`` (``create`` holds a new key's place) or every row, locked."""
        with self.store.write() as conn:
            rows = breaker_rows.lock(self.store, key, create=create)
            # A placeholder row (never updated) is no breaker yet: absent unless recorded.
            states = {k: st for k, row in rows.items()
                      if row["updated_at"] and (st := _parse(k, row)) is not None}
            book = _Book(states)
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


def default_owner() -> str:
    """``host:pid``, naming the process that holds a probe lease."""
    return f"{hostname()}:{os.getpid()}"


def breaker_key(source: str, target: str) -> str:
    """``sitemap:HOST[:PORT]`` for a sitemap URL; ``SOURCE:TARGET`` (account, site) otherwise."""
    parts = urlsplit(target)
    if source == "sitemap" and parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname.lower()
        return f"{source}:{host}:{parts.port}" if parts.port else f"{source}:{host}"
    return f"{source}:{target}"


class BreakerBoard:
    """All circuit breakers of one home directory, safe across threads and processes."""

    def __init__(
        self,
        path: Path,
        cfg: BreakerConfig,
        clock: Clock = SYSTEM,
        owner: str | None = None,
        on_transition: OnTransition | None = None,
        book: BreakerBook | None = None,
    ) -> None:
        self.path = Path(path)
        self.book: BreakerBook = book or FileBook(self.path)
        self.cfg = cfg
        self.clock = clock
        self.owner = owner or default_owner()
        self.on_transition = on_transition

    def admit(self, key: str) -> Admission:
        """Let a call for ``key`` through, or raise :class:`CircuitOpenError` with a retry time."""
        refused: datetime | None = None
        is_probe = False
        with self.book.transaction(key) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if st is None or st.state is BreakerStatus.CLOSED:
                pass
            elif st.state is BreakerStatus.OPEN and now < _must(st.open_until):
                refused = _must(st.open_until)
            elif (st.state is BreakerStatus.HALF_OPEN and st.probe_owner
                  and st.probe_owner != self.owner and st.probe_until and st.probe_until > now):
                # Someone else is probing; look again when its lease ends, or sooner.
                refused = min(st.probe_until, now + timedelta(seconds=self.cfg.reset_timeout))
            else:
                if st.state is BreakerStatus.OPEN:
                    self._move(book, st, BreakerStatus.HALF_OPEN, now, "reset timeout passed")
                    st.successes = 0
                st.probe_owner = self.owner
                st.probe_until = now + timedelta(seconds=self.cfg.probe_lease)
                st.updated_at = now
                book.dirty = True
                is_probe = True
        self._notify(book)
        if refused is not None:
            raise CircuitOpenError(key, refused)
        return Admission(key, is_probe, book.transitions[0] if book.transitions else None)

    def record_success(self, key: str) -> BreakerTransition | None:
        """A call for ``key`` succeeded: resets the failure run, or counts towards closing."""
        with self.book.transaction(key) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if st is None:
                pass
            elif st.state is BreakerStatus.CLOSED and st.failures:
                st.failures = 0
                st.updated_at = now
                book.dirty = True
            elif st.state is BreakerStatus.HALF_OPEN:
                st.successes += 1
                if st.probe_owner == self.owner:
                    st.probe_owner, st.probe_until = None, None
                if st.successes >= self.cfg.success_threshold:
                    self._move(book, st, BreakerStatus.CLOSED, now,
                               f"{st.successes} successful probe(s)")
                    _clear(st)
                st.updated_at = now
                book.dirty = True
            # A success while open came from a call admitted before it opened: no news.
        return self._notify(book)

    def record_failure(self, key: str, error_class: ErrorClass | str) -> BreakerTransition | None:
        """A call for ``key`` failed with ``error_class``; countable ones may open the breaker."""
        klass = ErrorClass(error_class)
        with self.book.transaction(key, create=klass.trips_breaker) as book:
            now = self.clock.now()
            st = book.states.get(key)
            if not klass.trips_breaker:
                # Not about availability, but free the probe so the next caller need not wait.
                if st is not None and st.probe_owner == self.owner:
                    st.probe_owner, st.probe_until = None, None
                    st.updated_at = now
                    book.dirty = True
            else:
                if st is None:
                    st = book.states[key] = BreakerState(key)
                st.failures += 1
                st.last_error_class = klass.value
                st.updated_at = now
                book.dirty = True
                if (st.state is BreakerStatus.CLOSED
                        and st.failures >= self.cfg.failure_threshold):
                    self._open(book, st, now, f"{st.failures} consecutive failures, "
                                              f"the last one {klass.value}")
                elif st.state is BreakerStatus.HALF_OPEN:
                    self._open(book, st, now, f"the probe failed ({klass.value})")
        return self._notify(book)

    def states(self) -> list[BreakerState]:
        """Every known breaker, sorted by key; reads without the lock (the file is atomic)."""
        return self.book.load()

    def reset(self, key: str) -> BreakerTransition | None:
        """Close ``key`` by hand (``ingestctl breaker reset KEY``) and forget its history."""
        with self.book.transaction(key) as book:
            st = book.states.pop(key, None)
            if st is not None:
                book.dirty = True
                if st.state is not BreakerStatus.CLOSED:
                    self._move(book, st, BreakerStatus.CLOSED, self.clock.now(), "reset by hand")
        return self._notify(book)

    def reset_all(self) -> list[BreakerTransition]:
        """Close every breaker by hand; returns the transitions of those that were not closed."""
        with self.book.transaction(None) as book:
            now = self.clock.now()
            for st in book.states.values():
                if st.state is not BreakerStatus.CLOSED:
                    self._move(book, st, BreakerStatus.CLOSED, now, "reset by hand")
            book.dirty = book.dirty or bool(book.states)
            book.states.clear()
        self._notify(book)
        return book.transitions

    def _open(self, book: _Book, st: BreakerState, now: datetime, reason: str) -> None:
        self._move(book, st, BreakerStatus.OPEN, now, reason)
        st.opened_at = now
        st.open_until = now + timedelta(seconds=self.cfg.reset_timeout)
        st.successes = 0
        st.probe_owner, st.probe_until = None, None

    def _move(self, book: _Book, st: BreakerState, new: BreakerStatus, now: datetime,
              reason: str) -> None:
        book.transitions.append(BreakerTransition(st.key, st.state, new, now, reason))
        st.state = new

    def _notify(self, book: _Book) -> BreakerTransition | None:
        # Called after the lock is released: a slow callback must not block other processes.
        if self.on_transition is not None:
            for transition in book.transitions:
                self.on_transition(transition)
        return book.transitions[-1] if book.transitions else None


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


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _write(path: Path, states: dict[str, BreakerState]) -> None:
    payload = {"version": FORMAT_VERSION,
               "breakers": {key: states[key].to_json() for key in sorted(states)}}
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


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"bad counter {value!r}")
    return value


def _must(moment: datetime | None) -> datetime:
    if moment is None:  # pragma: no cover - from_json rejects an open entry without it
        raise ValueError("open breaker without open_until")
    return moment


def _clear(st: BreakerState) -> None:
    st.failures = st.successes = 0
    st.opened_at = st.open_until = None
    st.probe_owner = st.probe_until = None
