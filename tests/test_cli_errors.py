"""Bad input gets one clear line and a documented exit code, and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import invoke, run_cli


def test_run_sitemap_without_target_is_usage_error(home: Path) -> None:
    result = invoke("run", "sitemap")
    assert result.exit_code == 2
    assert result.stderr == ("ingestctl: error: run sitemap needs a URL or a file path; "
                             "e.g. `ingestctl run sitemap https://example.com/sitemap.xml`\n")


def test_missing_file_is_usage_error_and_creates_no_job(home: Path, tmp_path: Path) -> None:
    result = invoke("run", "sitemap", "missing.xml")
    assert result.exit_code == 2
    assert result.stderr == (f"ingestctl: error: sitemap file not found: "
                             f"{tmp_path / 'missing.xml'}\n")
    assert not (home / "ingestctl.db").exists()


def test_unknown_source_names_the_choices(home: Path) -> None:
    result = invoke("run", "ftp-thing")
    assert result.exit_code == 2
    assert result.stderr == ("ingestctl: error: unknown source or import 'ftp-thing'; sources: "
                             "sitemap, merchant, search-console; imports: none configured\n")


def test_unsupported_scheme(home: Path) -> None:
    result = invoke("run", "sitemap", "ftp://example.com/sitemap.xml")
    assert result.exit_code == 2
    assert result.stderr == ("ingestctl: error: unsupported URL scheme 'ftp' in "
                             "'ftp://example.com/sitemap.xml'; use http://, https:// or a "
                             "local file path\n")


def test_unknown_option_is_one_line_exit_2(home: Path) -> None:
    proc = run_cli(home, "run", "sitemap", "x.xml", "--bogus")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("ingestctl: error: no such option '--bogus' for 'run'; see "
                           "`ingestctl run --help`\n")
    assert not (home / "ingestctl.db").exists()


def test_typos_in_a_real_process_say_what_was_meant(home: Path) -> None:
    proc = run_cli(home, "jbos", "list")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "ingestctl: error: no such command 'jbos'; did you mean 'jobs'?\n"


@pytest.mark.parametrize(("args", "line"), [
    (["jobs", "lsit"], "no such command 'jobs lsit'; did you mean 'jobs list'?"),
    (["dlq", "retyr"], "no such command 'dlq retyr'; did you mean 'dlq retry'?"),
    (["xyzzy"], "no such command 'xyzzy'; see `ingestctl --help`"),
    (["jobs", "list", "--stauts", "failed"],
     "no such option '--stauts' for 'jobs list'; did you mean '--status'?"),
    (["--verbos", "jobs", "list"], "no such option '--verbos'; did you mean '--verbose'?"),
    (["schedule", "list", "--rusn", "3"],
     "no such option '--rusn' for 'schedule list'; did you mean '--runs'?"),
    (["breaker", "list", "--bogus"],
     "no such option '--bogus' for 'breaker list'; see `ingestctl breaker list --help`"),
    (["jobs", "show"], "jobs show: missing argument 'job_id'; see `ingestctl jobs show --help`"),
    (["jobs", "show", "abc"], "jobs show: invalid value for 'job_id': 'abc' is not a valid "
                              "integer; see `ingestctl jobs show --help`"),
    (["jobs", "list", "--status", "faild"], "jobs list: invalid value for '--status': 'faild' "
     "is not one of 'pending', 'processing', 'completed', 'retrying', 'failed'; did you mean "
     "'failed'?"),
    (["jobs", "show", "1", "2"], "jobs show: got unexpected extra argument(s) (2); see "
                                 "`ingestctl jobs show --help`"),
])
def test_every_usage_error_is_one_line_exit_2(home: Path, args: list[str], line: str) -> None:
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"ingestctl: error: {line}\n"


def test_a_bare_group_still_shows_its_help(home: Path) -> None:
    result = invoke("jobs")
    assert result.exit_code == 2
    assert "Usage: root jobs [OPTIONS] COMMAND" in result.stdout  # CliRunner names it root


@pytest.mark.parametrize(("args", "line"), [
    (("run", "sitemap", "https://127.0.0.1:9/s.xml", "--site", "x", "--start-date", "nonsense"),
     "--site, --start-date do not apply to `run sitemap`; --site, --start-date go with "
     "`run search-console`"),
    (("run", "merchant", "--account", "1", "--provisional"),
     "--provisional does not apply to `run merchant`; --provisional goes with "
     "`run search-console`"),
    (("run", "search-console", "--site", "sc-domain:x.example", "--account", "1"),
     "--account does not apply to `run search-console`; --account goes with `run merchant`"),
    (("run", "shop", "--start-date", "2026-01-01", "--end-date", "2026-01-02"),
     "--start-date, --end-date do not apply to `run shop`; --start-date, --end-date go with "
     "`run search-console`"),
    (("run", "shop", "--name", "other"),
     "import 'shop' is configured; --name applies to ad-hoc runs only"),
    (("run", "gsc", "--start-date", "nonsense", "--end-date", "2026-01-02"),
     "--start-date must be a date as YYYY-MM-DD, got 'nonsense'"),
    (("jobs", "list", "--source", "foo"),
     "--source 'foo' is not a source; sources: sitemap, merchant, search-console"),
    (("jobs", "list", "--source", "sitemaps"),
     "--source 'sitemaps' is not a source; did you mean sitemap? sources: sitemap, merchant, "
     "search-console"),
    (("dlq", "retry", "--all", "--source", "merchnt"),
     "--source 'merchnt' is not a source; did you mean merchant? sources: sitemap, merchant, "
     "search-console"),
    (("dlq", "list", "--error-class", "nope"),
     "dlq list: invalid value for '--error-class': 'nope' is not one of 'transient', "
     "'rate_limited', 'quota_exhausted', 'auth', 'not_found', 'data', 'config', 'crashed', "
     "'circuit_open'; see `ingestctl dlq list --help`"),
    (("dlq", "list", "--error-class", "transiant"),
     "dlq list: invalid value for '--error-class': 'transiant' is not one of 'transient', "
     "'rate_limited', 'quota_exhausted', 'auth', 'not_found', 'data', 'config', 'crashed', "
     "'circuit_open'; did you mean 'transient'?"),
], ids=["sitemap-with-search-console-options", "merchant-with-provisional",
        "search-console-with-account", "configured-sitemap-with-dates", "configured-with-name",
        "configured-search-console-dates-are-checked", "unknown-source", "source-typo",
        "dlq-source-typo", "unknown-error-class", "error-class-typo"])
def test_options_that_do_not_apply_or_do_not_exist_are_one_usage_line(
        home: Path, tmp_path: Path, args: tuple[str, ...], line: str) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[[imports]]\nname = "shop"\nurl = "https://127.0.0.1:9/s.xml"\n'
                      '[[imports]]\nname = "gsc"\nsource = "search-console"\n'
                      'site = "sc-domain:x.example"\n')
    proc = run_cli(home, "--config", str(config), *args)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"ingestctl: error: {line}\n", "")
    assert not (home / "ingestctl.db").exists() or args[0] != "run"


def test_jobs_show_unknown_id_is_exit_1(home: Path) -> None:
    result = invoke("jobs", "show", "999")
    assert result.exit_code == 1
    assert result.stderr == ("ingestctl: error: no job with id 999; see `ingestctl jobs list`\n")


def test_jobs_list_bad_since(home: Path) -> None:
    result = invoke("jobs", "list", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert result.stderr == ("ingestctl: error: --since 'yesterday-ish': expected a duration "
                             "such as 24h or a date such as 2026-01-31\n")


def test_malformed_local_sitemap_is_a_data_failure_naming_the_line(home: Path,
                                                                   corpus: Path) -> None:
    bad = (corpus / "sitemapjs" / "unescaped-lt.xml").resolve()  # paths are stored resolved
    result = invoke("run", "sitemap", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"ingestctl: error: job 1 failed after 1 attempt(s): data: "
                                    f"{bad}:")
    assert "dead-letter queue (`ingestctl jobs show 1`, `ingestctl retry 1`)" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unwritable_home_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(blocker / "home", "jobs", "list")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ingestctl: error: ")
    assert "Traceback" not in proc.stderr


def test_retries_are_announced_on_a_terminal_only(capsys) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from ingestctl.cli.progress import announce_retries
    from ingestctl.events import Event, EventBus, EventKind

    bus = EventBus()
    announce_retries(bus)
    bus.emit(Event(EventKind.JOB_RETRYING, datetime(2026, 1, 1, tzinfo=UTC), 7, "k", {
        "attempt": 1, "error_class": "transient", "message": "HTTP 503",
        "next_attempt_at": "2026-01-01T00:00:05.000000Z"}))
    bus.emit(Event(EventKind.JOB_COMPLETED, datetime(2026, 1, 1, tzinfo=UTC), 7, "k", {}))
    assert capsys.readouterr().err.replace("\n", "") == (
        "job 7: attempt 1 failed (transient: HTTP 503); next attempt at 2026-01-01T00:00:05Z")
