"""Write the CLI reference (docs/reference/cli.md) from ``--help``; cog runs it, CI checks it.

    cog -r docs/reference/cli.md        # regenerate after changing a command or its help
    cog --check docs/reference/cli.md   # what CI runs
"""

from __future__ import annotations

from typing import Any

from typer.main import get_command
from typer.testing import CliRunner

from ingestctl.cli.app import app

ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "INGESTCTL_HOME": "/nonexistent"}


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Typer builds on its own copy of click, so groups are recognised by what they can do.
    paths = [prefix]
    if hasattr(command, "list_commands"):
        ctx = command.make_context("ingestctl", ["--help"], resilient_parsing=True)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                paths.extend(_paths(sub, (*prefix, name)))
    return paths


def help_text(path: tuple[str, ...]) -> str:
    """``ingestctl PATH --help`` as a user sees it at 100 columns."""
    result = CliRunner().invoke(app, [*path, "--help"], env=ENV, prog_name="ingestctl")
    lines = [line.rstrip() for line in result.output.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip() + "\n"


def markdown() -> str:
    """The reference: one section per command, each with its help in a code block."""
    out = []
    for path in _paths(get_command(app)):
        title = " ".join(("ingestctl", *path))
        out.append(f"## `{title}`\n\n```text\n{help_text(path)}```\n")
    return "\n".join(out)
