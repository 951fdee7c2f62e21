"""What ``ingestctl breaker list/reset`` does: read the breakers, close breakers by hand."""

from __future__ import annotations

from ingestctl.errors import EXIT_FAILED, ErrorClass, IngestError
from ingestctl.resilience.breaker import BreakerBoard
from ingestctl.resilience.breaker_files import BreakerBook
from ingestctl.resilience.breaker_state import BreakerState, BreakerTransition


class UnknownBreaker(IngestError):
    """``breaker reset KEY`` names a key the breaker file does not hold."""

    error_class = ErrorClass.CONFIG
    exit_code = EXIT_FAILED

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no circuit breaker {key!r}", hint="see `ingestctl breaker list`")


def list_breakers(book: BreakerBook) -> list[BreakerState]:
    """Every breaker, by key; a missing or corrupt file lists none (with a warning)."""
    return book.load()


def reset_breaker(board: BreakerBoard, key: str) -> BreakerTransition | None:
    """Close ``key`` and forget its failures; the transition when it was not closed."""
    if key not in {st.key for st in board.states()}:
        raise UnknownBreaker(key)
    return board.reset(key)


def reset_all_breakers(board: BreakerBoard) -> tuple[int, list[BreakerTransition]]:
    """Close and forget every breaker; returns how many there were and the transitions."""
    known = len(board.states())
    return known, board.reset_all()
