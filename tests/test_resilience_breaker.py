"""The circuit breaker's state machine, its file, and a corrupt file, with a fake clock."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import BreakerConfig
from ingestctl.errors import CircuitOpenError, ErrorClass
from ingestctl.resilience.breaker import BreakerBoard, breaker_key
from ingestctl.resilience.breaker_files import load_states
from ingestctl.resilience.breaker_state import BreakerStatus, BreakerTransition

CFG = BreakerConfig(failure_threshold=3, reset_timeout=60.0, success_threshold=2,
                    probe_lease=30.0)
KEY = "sitemap:example.com"
T = ErrorClass.TRANSIENT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def board(path: Path, clock: FakeClock, owner: str = "a",
          seen: list[BreakerTransition] | None = None) -> BreakerBoard:
    hook = seen.append if seen is not None else None
    return BreakerBoard(path / "breakers.json", CFG, clock, owner=owner, on_transition=hook)


def state_of(b: BreakerBoard, key: str = KEY) -> BreakerStatus:
    return {s.key: s.state for s in b.states()}.get(key, BreakerStatus.CLOSED)


def trip(b: BreakerBoard, n: int = 3) -> None:
    for _ in range(n):
        b.admit(KEY)
        b.record_failure(KEY, T)


def test_missing_file_is_all_closed_and_admits(tmp_path: Path, clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    admission = b.admit(KEY)
    assert admission.allowed and not admission.is_probe and admission.transition is None
    assert b.states() == []
    b.record_success(KEY)
    assert not b.path.exists()  # nothing to remember, nothing written


def test_opens_after_threshold_and_refuses_until_reset_timeout(tmp_path: Path,
                                                               clock: FakeClock) -> None:
    seen: list[BreakerTransition] = []
    b = board(tmp_path, clock, seen=seen)
    trip(b, 2)
    assert state_of(b) is BreakerStatus.CLOSED
    b.admit(KEY)
    transition = b.record_failure(KEY, ErrorClass.RATE_LIMITED)
    assert transition is not None and seen == [transition]
    assert (transition.old, transition.new, transition.at) == (
        BreakerStatus.CLOSED, BreakerStatus.OPEN, clock.now())
    assert transition.reason == "3 consecutive failures, the last one rate_limited"
    (st,) = b.states()
    assert st.state is BreakerStatus.OPEN and st.failures == 3
    assert st.open_until is not None
    assert (st.open_until - clock.now()).total_seconds() == 60.0
    clock.advance(59.9)
    with pytest.raises(CircuitOpenError) as info:
        b.admit(KEY)
    assert info.value.key == KEY and info.value.open_until == st.open_until
    assert info.value.exit_code == 75


def test_non_countable_failures_neither_count_nor_reset(tmp_path: Path,
                                                        clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    trip(b, 2)
    for klass in (ErrorClass.AUTH, ErrorClass.NOT_FOUND, ErrorClass.DATA):
        assert b.record_failure(KEY, klass) is None
    assert b.states()[0].failures == 2
    b.record_failure(KEY, T)
    assert state_of(b) is BreakerStatus.OPEN


def test_success_resets_the_run_of_failures(tmp_path: Path, clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    trip(b, 2)
    b.record_success(KEY)
    trip(b, 2)
    assert state_of(b) is BreakerStatus.CLOSED and b.states()[0].failures == 2


def test_half_open_admits_one_probe_then_closes_after_successes(tmp_path: Path,
                                                                clock: FakeClock) -> None:
    seen: list[BreakerTransition] = []
    a, other = board(tmp_path, clock, "a", seen), board(tmp_path, clock, "b")
    trip(a)
    clock.advance(60)
    probe = a.admit(KEY)
    assert probe.is_probe and probe.transition is not None
    assert probe.transition.new is BreakerStatus.HALF_OPEN
    with pytest.raises(CircuitOpenError) as info:
        other.admit(KEY)
    assert (info.value.open_until - clock.now()).total_seconds() == 30.0  # the probe lease
    assert a.record_success(KEY) is None  # 1 of 2
    second = other.admit(KEY)  # the probe was released: the next caller probes
    assert second.is_probe
    closed = other.record_success(KEY)
    assert closed is not None and (closed.old, closed.new) == (BreakerStatus.HALF_OPEN,
                                                              BreakerStatus.CLOSED)
    assert [t.new for t in seen] == [BreakerStatus.OPEN, BreakerStatus.HALF_OPEN]
    (st,) = a.states()
    assert (st.state, st.failures, st.successes, st.open_until, st.probe_owner) == (
        BreakerStatus.CLOSED, 0, 0, None, None)
    assert not a.admit(KEY).is_probe


def test_probe_failure_reopens(tmp_path: Path, clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    trip(b)
    clock.advance(61)
    b.admit(KEY)
    transition = b.record_failure(KEY, T)
    assert transition is not None and transition.old is BreakerStatus.HALF_OPEN
    assert transition.new is BreakerStatus.OPEN and transition.reason == "the probe failed " \
        "(transient)"
    (st,) = b.states()
    assert st.open_until is not None and (st.open_until - clock.now()).total_seconds() == 60.0
    with pytest.raises(CircuitOpenError):
        b.admit(KEY)


def test_dead_prober_lease_expires(tmp_path: Path, clock: FakeClock) -> None:
    a, other = board(tmp_path, clock, "a"), board(tmp_path, clock, "b")
    trip(a)
    clock.advance(60)
    assert a.admit(KEY).is_probe  # and "a" dies without recording anything
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        other.admit(KEY)
    clock.advance(1)
    assert other.admit(KEY).is_probe
    assert other.states()[0].probe_owner == "b"


def test_probe_with_non_countable_failure_frees_the_probe(tmp_path: Path,
                                                          clock: FakeClock) -> None:
    a, other = board(tmp_path, clock, "a"), board(tmp_path, clock, "b")
    trip(a)
    clock.advance(60)
    a.admit(KEY)
    a.record_failure(KEY, ErrorClass.AUTH)
    assert state_of(a) is BreakerStatus.HALF_OPEN
    assert other.admit(KEY).is_probe


def test_reset_and_reset_all(tmp_path: Path, clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    trip(b)
    b.admit("merchant:42")
    b.record_failure("merchant:42", T)
    transition = b.reset(KEY)
    assert transition is not None and transition.new is BreakerStatus.CLOSED
    assert transition.reason == "reset by hand"
    assert [s.key for s in b.states()] == ["merchant:42"]
    assert b.reset("nope") is None
    assert b.reset_all() == []  # merchant:42 was closed (one failure)
    assert b.states() == [] and b.admit(KEY).is_probe is False


def test_file_shape_and_mode(tmp_path: Path, clock: FakeClock) -> None:
    b = board(tmp_path, clock)
    trip(b)
    data = json.loads(b.path.read_text())
    assert data["version"] == 1
    assert data["breakers"][KEY]["state"] == "open"
    assert data["breakers"][KEY]["open_until"] == "2026-01-01T00:01:00.000000Z"
    assert stat.S_IMODE(b.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(b.book.lock_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breakers.json", "breakers.json.lock"]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"breakers": 3}', "\x00\x01",
                                     '{"version": 1, "breakers": {"k": {"state": "weird"}}}'])
def test_corrupt_file_warns_then_behaves(tmp_path: Path, clock: FakeClock, content: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    b = board(tmp_path, clock)
    b.path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="ingestctl.breaker"):
        assert b.admit(KEY).is_probe is False
    assert len(caplog.records) == 1 and "breakers.json" in caplog.records[0].getMessage()
    assert json.loads(b.path.read_text()) == {"version": 1, "breakers": {}}  # rewritten
    caplog.clear()
    trip(b)
    assert state_of(b) is BreakerStatus.OPEN and caplog.records == []


def test_bad_entry_is_dropped_and_others_kept(tmp_path: Path, clock: FakeClock,
                                              caplog: pytest.LogCaptureFixture) -> None:
    b = board(tmp_path, clock)
    good = {"state": "open", "failures": 5, "open_until": to_iso(clock.now())}
    b.path.write_text(json.dumps({"version": 1, "breakers": {
        "good": good, "bad": {"state": "open", "failures": -1}}}))
    with caplog.at_level(logging.WARNING, logger="ingestctl.breaker"):
        assert [s.key for s in load_states(b.path)] == ["good"]
    assert "is unreadable or invalid (entry 'bad': bad counter -1)" in caplog.text
    assert list(json.loads(b.path.read_text())["breakers"]) == ["good"]  # rewritten
    assert "bad" in json.loads(b.path.with_name("breakers.json.corrupt").read_text())["breakers"]


@pytest.mark.parametrize(("source", "target", "key"), [
    ("sitemap", "https://Shop.Example.com/sitemap.xml", "sitemap:shop.example.com"),
    ("sitemap", "http://127.0.0.1:8080/a.xml", "sitemap:127.0.0.1:8080"),
    ("merchant", "12345", "merchant:12345"),
    ("search-console", "sc-domain:example.com", "search-console:sc-domain:example.com"),
    ("search-console", "https://example.com/", "search-console:https://example.com/"),
])
def test_breaker_key(source: str, target: str, key: str) -> None:
    assert breaker_key(source, target) == key
