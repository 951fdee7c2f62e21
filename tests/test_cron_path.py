"""The cron path: global options after the command, and every `schedule crontab` line run the
way cron runs it (`/bin/sh -c LINE`, only PATH=/usr/bin:/bin, HOME and SHELL, from `/`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO, invoke, rows, run_cli, spawn_env

SCRIPT = Path(sys.executable).parent / "ingestctl"

IMPORTS = """
[[imports]]
name = "nightly-utc"
url = "{site}"
schedule = "30 2 * * *"
timezone = "UTC"

[[imports]]
name = "berlin"
url = "{site}"
schedule = "0 6 * * mon-fri"
timezone = "Europe/Berlin"
jitter = "2m"

[[imports]]
name = "here"
url = "{site}"
schedule = "@daily"
timezone = "local"

[[imports]]
name = "often"
url = "{site}"
schedule = "every 15m"

[[imports]]
name = "odd"
url = "{site}"
schedule = "every 7m"

[[imports]]
name = "manual"
url = "{site}"
"""


def _setup(tmp_path: Path) -> Path:
    site = tmp_path / "site" / "sitemap.xml"
    site.parent.mkdir()
    shutil.copy(REPO / "samples" / "sitemap.xml", site)
    config = tmp_path / "etc" / "ingestctl.toml"
    config.parent.mkdir()
    config.write_text(IMPORTS.format(site=site), encoding="utf-8")
    return config


def _cron_env(tmp_path: Path) -> dict[str, str]:
    cron_home = tmp_path / "cron-user"
    cron_home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(cron_home), "SHELL": "/bin/sh"}


def _entries(crontab: str) -> list[tuple[str, str]]:
    """(schedule, command) of every active line; cron turns ``\\%`` into ``%``."""
    entries = []
    for line in crontab.splitlines():
        if not line.strip() or line.startswith("#") or "=" in line.split(" ", 1)[0]:
            continue
        fields = line.split(" ", 5)
        entries.append((" ".join(fields[:5]), fields[5].replace("\\%", "%")))
    return entries


def _run_like_cron(command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", command], env=_cron_env(tmp_path), cwd="/",
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not SCRIPT.is_file(), reason="ingestctl is not installed beside python")
def test_every_crontab_line_runs_under_cron_and_prints_nothing(home: Path,
                                                              tmp_path: Path) -> None:
    config = _setup(tmp_path)
    # As a user would: the installed script, the config relative to the working directory,
    # the home from the environment (neither of which cron has).
    generated = subprocess.run([str(SCRIPT), "--config", "etc/ingestctl.toml", "schedule",
                                "crontab"], env=spawn_env(home), cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    entries = _entries(generated.stdout)
    prefix = f"{SCRIPT} -q --config {config} --home {home}"
    assert entries == [
        ("0 0 * * *", f"{prefix} run here"),
        ("30 3 * * *", f"{prefix} prune"),  # [retention] in host time, like `here`
        ("0 6 * * 1-5", f"{prefix} run berlin"),
        ("30 2 * * *", f"{prefix} run nightly-utc"),
        ("*/15 * * * *", f"{prefix} run often"),
    ]
    # Each zone's CRON_TZ comes right before its own group; the local line has none above.
    assert lines.index("CRON_TZ=Europe/Berlin") < lines.index(f"0 6 * * 1-5 {prefix} run berlin")
    assert lines.index("CRON_TZ=UTC") > lines.index(f"0 6 * * 1-5 {prefix} run berlin")
    assert lines.index("CRON_TZ=UTC") < lines.index(f"30 2 * * * {prefix} run nightly-utc")
    assert not any(line.startswith("CRON_TZ=") for line in
                   lines[:lines.index(f"0 0 * * * {prefix} run here")])
    assert f"# {prefix} run odd" in lines  # not for cron: the daemon runs it

    for _, command in entries:
        ran = _run_like_cron(command, tmp_path)
        assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", ""), command
    assert rows(home, "SELECT name, status FROM jobs ORDER BY id") == [
        ("here", "completed"), ("berlin", "completed"), ("nightly-utc", "completed"),
        ("often", "completed")]


def test_crontab_falls_back_to_this_python_when_no_script_is_beside_it(
        home: Path, tmp_path: Path) -> None:
    config = _setup(tmp_path)
    env = spawn_env(home, PATH="/usr/bin:/bin")  # no ingestctl on PATH: `python -m ingestctl`
    generated = subprocess.run([sys.executable, "-m", "ingestctl", "--config", str(config),
                                "schedule", "crontab"], env=env, capture_output=True,
                               text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    [first, *_] = _entries(generated.stdout)
    assert first == ("0 0 * * *", f"{sys.executable} -m ingestctl -q --config {config} "
                                  f"--home {home} run here")
    if os.environ.get("PYTHONPATH") or not SCRIPT.is_file():
        pytest.skip("this interpreter imports ingestctl only through PYTHONPATH")
    ran = _run_like_cron(first[1], tmp_path)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
    assert rows(home, "SELECT name, status FROM jobs") == [("here", "completed")]


@pytest.mark.parametrize("args", [
    ("run", "here", "-q"),
    ("run", "here", "--quiet", "--config", "{config}"),
    ("run", "here", "--config={config}", "-q"),
])
def test_global_options_after_the_command(home: Path, tmp_path: Path,
                                          args: tuple[str, ...]) -> None:
    config = _setup(tmp_path)
    words = [a.format(config=config) for a in args]
    if "--config" not in " ".join(words):
        words = ["--config", str(config), *words]
    proc = run_cli(home, *words)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert rows(home, "SELECT name, status FROM jobs") == [("here", "completed")]


def test_home_and_verbosity_after_a_subcommand(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    listed = invoke("jobs", "list", "--json", "--home", str(other), "-v")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout == "[]\n"
    assert (other / "ingestctl.db").exists()


def test_an_option_after_double_dash_is_not_moved(home: Path) -> None:
    result = invoke("run", "sitemap", "--", "-q")
    assert result.exit_code == 2
    assert "-q" in result.stderr
