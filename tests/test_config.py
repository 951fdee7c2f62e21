"""Config loading, validation and the `config` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingestctl.config_file import load_config, redacted
from ingestctl.errors import ConfigError
from tests.cli import invoke


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_follow_the_design(home: Path) -> None:
    config = load_config(None, environ={})
    assert config.retry.attempts == 3 and config.retry.max_delay == 30.0
    assert config.jobs.retry_delays == [5.0, 10.0, 20.0]
    assert config.jobs.max_inline_wait == 60.0
    assert config.breaker.failure_threshold == 5 and config.breaker.reset_timeout == 60.0
    assert config.sitemap.max_bytes_per_file == 50_000_000


def test_file_and_environment_override_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[retry]\nattempts = 5\nmax_delay = "2m"\n'
                 '[jobs]\nretry_delays = ["1s", "500ms"]\n')
    config = load_config(path, environ={"INGESTCTL_RETRY__ATTEMPTS": "7",
                                        "INGESTCTL_ALERTS__EMAIL__SMTP_PORT": "2525"})
    assert config.retry.attempts == 7
    assert config.retry.max_delay == 120.0
    assert config.jobs.retry_delays == [1.0, 0.5]
    assert config.alerts.email.smtp_port == 2525


@pytest.mark.parametrize(("text", "expected"), [
    ("[retry]\nattempts = \"many\"\n",
     "config error: {path}: retry.attempts: found 'many': expected a whole number"),
    ("[retry]\nattemps = 3\n",
     "config error: {path}: retry.attemps: unknown key (allowed here: attempts, "
     "initial_delay, max_delay, multiplier, retry_after_cap)"),
    ("[jobs]\nmax_inline_wait = \"soon\"\n",
     "config error: {path}: jobs.max_inline_wait: found 'soon': expected a duration such as "
     "\"500ms\", \"30s\", \"10m\", \"4h\" or \"30d\""),
    ("[[imports]]\nname = \"a\"\nsource = \"ftp\"\nurl = \"x\"\n",
     "config error: {path}: imports[0].source: found 'ftp': expected one of sitemap, "
     "merchant, search-console"),
    ("[[imports]]\nname = \"a\"\nsource = \"merchant\"\n",
     "config error: {path}: imports[0]: a merchant import needs account"),
    ("[retry\n", "config error: {path}: not valid TOML: "),
])
def test_bad_config_is_one_line_and_exit_78(home: Path, tmp_path: Path, text: str,
                                            expected: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    result = invoke("--config", str(path), "config", "check")
    assert result.exit_code == 78
    line = expected.format(path=path)
    assert result.stderr.startswith(f"ingestctl: error: {line}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_missing_config_file_exit_78(home: Path, tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.toml"), "config", "check")
    assert result.exit_code == 78
    assert result.stderr == (f"ingestctl: error: config error: {tmp_path / 'nope.toml'}: "
                             "file not found; pass --config PATH or create ingestctl.toml\n")


def test_config_found_in_current_directory(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "ingestctl.toml", '[[imports]]\nname = "shop"\nurl = "https://e.com/s.xml"\n')
    result = invoke("config", "check")
    assert result.exit_code == 0
    assert result.stdout == ("config OK: ingestctl.toml; 1 import(s)\n"
                             "alerts: email off; webhook off\n")
    assert result.stderr == ("ingestctl: warning: no alert channel is on: alerts only reach the "
                             "log; set [alerts.email] to = [...] or the environment variable "
                             "INGESTCTL_WEBHOOK_URL\n")


def test_config_show_redacts_secrets(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[alerts.email]\nusername = "bob"\n'
                 'password_env = "MY_PASS"\n')
    result = invoke("--config", str(path), "config", "show", "--json",
                    env={"MY_PASS": "hunter2"})
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["alerts"]["email"]["password_env"] == "MY_PASS"
    assert "hunter2" not in result.stdout
    assert data["retry"]["attempts"] == 3


def test_config_show_prints_durations_as_written_and_reads_back(home: Path,
                                                              tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[alerts]\nrepeat_interval = "4h"\n[jobs]\n'
                 'retry_delays = ["5s", "90s"]\n[status]\nwatch_interval = "500ms"\n'
                 '[[imports]]\nname = "shop"\nurl = "https://e.com/s.xml"\n'
                 'freshness = "36h"\n')
    result = invoke("--config", str(path), "config", "show")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in ('repeat_interval = "4h"', 'retry_delays = ["5s", "90s"]',
                 'watch_interval = "500ms"', 'freshness = "36h"', 'window = "24h"',
                 'default_freshness = "48h"'):
        assert line in lines, result.stdout
    assert "14400" not in result.stdout
    again = write(tmp_path / "again.toml", result.stdout)
    assert redacted(load_config(again)) == redacted(load_config(path))
    shown = json.loads(invoke("--config", str(path), "config", "show", "--json").stdout)
    assert shown["alerts"]["repeat_interval"] == 14400  # JSON keeps seconds for programs


def test_config_error_from_environment(home: Path) -> None:
    result = invoke("config", "check", env={"INGESTCTL_JOBS__MAX_ATTEMPTS": "0"})
    assert result.exit_code == 78
    assert result.stderr == ("ingestctl: error: config error: environment INGESTCTL_*: "
                             "jobs.max_attempts: found '0': expected a whole number >= 1\n")


def test_bad_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "c.toml", "[sitemap]\nconcurrency = -1\n"), environ={})
    assert info.value.key == "sitemap.concurrency"
