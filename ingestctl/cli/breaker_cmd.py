"""``ingestctl breaker list`` and ``ingestctl breaker reset``."""

from __future__ import annotations

import logging

import typer
from rich.text import Text

from ingestctl.cli.output import emit_json, message, stdout
from ingestctl.cli.state import state
from ingestctl.cli.tables import TZ_OPTION, Column, Listing, print_listing, zone
from ingestctl.errors import UsageError
from ingestctl.events import Event, EventKind
from ingestctl.resilience.admin import list_breakers, reset_all_breakers, reset_breaker
from ingestctl.resilience.breaker_state import BreakerTransition

log = logging.getLogger("ingestctl.breaker")

app = typer.Typer(help="Circuit breakers (shared by every process through breakers.json, or "
                       "the database with [store] url).",
                  no_args_is_help=True)

_STYLE = {"closed": "green", "open": "red", "half_open": "yellow"}


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
    tz: str | None = TZ_OPTION,
) -> None:
    """List every circuit breaker with its state, failures, reopen time and probe owner."""
    st = state(ctx)
    st.setup_logging()  # a corrupt file is reported through the log
    states = list_breakers(st.breaker_book())
    if as_json:
        emit_json([s.to_json() for s in states])
        return
    if not states:
        stdout.print("no circuit breakers")
        return
    shown_in = zone(tz, st.config.display.tz)
    # KEY is copied into `breaker reset`: it is never cut (other columns drop first).
    listing = Listing([
        Column("KEY", cut="never"),
        Column("STATE", cut="never"),
        Column("FAILURES", priority=3, cut="never", justify="right"),
        Column(shown_in.header("OPEN UNTIL"), priority=2, cut="never", hide_empty=True),
        Column("PROBE OWNER", priority=4, cut="middle", hide_empty=True),
        Column("LAST ERROR", priority=1, cut="never", hide_empty=True),
    ])
    for s in states:
        listing.add(s.key, Text(s.state.value, style=_STYLE.get(s.state.value, "")),
                    str(s.failures), shown_in.short(s.open_until), s.probe_owner,
                    s.last_error_class)
    print_listing(listing)


@app.command("reset")
def reset_cmd(
    ctx: typer.Context,
    key: str | None = typer.Argument(None, metavar="KEY",
                                     help="The breaker key, as `breaker list` shows it."),
    reset_all: bool = typer.Option(False, "--all", help="Reset every breaker."),
) -> None:
    """Close a circuit breaker by hand (or all of them) and forget its failures."""
    if (key is None) == (not reset_all):
        raise UsageError("breaker reset: give a KEY or --all (not both)")
    st = state(ctx)
    board = st.runner().breakers
    assert board is not None  # AppState.runner always builds one

    def changed(change: BreakerTransition) -> None:
        # The operator asked for it: an event for alerts and metrics, no warning on stderr.
        log.info("circuit breaker %s: %s -> %s (%s)", change.key, change.old.value,
                 change.new.value, change.reason, extra={"console": False})
        st.events.emit(Event(EventKind.BREAKER_CHANGED, change.at, data={
            "key": change.key, "old": change.old.value, "new": change.new.value,
            "reason": change.reason}))

    board.on_transition = changed
    if reset_all:
        known, changes = reset_all_breakers(board)
        if not st.quiet:
            message(f"reset {known} circuit breaker(s); {len(changes)} were not closed")
        return
    assert key is not None
    change = reset_breaker(board, key)
    if not st.quiet:
        was = change.old.value if change is not None else "closed"
        message(f"circuit breaker {key} reset (was {was})")
