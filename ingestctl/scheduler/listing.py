"""What ``ingestctl schedule list`` and ``schedule crontab`` show, built from config and store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingestctl.clock import iso_out
from ingestctl.config import Config, ImportConfig
from ingestctl.jobs.retention import check_config, retention_schedule
from ingestctl.jobs.spec import spec_for_config
from ingestctl.models.jobs import Job
from ingestctl.redact import redact_target
from ingestctl.scheduler.configured import schedule_of
from ingestctl.scheduler.crontab import CrontabEntry, cli_words, crontab, crontab_command
from ingestctl.scheduler.spec import Schedule
from ingestctl.scheduler.systemd import UnitFile, exec_line, unit_pair
from ingestctl.store import Store
from ingestctl.store import scheduling as sched_store

RETENTION_ENTRY = "prune (retention)"


@dataclass
class ScheduledImport:
    """One configured import with its schedule, next runs, last job and ledger summary."""

    config: ImportConfig
    schedule: Schedule | None
    next_runs: list[datetime] = field(default_factory=list)
    last_job: Job | None = None
    slots: sched_store.SlotSummary | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``schedule list --json`` object."""
        imp, slots, job = self.config, self.slots, self.last_job
        return {
            "name": imp.name,
            "source": imp.source,
            "target": redact_target(imp.target),
            "schedule": imp.schedule or None,
            "description": self.schedule.describe() if self.schedule else None,
            "timezone": imp.timezone,
            "jitter": imp.jitter,
            "misfire_grace": imp.misfire_grace,
            "coalesce": imp.coalesce,
            "next_run": iso_out(self.next_runs[0].isoformat()) if self.next_runs else None,
            "next_runs": [moment.isoformat() for moment in self.next_runs],
            "last_job": None if job is None else {
                "id": job.id, "status": job.status.value,
                "started_at": iso_out(job.started_at), "finished_at": iso_out(job.finished_at)},
            "last_outcome": job.status.value if job else None,
            "missed": slots.missed if slots else 0,
            "slots": {
                "run": slots.run if slots else 0,
                "skipped": slots.skipped if slots else 0,
                "coalesced": slots.coalesced if slots else 0,
                "missed": slots.missed if slots else 0,
                "last_slot": iso_out(slots.last_slot) if slots else None,
                "last_outcome": slots.last_outcome if slots else None,
                "last_missed": iso_out(slots.last_missed) if slots else None,
            },
        }


def schedule_rows(config: Config, store: Store, after: datetime, runs: int = 1
                  ) -> list[ScheduledImport]:
    """A row per configured import; ConfigError when a schedule does not parse."""
    keys = {imp.name: spec_for_config(imp).import_key for imp in config.imports}
    jobs = sched_store.latest_jobs(store, keys.values())
    summaries = sched_store.slot_summaries(store)
    rows = []
    for index, imp in enumerate(config.imports):
        schedule = schedule_of(config, index)
        nexts = schedule.next_runs(after, runs) if schedule else []
        rows.append(ScheduledImport(imp, schedule, nexts, jobs.get(keys[imp.name]),
                                summaries.get(imp.name)))
    return rows


def crontab_block(config: Config, *, program: str | Sequence[str], config_path: str | None,
                  home: str | None) -> tuple[str, int]:
    """The crontab block of every scheduled import and how many imports it has."""
    entries = []
    for index, imp in enumerate(config.imports):
        schedule = schedule_of(config, index)
        if schedule is None:
            continue
        command = crontab_command(imp.name, config=config_path, home=home, program=program)
        entries.append(CrontabEntry(imp.name, schedule, command))
    count = len(entries)
    if count and config.retention.enabled:
        check_config(config)
        command = crontab_command("", config=config_path, home=home, program=program,
                                  args=["prune"])
        entries.append(CrontabEntry(RETENTION_ENTRY, retention_schedule(config), command))
    return crontab(entries), count


def systemd_units(config: Config, *, program: list[str], config_path: str | None, home: str,
                  user: str | None) -> list[UnitFile]:
    """A ``.service``/``.timer`` pair per scheduled import, and one for the daily prune;
    ``program`` is the command that starts ingestctl, as words."""
    units: list[UnitFile] = []
    for index, imp in enumerate(config.imports):
        schedule = schedule_of(config, index)
        if schedule is None:
            continue
        words = [*program, *cli_words(["run", imp.name, "-q"], config=config_path)[1:]]
        units += unit_pair(f"ingestctl-import-{imp.name}",
                           f"ingestctl import {imp.name} ({imp.source})", exec_line(words),
                           schedule, user=user, home=home)
    if units and config.retention.enabled:
        check_config(config)
        words = [*program, *cli_words(["prune", "-q"], config=config_path)[1:]]
        units += unit_pair("ingestctl-prune", "ingestctl prune (retention)", exec_line(words),
                           retention_schedule(config), user=user, home=home)
    return units
