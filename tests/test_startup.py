"""Start-up weight: each command loads only what it needs.

Every ``# Start-up weight`` comment on an import inside a function points here (or to the
read-path tests in test_monitoring_cli.py): these probes run a command in a fresh interpreter
and list the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO, spawn_env
from tests.monitoring_helpers import SHOP, crafted

# What no command below may load (the heavy libraries and the parts of ingestctl behind them).
HEAVY = ("httpx", "lxml", "apscheduler", "tenacity", "google.auth", "prometheus_client",
         "sqlite_utils", "smtplib", "concurrent_log_handler", "ingestctl.sources",
         "ingestctl.jobs.runner", "ingestctl.alerts.channels")


def loaded_by(home: Path, *args: str) -> tuple[int, list[str]]:
    """The exit code of ``ingestctl ARGS`` and the modules it loaded."""
    probe = ("import json, runpy, sys\n"
             f"sys.argv = ['ingestctl', *{list(args)!r}]\n"
             "code = 0\n"
             "try:\n    runpy.run_module('ingestctl', run_name='__main__')\n"
             "except SystemExit as exc:\n    code = exc.code or 0\n"
             "sys.stderr.write('\\n' + json.dumps([code, sorted(sys.modules)]))\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=spawn_env(home), cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    code, modules = json.loads(proc.stderr.rsplit("\n", 1)[-1])
    return int(code), modules


def heavy(modules: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    """The loaded modules that belong to a heavy name not in ``allowed``."""
    return [m for m in modules for name in HEAVY
            if (m == name or m.startswith(name + ".")) and name not in allowed]


@pytest.fixture
def busy_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    c = crafted(home)
    c.run(SHOP, 1, items=3)
    c.store.close()
    return home


@pytest.mark.parametrize("args", [
    ("jobs", "list", "--json"),
    ("jobs", "show", "1", "--json"),
    ("dlq", "list", "--json"),
    ("alerts", "list", "--json"),
    ("breaker", "list", "--json"),
])
def test_listings_load_nothing_heavy(busy_home: Path, args: tuple[str, ...]) -> None:
    code, modules = loaded_by(busy_home, *args)
    assert code == 0
    assert heavy(modules) == []


def test_a_sitemap_import_loads_no_google_scheduler_or_metrics_code(tmp_path: Path) -> None:
    code, modules = loaded_by(tmp_path / "home", "run", "sitemap",
                              str(REPO / "samples" / "sitemap.xml"))
    assert code == 0
    # A run raises and flushes alerts, so it builds the channels (smtplib with them).
    allowed = ("httpx", "lxml", "tenacity", "sqlite_utils", "ingestctl.sources",
               "ingestctl.jobs.runner", "ingestctl.alerts.channels", "smtplib",
               "concurrent_log_handler")
    assert heavy(modules, allowed) == []
