"""Rendering shared by commands: JSON to stdout, messages to stderr, job tables."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from ingestctl.models import Job

# Piped or under cron there is no terminal width to honour; 80 columns would cut tables.
_WIDTH = None if sys.stdout.isatty() else 160
stdout = Console(soft_wrap=True, width=_WIDTH)
stderr = Console(stderr=True, soft_wrap=True)

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
