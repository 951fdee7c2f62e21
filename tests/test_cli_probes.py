"""The probes' path without Typer (cli/probes.py) prints exactly what the Typer path prints.

Each case runs ``ingestctl`` as a process twice: as installed (``python -m ingestctl``, which
answers plain probe arguments itself) and through the Typer application alone. Exit code,
stderr and stdout must be the same, timestamps aside; arguments that are not a plain form
must reach Typer (its usage errors, its help).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingestctl.cli.probes import plain_probe, run_plain
from tests.cli import spawn_env
from tests.monitoring_helpers import standard, write_config

TYPER_ONLY = ("import sys; sys.argv = ['ingestctl', *sys.argv[1:]]; "
              "from ingestctl.cli.app import main; main()")
# What changes from one run to the next: times, ages (seconds with decimals, or spans such as
# "58m 45s") and the free space of a busy disk.
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z|\d+\.\d+|\d+ ?[kKMGT]i?B free"
                   r"|free_bytes\W+\d+|\b\d+(?:ms|[smhd])\b")
# Table columns are as wide as what they hold, which the masked values change.
PADDING = re.compile(r"[\s\u2500-\u257f]+")


def both_paths(home: Path, *args: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(code, stdout, stderr) of the installed entry point, then of Typer alone."""
    runs = []
    for argv in ([sys.executable, "-m", "ingestctl", *args],
                 [sys.executable, "-c", TYPER_ONLY, *args]):
        proc = subprocess.run(argv, env=spawn_env(home), capture_output=True, text=True,
                              timeout=60)
        runs.append((proc.returncode, PADDING.sub(" ", STAMP.sub("T", proc.stdout)),
                     proc.stderr))
    return runs[0], runs[1]


@pytest.fixture
def config(home: Path, tmp_path: Path) -> Path:
    standard(home).store.close()
    return write_config(tmp_path / "ingestctl.toml")


@pytest.mark.parametrize("args", [
    ("health",),
    ("health", "--format", "nagios"),
    ("health", "--format=json"),
    ("-q", "health", "--format", "json"),
    ("status", "--json"),
    ("metrics",),
    ("status", "--json", "--quiet"),
])
def test_plain_probes_print_what_typer_prints(home: Path, config: Path,
                                              args: tuple[str, ...]) -> None:
    plain, typer = both_paths(home, "--config", str(config), *args)
    assert plain == typer
    assert plain[1]  # something was printed


def test_options_after_the_command_and_with_equals(home: Path, config: Path) -> None:
    plain, typer = both_paths(home, "health", "--format", "nagios", f"--config={config}",
                              "--home", str(home))
    assert plain == typer
    assert plain[1].startswith("INGESTCTL ")


def test_a_missing_database_and_a_bad_config_answer_alike(home: Path, tmp_path: Path) -> None:
    plain, typer = both_paths(home, "health", "--format", "nagios")
    assert plain == typer
    assert plain[0] == 2 and "no database at" in plain[1]
    bad = tmp_path / "bad.toml"
    bad.write_text("[health\n", encoding="utf-8")
    plain, typer = both_paths(home, "--config", str(bad), "status", "--json")
    assert plain == typer
    assert plain[0] == 78 and plain[2].startswith("ingestctl: error: ")  # EX_CONFIG


def test_metrics_textfile_is_written_by_either_path(home: Path, config: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "ingestctl.prom"
    plain, _ = both_paths(home, "--config", str(config), "metrics", "--textfile", str(out))
    assert plain[0] == 0 and plain[1] == ""
    assert "ingestctl_jobs_total" in out.read_text(encoding="utf-8")
    missing = tmp_path / "nowhere" / "x.prom"
    plain, typer = both_paths(home, "metrics", "--textfile", str(missing))
    assert plain == typer
    assert plain[0] == 1 and plain[2].startswith(f"ingestctl: error: cannot write {missing}")


@pytest.mark.parametrize("args,expected", [
    (["health"], ("health", {})),
    (["--home", "/h", "status", "--json", "-q"],
     ("status", {"--home": "/h", "--json": "1", "-q": "1"})),
    (["metrics", "--textfile=/t.prom"], ("metrics", {"--textfile": "/t.prom"})),
    (["health", "--format", "json", "--config", "/c.toml"],
     ("health", {"--format": "json", "--config": "/c.toml"})),
])
def test_plain_forms_are_recognised(args: list[str],
                                    expected: tuple[str, dict[str, str]]) -> None:
    found = plain_probe(args)
    assert found is not None and (found[0], found[1]) == expected


@pytest.mark.parametrize("args", [
    [], ["status"], ["health", "--help"], ["--version"], ["health", "--format", "bad"],
    ["health", "--format"], ["health", "--format", "json", "--format", "nagios"],
    ["metrics", "--json"], ["status", "--json", "--watch"], ["jobs", "list"],
    ["-v", "health"], ["--json-logs", "metrics"], ["health", "extra"], ["-q", "--quiet", "health"],
    ["--config", "--home", "status", "--json"], ["health", "--", "--format"],
])
def test_anything_else_goes_to_typer(args: list[str]) -> None:
    assert plain_probe(args) is None


def test_typer_still_answers_what_is_not_plain(home: Path, config: Path) -> None:
    plain, typer = both_paths(home, "health", "--format", "bad")
    assert plain == typer
    assert plain[0] == 3 and plain[1].startswith("INGESTCTL UNKNOWN - invalid arguments: ")
    plain, _ = both_paths(home, "metrics", "--bogus")
    assert plain[0] == 2 and "--bogus" in plain[2]


def test_ctrl_c_in_a_plain_probe_is_one_line_as_in_typer(
        home: Path, config: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ingestctl.cli.probes.status_snapshot", interrupted)
    assert run_plain(["--config", str(config), "status", "--json"]) == 1
    assert capsys.readouterr().err == "ingestctl: error: aborted\n"
