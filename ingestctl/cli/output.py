"""Rendering shared by commands: JSON to stdout, messages to stderr, the jobs listing."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ingestctl.redact import redact_data, redact_text

if TYPE_CHECKING:
    from rich.console import Console

    from ingestctl.cli.tables import Listing, Zone
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
    """Write machine-readable output to stdout, every URL in it redacted."""
    sys.stdout.write(json.dumps(redact_data(data), indent=2, default=str) + "\n")


def message(text: str) -> None:
    """A plain line to stdout (summaries meant for cron mail), every URL in it redacted."""
    sys.stdout.write(redact_text(text) + "\n")


def error(text: str) -> None:
    """One error line to stderr, every URL in it redacted."""
    sys.stderr.write(f"ingestctl: error: {redact_text(text)}\n")


def warning(text: str) -> None:
    """One warning line to stderr: something works, but not as a user would expect."""
    sys.stderr.write(f"ingestctl: warning: {text}\n")


def jobs_listing(jobs: list[Job], zone: Zone) -> Listing:
    """The ``jobs list`` table: ID, name and status always; the rest as the width allows."""
    # Start-up weight: this module serves the read paths too, which never load Rich.
    from rich.text import Text

    from ingestctl.cli.tables import Column, Listing

    listing = Listing([
        Column("ID", cut="never", justify="right"),
        Column("NAME", cut="middle", min_width=24, want=32),
        Column("SOURCE", priority=5, cut="never"),
        Column("STATUS", cut="never"),
        Column("ATTEMPTS", priority=3, cut="never"),
        Column("ITEMS", priority=4, cut="never", justify="right"),
        Column(zone.header("CREATED"), priority=1, cut="never"),
        Column("ERROR", priority=2, min_width=16, want=40, hide_empty=True),
    ])
    for job in jobs:
        shown = job.to_json()
        error = shown["error"]
        listing.add(str(job.id), shown["name"], job.source,
                    Text(job.status.value, style=STATUS_STYLE.get(job.status.value, "")),
                    f"{job.attempts}/{job.max_attempts}", f"{job.items:,}",
                    zone.short(job.created_at),
                    f"{error['class']}: {error['message']}" if error else "")
    return listing
