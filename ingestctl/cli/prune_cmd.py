"""``ingestctl prune``: delete old history, then give the space back."""

from __future__ import annotations

import typer

from ingestctl import clock
from ingestctl.cli.output import emit_json, message
from ingestctl.cli.state import state
from ingestctl.errors import UsageError
from ingestctl.jobs.retention import prune as prune_history
from ingestctl.units import format_duration, parse_duration


def _size(count: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} B"


def prune(
    ctx: typer.Context,
    older_than: str | None = typer.Option(
        None, "--older-than", metavar="AGE",
        help="Delete history older than AGE (default: [retention] older_than, 90d)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    vacuum: bool = typer.Option(
        False, "--vacuum", help="Rewrite the whole file (VACUUM) and switch it to incremental "
        "vacuum; for stores created before ingestctl set it. Blocks other writers meanwhile."),
    as_json: bool = typer.Option(False, "--json", help="JSON object on stdout."),
) -> None:
    """Delete finished jobs with their attempts, delivered alerts, schedule-ledger rows and
    inactive dead letters older than the limit; never an active dead letter, nor the newest
    job, success or failure of an import. Then PRAGMA optimize and an incremental vacuum."""
    limit = None
    if older_than is not None:
        try:
            limit = parse_duration(older_than)
        except ValueError as exc:
            raise UsageError(f"--older-than {older_than!r}: {exc}") from None
    st = state(ctx)
    report = prune_history(st.store(), st.config, clock.now(), older_than=limit,
                           dry_run=dry_run, vacuum=vacuum)
    if as_json:
        emit_json(report.to_json())
        return
    if st.quiet:
        return
    verb = "would remove" if dry_run else "removed"
    stamp = report.to_json()["cutoff"]
    message(f"prune: history older than {format_duration(report.older_than)} "
            f"(before {stamp}): {verb} {report.removed.total} row(s)")
    for table, count in report.removed.as_dict().items():
        message(f"  {table:<17} {count:>9}")
    space = report.space
    if space is None:
        message("dry run: nothing was deleted")
        return
    released = (space.free_pages_before - space.free_pages_after) * space.page_size
    kept = space.free_pages_after * space.page_size
    if space.auto_vacuum == "incremental":
        message(f"space: {_size(released)} given back to the file system (incremental vacuum)")
    elif kept:
        message(f"space: {_size(kept)} of free pages stay in the file and are reused for new "
                "rows: this store was created without incremental vacuum; `ingestctl prune "
                "--vacuum` rewrites it once (needs as much free disk as the file, blocks "
                "writers meanwhile)")
