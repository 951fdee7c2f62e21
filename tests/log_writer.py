"""A process that writes numbered log lines through ingestctl's logging setup (rotation tests).

    python -m tests.log_writer CONFIG HOME NAME COUNT
"""

from __future__ import annotations

import logging
import sys

from ingestctl.cli.state import AppState


def main() -> None:
    config, home, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    AppState(config_option=config, home_option=home).setup_logging()
    log = logging.getLogger("ingestctl.test")
    padding = "x" * 150  # long lines make a torn write visible
    for number in range(count):
        log.info("%s %d %s", name, number, padding, extra={"job_id": number})


if __name__ == "__main__":
    main()
