"""The ``ingestctl`` command line: a thin layer that parses, calls the core and renders.

:mod:`.app` is the Typer application. The monitoring probes, run every few seconds, are
answered without loading Typer when their arguments are plain (:mod:`.probes`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    # Start-up weight: the probes' module first; Typer only for what it does not answer.
    from ingestctl.cli.probes import run_plain

    code = run_plain(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from ingestctl.cli.app import main as typer_main

    typer_main()
