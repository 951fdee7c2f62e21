"""``python -m ingestctl``."""

from ingestctl.cli import main

main()
