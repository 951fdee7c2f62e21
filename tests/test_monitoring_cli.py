"""`health`, `metrics` and `status --json` through the CLI: exit codes, formats, exact samples."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingestctl import __version__
from ingestctl.errors import DataError
from ingestctl.host import hostname
from ingestctl.store.schema import MIGRATIONS
from tests.cli import invoke, rows, run_cli, spawn_env
from tests.monitoring_helpers import FEED, SHOP, crafted, standard, write_config

HEALTHY_CONFIG = """
[[imports]]
name = "shop"
source = "sitemap"
url = "https://shop.example/sitemap.xml"
freshness = "6h"

[alerts.email]
to = ["ops@example.org"]
"""


def healthy(home: Path, completed: int = 2, failed: int = 0) -> None:
    c = crafted(home)
    for _ in range(failed):
        c.run(SHOP, 1, error=DataError("bad"))
    for _ in range(completed):
        c.run(SHOP, 1, items=3)
    c.store.close()


def health(home: Path, tmp_path: Path, *args: str, config: str = HEALTHY_CONFIG
           ) -> tuple[int, str]:
    path = tmp_path / "ingestctl.toml"
    path.write_text(config, encoding="utf-8")
    result = invoke("--config", str(path), "health", *args)
    return result.exit_code, result.stdout


def test_all_well_is_ok(home: Path, tmp_path: Path) -> None:
    healthy(home)
    code, out = health(home, tmp_path, "--format", "nagios")
    assert code == 0, out
    assert out.startswith("INGESTCTL OK - 12 checks OK | 'database:writable'=1;;1:;0;1 ")
    assert "'jobs:success_rate:sitemap'=100%;90:;50:;0;100" in out


def test_open_breaker_is_warning(home: Path, tmp_path: Path) -> None:
    healthy(home)
    (home / "breakers.json").write_text(json.dumps({"version": 1, "breakers": {
        "sitemap:shop.example": {"state": "open", "failures": 5,
                                 "open_until": "2099-01-01T00:00:00.000000Z"}}}))
    code, out = health(home, tmp_path, "--format", "nagios")
    assert (code, out.split(" | ")[0]) == (
        1, "INGESTCTL WARNING - 1 circuit breaker open: sitemap:shop.example; 11 OK")


def test_success_rate_below_90_percent_is_warning(home: Path, tmp_path: Path) -> None:
    healthy(home, completed=9, failed=2)
    config = HEALTHY_CONFIG + "[health]\ndead_letters_warning = 0\ndead_letters_critical = 0\n"
    code, out = health(home, tmp_path, "--format", "nagios", config=config)
    assert (code, out.split(" | ")[0]) == (
        1, "INGESTCTL WARNING - sitemap success rate 81.82% (9/11) over 24h, below 90%; 11 OK")


def test_dead_letters_over_critical_threshold_is_critical(home: Path, tmp_path: Path) -> None:
    healthy(home, completed=30, failed=3)
    config = HEALTHY_CONFIG + "[health]\ndead_letters_critical = 3\n"
    code, out = health(home, tmp_path, "--format", "nagios", config=config)
    assert (code, out.split(" | ")[0]) == (
        2, "INGESTCTL CRITICAL - 3 dead letters in the last 24h; 11 OK")
    assert "'dead_letters:count'=3;@1:;@3:;0" in out


def test_unreadable_store_is_critical(home: Path, tmp_path: Path) -> None:
    home.mkdir(parents=True)
    (home / "ingestctl.db").write_bytes(b"this is not a database at all" * 200)
    code, out = health(home, tmp_path, "--format", "nagios")
    assert (code, out) == (
        2, "INGESTCTL CRITICAL - database unreachable or not writable: file is not a database "
           "| 'database:writable'=0;;1:;0;1\n")


def test_missing_store_is_critical_and_not_created(home: Path, tmp_path: Path) -> None:
    code, out = health(home, tmp_path, "--format", "nagios")
    assert code == 2
    assert out.startswith(f"INGESTCTL CRITICAL - database unreachable or not writable: no "
                          f"database at {home / 'ingestctl.db'} (run an import first)")
    assert not home.exists()


def test_bad_config_and_bad_arguments_are_unknown(home: Path, tmp_path: Path) -> None:
    code, out = health(home, tmp_path, "--format", "nagios", config="[health]\nbogus = 1\n")
    assert code == 3
    assert out.startswith("INGESTCTL UNKNOWN - health check failed: config error: ")
    assert "unknown key" in out and "Traceback" not in out
    code, out = health(home, tmp_path, "--format", "xml")
    assert (code, out) == (3, "INGESTCTL UNKNOWN - invalid arguments: Invalid value for "
                              "'--format': 'xml' is not one of 'text', 'nagios', 'json'.\n")


# Monitoring Plugins guidelines: STATUS - text | 'label'=value[UOM];[warn];[crit];[min];[max]
NUMBER = r"-?\d+(?:\.\d+)?"
RANGE = rf"@?(?:~|{NUMBER})?:?(?:{NUMBER})?"
PERF = rf"'(?:[^']|'')+'={NUMBER}(?:s|us|ms|%|B|KB|MB|TB|c)?(?:;{RANGE}){{0,2}}(?:;{NUMBER}){{0,2}}"
NAGIOS = re.compile(rf"^INGESTCTL (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+?"
                    rf"(?: \| {PERF}(?: {PERF})*)?\n$")


def test_nagios_line_grammar_in_a_real_process(home: Path, tmp_path: Path) -> None:
    c = standard(home)
    c.breaker("sitemap:shop.example", "open")
    c.store.close()
    config = write_config(tmp_path / "ingestctl.toml")
    proc = run_cli(home, "--config", str(config), "health", "--format", "nagios")
    match = NAGIOS.match(proc.stdout)
    assert match, proc.stdout
    assert (match.group(1), proc.returncode, proc.stderr) == ("WARNING", 1, "")
    assert proc.stdout.count("\n") == 1


def test_health_json_shape(home: Path, tmp_path: Path) -> None:
    standard(home).store.close()
    config = write_config(tmp_path / "ingestctl.toml")
    result = invoke("--config", str(config), "health", "--format", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1  # quality error (WARNING) on shop's last run
    assert doc["status"] == "warn" and doc["serviceId"] == "ingestctl"
    assert set(doc["checks"]) == {
        "database:writable", "database:schema", "imports:freshness", "jobs:success_rate",
        "dead_letters:count", "breakers:open", "leases:expired", "quota:used_ratio",
        "scheduler:heartbeat", "alerts:undelivered", "alerts:channels", "quality:errors",
        "schedules:missed"}
    for key, items in doc["checks"].items():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+", key)
        for item in items:
            assert item["status"] in ("pass", "warn", "fail")
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["time"])
            assert set(item) <= {"componentId", "status", "observedValue", "observedUnit",
                                 "output", "time"}
    assert doc["checks"]["quality:errors"] == [
        {"componentId": "shop", "status": "warn", "observedValue": 1,
         "output": doc["checks"]["quality:errors"][0]["output"],
         "time": doc["checks"]["quality:errors"][0]["time"]}]
    assert [i["componentId"] for i in doc["checks"]["imports:freshness"]] == ["shop", "feed"]


def test_health_text_is_a_table(home: Path, tmp_path: Path) -> None:
    healthy(home)
    code, out = health(home, tmp_path)
    assert code == 0
    assert "ingestctl health: OK" in out and "database:writable" in out


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_exact_values_from_the_store(home: Path) -> None:
    c = standard(home)
    c.breaker("sitemap:shop.example", "open")
    shop = c.jobs["shop_ok"].finished_at
    feed = c.jobs["feed"].finished_at
    failed = c.jobs["shop_failed"].finished_at
    c.store.close()
    result = invoke("metrics")
    assert result.exit_code == 0, result.stderr
    got = samples(result.stdout)
    from ingestctl.clock import from_iso

    sitemap_buckets = dict(zip(["1.0", "5.0", "15.0", "60.0", "300.0", "900.0", "1800.0",
                                "3600.0", "+Inf"], [1, 3, 3, 3, 4, 4, 4, 4, 4], strict=True))
    expected = {
        ("ingestctl_jobs_total", (("source", "merchant"), ("status", "completed"))): 1,
        ("ingestctl_jobs_total", (("source", "sitemap"), ("status", "completed"))): 3,
        ("ingestctl_jobs_total", (("source", "sitemap"), ("status", "failed"))): 1,
        ("ingestctl_jobs_unfinished", (("source", "sitemap"), ("status", "processing"))): 1,
        ("ingestctl_jobs_unfinished", (("source", "sitemap"), ("status", "retrying"))): 1,
        **{("ingestctl_job_duration_seconds_bucket", (("le", le), ("source", "sitemap"))): n
           for le, n in sitemap_buckets.items()},
        **{("ingestctl_job_duration_seconds_bucket", (("le", le), ("source", "merchant"))):
           (1 if le == "+Inf" else 0) for le in sitemap_buckets},
        ("ingestctl_job_duration_seconds_count", (("source", "sitemap"),)): 4,
        ("ingestctl_job_duration_seconds_sum", (("source", "sitemap"),)): 75.5,
        ("ingestctl_job_duration_seconds_count", (("source", "merchant"),)): 1,
        ("ingestctl_job_duration_seconds_sum", (("source", "merchant"),)): 4000,
        ("ingestctl_items_imported_total", (("source", "merchant"),)): 5,
        ("ingestctl_items_imported_total", (("source", "sitemap"),)): 60,
        ("ingestctl_retries_total", (("error_class", "transient"), ("source", "sitemap"))): 4,
        ("ingestctl_dead_letters", ()): 1,
        ("ingestctl_last_success_timestamp_seconds", (("import", "shop"),)):
            from_iso(shop).timestamp(),  # type: ignore[union-attr]
        ("ingestctl_last_success_timestamp_seconds", (("import", "feed"),)):
            from_iso(feed).timestamp(),  # type: ignore[union-attr]
        ("ingestctl_last_failure_timestamp_seconds", (("import", "shop"),)):
            from_iso(failed).timestamp(),  # type: ignore[union-attr]
        ("ingestctl_circuit_breaker_open", (("key", "sitemap:shop.example"),)): 1,
        ("ingestctl_api_requests_total", (("api", "merchant"), ("code", "200"))): 40,
        ("ingestctl_api_requests_total", (("api", "merchant"), ("code", "429"))): 2,
        ("ingestctl_quality_violations_total", (("rule", "missing_lastmod"),
                                                ("severity", "warning"))): 7,
        ("ingestctl_alerts_total", (("channel", "email"), ("outcome", "sent"))): 2,
        ("ingestctl_job_success_ratio", (("source", "merchant"),)): 1.0,
        ("ingestctl_job_success_ratio", (("source", "sitemap"),)): 0.75,
        ("ingestctl_database_schema_version", ()): len(MIGRATIONS),
        # The processing job's lease owner is "test:..."; the serving process is this host's.
        ("ingestctl_jobs_running", (("host", "test"),)): 1,
        ("ingestctl_info", (("backend", "sqlite"), ("host", hostname()),
                            ("version", __version__))): 1,
    }
    assert got == expected


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed; CI installs it")
def test_metrics_pass_promtool(home: Path) -> None:
    standard(home).store.close()
    out = invoke("metrics").stdout
    assert PROMTOOL is not None
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=out, capture_output=True,
                           text=True, timeout=30)
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")


def test_metrics_textfile_written_atomically(home: Path, tmp_path: Path) -> None:
    standard(home).store.close()
    target = tmp_path / "collector" / "ingestctl.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    result = invoke("metrics", "--textfile", str(target))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert target.read_text() == invoke("metrics").stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["ingestctl.prom"]
    missing = invoke("metrics", "--textfile", str(tmp_path / "nope" / "x.prom"))
    assert (missing.exit_code, missing.stderr) == (
        1, f"ingestctl: error: cannot write {tmp_path / 'nope' / 'x.prom'}: "
           "No such file or directory; check the directory exists and is writable\n")


def test_metrics_and_status_without_a_store_create_nothing(home: Path) -> None:
    result = invoke("metrics")
    assert result.exit_code == 0
    assert samples(result.stdout) == {("ingestctl_dead_letters", ()): 0}
    status = invoke("status", "--json")
    data = json.loads(status.stdout)
    assert (data["database_exists"], data["sources"], data["running"]) == (False, [], [])
    assert not home.exists()


def test_status_json_matches_the_store(home: Path, tmp_path: Path) -> None:
    c = standard(home)
    news = c.jobs["news"].id
    c.store.close()
    config = write_config(tmp_path / "ingestctl.toml")
    result = invoke("--config", str(config), "status", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(r["id"], r["name"], r["items"], r["current"]) for r in data["running"]] == [
        (news, "news", 42, "https://news.example/s-2.xml")]
    assert data["queue"]["total"] == 1 and data["dead_letters"]["total"] == 1
    assert [s["name"] for s in data["schedules"]] == ["shop", "feed"]
    assert all(s["next_run"] is None for s in data["schedules"])  # no scheduler published one


def test_status_option_errors(home: Path) -> None:
    both = invoke("status", "--json", "--watch")
    assert (both.exit_code, both.stderr) == (
        2, "ingestctl: error: --json and --watch cannot be combined\n")
    bad = invoke("status", "--watch", "--interval", "soon")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("ingestctl: error: --interval 'soon': expected a duration")


HEAVY = ("httpx", "lxml", "apscheduler", "tenacity", "sqlite_utils", "pydantic",
         "ingestctl.sources", "ingestctl.jobs.runner", "ingestctl.jobs.queue")


# Each probe loads only its own model, and none loads logging.handlers (only a log record
# written with rotation = "logrotate" needs it), the job models or the dead-letter and
# scheduling queries (store.monitoring has the probes' own); only metrics loads tempfile
# (the textfile writer), as breakers.json writers do. None loads prometheus_client, whose
# package brings an HTTP server, TLS and urllib.request (monitoring/metrics/exposition.py).
_HEALTH, _STATUS = "ingestctl.monitoring.health.evaluate", "ingestctl.monitoring.status"


@pytest.mark.parametrize("args,allowed,absent", [
    (("health", "--format", "nagios"), (), (_STATUS, "tempfile")),
    (("health", "--format", "json"), (), (_STATUS, "tempfile")),
    (("status", "--json"), (), ("tempfile",)),
    (("metrics",), (), (_STATUS, _HEALTH)),
])
def test_read_paths_import_nothing_heavy(home: Path, tmp_path: Path, args: tuple[str, ...],
                                         allowed: tuple[str, ...],
                                         absent: tuple[str, ...]) -> None:
    standard(home).store.close()
    config = write_config(tmp_path / "ingestctl.toml")
    probe = ("import json, runpy, sys\n"
             f"sys.argv = ['ingestctl', '--config', {str(config)!r}, *{list(args)!r}]\n"
             "try:\n    runpy.run_module('ingestctl', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "sys.stderr.write(json.dumps(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=spawn_env(home),
                          capture_output=True, text=True, timeout=60)
    loaded = json.loads(proc.stderr)
    heavy = [m for m in loaded for n in (*HEAVY, "rich", "prometheus_client")
             if (m == n or m.startswith(n + ".")) and n not in allowed]
    assert heavy == []
    # Plain probe arguments are answered without Typer (cli/probes.py).
    never = ("logging.handlers", "ingestctl.models.jobs", "ingestctl.store.jobs",
             "ingestctl.store.dead_letters", "ingestctl.store.scheduling", "typer",
             "ingestctl.cli.app", "http.server", "ssl", "urllib.request")
    assert [m for m in (*absent, *never) if m in loaded] == []


def test_read_paths_never_recover_crashed_jobs(home: Path, tmp_path: Path) -> None:
    c = crafted(home)
    job, _ = c.queue.submit(FEED)
    c.queue.claim(job.id)  # claimed an hour ago (fake clock) with a 60 s lease: expired now
    c.store.close()
    # `health` commits its probe row (database:writable) and nothing else.
    query = ("SELECT id, status, attempts, lease_owner FROM jobs UNION ALL "
             "SELECT job_id, number, outcome, finished_at FROM attempts")
    before = rows(home, query)
    for args in (("health", "--format", "nagios"), ("status", "--json"), ("metrics",)):
        invoke(*args)
    data = json.loads(invoke("status", "--json").stdout)
    assert [(r["id"], r["lease_expired"]) for r in data["running"]] == [(job.id, True)]
    assert rows(home, query) == before
