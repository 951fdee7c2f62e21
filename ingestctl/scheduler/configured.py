"""The schedules of the configured imports, parsed and validated against the config file.

Kept out of :mod:`ingestctl.config` on purpose: parsing a schedule imports APScheduler, which
read-only commands (``health``, ``status``, ``metrics``) must not load.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingestctl.config import Config, ImportConfig
from ingestctl.scheduler.spec import Schedule, parse_schedule


@dataclass(frozen=True)
class ScheduledImport:
    """A configured import with its parsed schedule."""

    config: ImportConfig
    schedule: Schedule
    index: int

    @property
    def name(self) -> str:
        """The import's configured name."""
        return self.config.name


def schedule_of(config: Config, index: int) -> Schedule | None:
    """The parsed schedule of ``config.imports[index]``; None when it has none.

    ConfigError names the file and the key (``imports[2].schedule``) when it does not parse.
    """
    imp = config.imports[index]
    if not imp.schedule.strip():
        return None
    return parse_schedule(imp.schedule, imp.timezone, imp.jitter,
                          path=str(config.path) if config.path else None,
                          key=f"imports[{index}]")


def scheduled_imports(config: Config) -> list[ScheduledImport]:
    """Every configured import that has a schedule, in config order; ConfigError if one is bad."""
    found: list[ScheduledImport] = []
    for index, imp in enumerate(config.imports):
        schedule = schedule_of(config, index)
        if schedule is not None:
            found.append(ScheduledImport(imp, schedule, index))
    return found
