"""Rendering shared by commands: JSON to stdout, messages to stderr, job tables."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ingestctl.models.jobs import Job

    stdout: Console
    stderr: Console


def __getattr__(name: str) -> Any:
    """``stdout`` and ``stderr`` Rich consoles, built on first use: Rich is slow to import."""
    if name in ("stdout", "stderr"):
        # Start-up weight: the fast read paths never load Rich (test_monitoring_cli.py).
        from rich.console import Console

        # Piped or under cron there is no terminal width to honour; 80 columns would cut tables.
        width = None if name == "stderr" or sys.stdout.isatty() else 160
        console = Console(stderr=name == "stderr", soft_wrap=True, width=width)
        globals()[name] = console
        return console
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


STATUS_STYLE = {"completed": "green", "failed": "red", "retrying": "yellow",
                "processing": "cyan", "pending": "blue"}


def emit_json(data: Any) -> None:
    """Write machine-readable output to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def message(text: str) -> None:
    """A plain line to stdout (summaries meant for cron mail)."""
    sys.stdout.write(text + "\n")


def error(text: str) -> None:
    """One error line to stderr."""
    sys.stderr.write(f"ingestctl: error: {text}\n")


def jobs_table(jobs: list[Job]) -> Table:
    """A table of jobs for ``jobs list``."""
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("NAME", overflow="ellipsis", no_wrap=True, max_width=32)
    for column in ("SOURCE", "STATUS", "ATTEMPTS"):
        table.add_column(column, no_wrap=True)
    table.add_column("ITEMS", justify="right", no_wrap=True)
    table.add_column("CREATED", no_wrap=True)
    show_errors = any(job.error for job in jobs)
    if show_errors:
        table.add_column("ERROR", overflow="ellipsis", no_wrap=True, max_width=60)
    for job in jobs:
        created = (job.to_json()["created_at"] or "").replace("T", " ")[:16]
        style = STATUS_STYLE.get(job.status.value, "")
        row = [str(job.id), job.name, job.source, f"[{style}]{job.status.value}[/]",
               f"{job.attempts}/{job.max_attempts}", str(job.items), created]
        if show_errors:
            row.append(f"{job.error.error_class}: {job.error.message}" if job.error else "")
        table.add_row(*row)
    return table
