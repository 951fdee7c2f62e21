"""Running ingestctl the way users do: through CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ingestctl.cli.app import app

#: The checkout under test: subprocesses import ingestctl from here, not from wherever the
#: package happens to be installed (an editable install may point at another worktree).
REPO = Path(__file__).resolve().parents[1]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process; stdout and stderr stay separate."""
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


ROOT = Path(__file__).resolve().parents[1]


def spawn_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a subprocess: this interpreter's, an isolated home, no terminal.

    PYTHONPATH puts this checkout first, so a worktree's subprocesses run its own code even
    when another checkout is the one installed in editable mode.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTCTL_")}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update({"INGESTCTL_HOME": str(home), "NO_COLOR": "1", "PYTHONPATH": path, **extra})
    return env


def run_cli(home: Path, *args: str, timeout: float = 120, **extra: str
            ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingestctl ARGS`` to completion."""
    return subprocess.run([sys.executable, "-m", "ingestctl", *args], env=spawn_env(home, **extra),
                          capture_output=True, text=True, timeout=timeout)


def start_cli(home: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    """Start ``python -m ingestctl ARGS`` without waiting."""
    return subprocess.Popen([sys.executable, "-m", "ingestctl", *args],
                            env=spawn_env(home, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def file_modes_bind() -> list[str]:
    """A command prefix under which file modes bind: root ignores them unless ``setpriv``
    drops its override capabilities (the test is skipped when it cannot)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file modes and setpriv is missing")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def jobs_json(home: Path) -> list[dict[str, Any]]:
    """``ingestctl jobs list --json`` parsed."""
    proc = run_cli(home, "jobs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data


def rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query on the home's database, read by a separate connection."""
    with sqlite3.connect(home / "ingestctl.db", timeout=30) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``predicate`` (a store another process writes) until true, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except sqlite3.OperationalError:  # the database is not created or locked yet
            pass
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
