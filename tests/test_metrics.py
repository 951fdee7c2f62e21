"""Prometheus metrics: exact samples parsed back, promtool, textfile writes, light imports."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from ingestctl import __version__
from ingestctl.monitoring.metrics import (
    DURATION_BUCKETS,
    DurationHistogram,
    MetricsSnapshot,
    bucket_index,
    exposition,
    snapshot_families,
    write_textfile,
)
from ingestctl.monitoring.metrics.exposition import (
    MetricFamily,
    MetricType,
    format_value,
    labelled,
    render,
    single,
)

ROOT = Path(__file__).resolve().parents[1]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, key
            out[key] = s.value
    return out


def families(text: str) -> dict[str, tuple[str, str]]:
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)}


def full_snapshot() -> MetricsSnapshot:
    durations = DurationHistogram()
    for seconds in (0.5, 1, 3, 3, 70, 4000):
        durations.observe(seconds)
    return MetricsSnapshot(
        jobs_total={("sitemap", "completed"): 17, ("sitemap", "failed"): 3,
                    ("merchant", "completed"): 5},
        jobs_unfinished={("sitemap", "retrying"): 2},
        job_durations={"sitemap": durations},
        items_imported_total={"sitemap": 12345, "search-console": 9},
        retries_total={("sitemap", "transient"): 4, ("merchant", "rate_limited"): 1},
        dead_letters=3,
        last_success_timestamp={"shop-sitemap": 1772366400.5},
        last_failure_timestamp={"shop-sitemap": 1772370000.0},
        schedule_missed_slots={"shop-sitemap": 2},
        circuit_breaker_open={"sitemap:shop.example.com": True, "merchant:123": False},
        api_requests_total={("merchant", "200"): 40, ("merchant", "429"): 2},
        api_quota_used_ratio={("merchant", "account-123"): 0.83},
        quality_violations_total={("missing_lastmod", "warning"): 7},
        alerts_total={("email", "sent"): 2, ("webhook", "failed"): 1},
        success_ratio={"sitemap": 0.85},
        scheduler_heartbeat_timestamp=1772366400.0,
    )


EXPECTED: Samples = {
    ("ingestctl_jobs_total", (("source", "merchant"), ("status", "completed"))): 5,
    ("ingestctl_jobs_total", (("source", "sitemap"), ("status", "completed"))): 17,
    ("ingestctl_jobs_total", (("source", "sitemap"), ("status", "failed"))): 3,
    ("ingestctl_jobs_unfinished", (("source", "sitemap"), ("status", "retrying"))): 2,
    **{("ingestctl_job_duration_seconds_bucket", (("le", le), ("source", "sitemap"))): n
       for le, n in [("1.0", 2), ("5.0", 4), ("15.0", 4), ("60.0", 4), ("300.0", 5),
                     ("900.0", 5), ("1800.0", 5), ("3600.0", 5), ("+Inf", 6)]},
    ("ingestctl_job_duration_seconds_count", (("source", "sitemap"),)): 6,
    ("ingestctl_job_duration_seconds_sum", (("source", "sitemap"),)): 4077.5,
    ("ingestctl_items_imported_total", (("source", "search-console"),)): 9,
    ("ingestctl_items_imported_total", (("source", "sitemap"),)): 12345,
    ("ingestctl_retries_total", (("error_class", "rate_limited"), ("source", "merchant"))): 1,
    ("ingestctl_retries_total", (("error_class", "transient"), ("source", "sitemap"))): 4,
    ("ingestctl_dead_letters", ()): 3,
    ("ingestctl_last_success_timestamp_seconds", (("import", "shop-sitemap"),)): 1772366400.5,
    ("ingestctl_last_failure_timestamp_seconds", (("import", "shop-sitemap"),)): 1772370000.0,
    ("ingestctl_schedule_missed_slots", (("import", "shop-sitemap"),)): 2,
    ("ingestctl_circuit_breaker_open", (("key", "merchant:123"),)): 0,
    ("ingestctl_circuit_breaker_open", (("key", "sitemap:shop.example.com"),)): 1,
    ("ingestctl_api_requests_total", (("api", "merchant"), ("code", "200"))): 40,
    ("ingestctl_api_requests_total", (("api", "merchant"), ("code", "429"))): 2,
    ("ingestctl_api_quota_used_ratio", (("api", "merchant"), ("scope", "account-123"))): 0.83,
    ("ingestctl_quality_violations_total", (("rule", "missing_lastmod"),
                                            ("severity", "warning"))): 7,
    ("ingestctl_alerts_total", (("channel", "email"), ("outcome", "sent"))): 2,
    ("ingestctl_alerts_total", (("channel", "webhook"), ("outcome", "failed"))): 1,
    ("ingestctl_job_success_ratio", (("source", "sitemap"),)): 0.85,
    ("ingestctl_scheduler_heartbeat_timestamp_seconds", ()): 1772366400.0,
}


def test_exact_samples_parsed_back() -> None:
    text = exposition(full_snapshot()).decode()
    assert samples(text) == EXPECTED


def test_families_types_and_help() -> None:
    found = families(exposition(full_snapshot()).decode())
    assert {name: kind for name, (kind, _) in found.items()} == {
        "ingestctl_jobs": "counter", "ingestctl_jobs_unfinished": "gauge",
        "ingestctl_jobs_running": "gauge",
        "ingestctl_job_duration_seconds": "histogram",
        "ingestctl_items_imported": "counter", "ingestctl_retries": "counter",
        "ingestctl_dead_letters": "gauge", "ingestctl_last_success_timestamp_seconds": "gauge",
        "ingestctl_last_failure_timestamp_seconds": "gauge",
        "ingestctl_schedule_missed_slots": "gauge",
        "ingestctl_circuit_breaker_open": "gauge", "ingestctl_api_requests": "counter",
        "ingestctl_api_quota_used_ratio": "gauge", "ingestctl_quality_violations": "counter",
        "ingestctl_alerts": "counter", "ingestctl_job_success_ratio": "gauge",
        "ingestctl_scheduler_heartbeat_timestamp_seconds": "gauge"}
    assert all(doc for _, doc in found.values())
    assert found["ingestctl_job_success_ratio"][1] == \
        "Completed / finished jobs of each source over the last 24h."


def test_the_serving_process_names_its_host_on_info_and_pool() -> None:
    snap = MetricsSnapshot(host="db-worker-2", backend="postgres",
                           jobs_running={"db-worker-1": 2, "db-worker-2": 1},
                           database_pool={"open": 3, "idle": 2, "max": 10, "waiting": 0})
    got = samples(exposition(snap).decode())
    assert got[("ingestctl_info", (("backend", "postgres"), ("host", "db-worker-2"),
                                   ("version", __version__)))] == 1
    assert {labels: value for (name, labels), value in got.items()
            if name in ("ingestctl_database_pool_connections", "ingestctl_jobs_running")} == {
        (("host", "db-worker-2"), ("state", "open")): 3,
        (("host", "db-worker-2"), ("state", "idle")): 2,
        (("host", "db-worker-2"), ("state", "max")): 10,
        (("host", "db-worker-2"), ("state", "waiting")): 0,
        (("host", "db-worker-1"),): 2, (("host", "db-worker-2"),): 1}


def test_empty_snapshot() -> None:
    text = exposition(MetricsSnapshot()).decode()
    assert samples(text) == {("ingestctl_dead_letters", ()): 0}
    # Every family is announced even without samples, so dashboards see the names.
    assert "# TYPE ingestctl_jobs_total counter" in text
    assert "# TYPE ingestctl_job_duration_seconds histogram" in text
    assert "scheduler_heartbeat" not in text


def test_label_values_are_escaped() -> None:
    snap = MetricsSnapshot(circuit_breaker_open={'odd "key"\\with\nnewline': True})
    assert samples(exposition(snap).decode())[
        ("ingestctl_circuit_breaker_open", (("key", 'odd "key"\\with\nnewline'),))] == 1


def test_histogram_filled_by_one_group_by() -> None:
    """The lead's store fills the histogram from one GROUP BY over the bucket bounds."""
    durations = [0.2, 1.0, 1.5, 14.9, 15.0, 59, 61, 299, 301, 899, 901, 1799, 1801, 3599,
                 3601, 86400]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE jobs (source TEXT, seconds REAL)")
    db.executemany("INSERT INTO jobs VALUES (?, ?)",
                   [("sitemap", d) for d in durations] + [("merchant", 2.0)])
    finite = [b for b in DURATION_BUCKETS if b != float("inf")]
    case = " ".join(f"WHEN seconds <= {b} THEN {i}" for i, b in enumerate(finite))
    rows = db.execute(f"SELECT source, CASE {case} ELSE {len(finite)} END AS bucket, "
                      "COUNT(*), SUM(seconds) FROM jobs GROUP BY source, bucket").fetchall()
    filled: dict[str, DurationHistogram] = {}
    for source, bucket, count, total in rows:
        filled.setdefault(source, DurationHistogram()).add_bucket(bucket, count, total)
    observed = DurationHistogram()
    for d in durations:
        observed.observe(d)
    assert filled["sitemap"].counts == observed.counts == [2, 1, 2, 1, 2, 2, 2, 2, 2]
    assert filled["sitemap"].sum == pytest.approx(observed.sum) == sum(durations)
    assert [bucket_index(d) for d in (0, 1, 1.01, 3600, 3600.5)] == [0, 0, 1, 7, 8]
    got = samples(exposition(MetricsSnapshot(job_durations=filled)).decode())
    assert got[("ingestctl_job_duration_seconds_bucket", (("le", "+Inf"),
                                                         ("source", "sitemap")))] == 16
    assert got[("ingestctl_job_duration_seconds_count", (("source", "merchant"),))] == 1


# --- the writer against prometheus_client ----------------------------------------------------

class _Oracle:
    """Our families handed to prometheus_client, which writes them with generate_latest."""

    def __init__(self, families: list[MetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        out = []
        for family in self.families:
            # prometheus_client names a counter family without its _total suffix.
            name = family.name.removesuffix("_total") if family.type == "counter" \
                else family.name
            metric = Metric(name, family.help, family.type.value)
            for sample in family.samples:
                metric.add_sample(sample.name, dict(sample.labels), sample.value)
            out.append(metric)
        return out


def reference(families: list[MetricFamily]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Oracle(families))  # type: ignore[arg-type]
    return generate_latest(registry)


def odd_families() -> list[MetricFamily]:
    values = {("a",): 0.0, ("b",): -0.0, ("c",): 1e-9, ("d",): 123456.0, ("e",): 1234567.0,
              ("f",): 12345678.9, ("g",): 1.5e300, ("h",): -2.5e10, ("i",): float("inf"),
              ("j",): float("-inf"), ("k",): float("nan"), ("l",): 2**53, ("m",): 0.1 + 0.2}
    return [
        labelled("odd_gauge", MetricType.GAUGE, "back\\slash and\nnewline", ["v"], values),
        labelled("odd_total", MetricType.COUNTER, "escaped labels", ["b", "a"],
                 {('q"uote', "back\\slash"): 1, ("new\nline", "ünïcødé ✓"): 2}),
        single("odd_single", "", 7),
    ]


@pytest.mark.parametrize("built", [
    lambda: list(snapshot_families(full_snapshot())),
    lambda: list(snapshot_families(MetricsSnapshot())),
    lambda: list(snapshot_families(MetricsSnapshot(
        host="h", backend="postgres", database_pool={"open": 1}, scheduler_leader={"h": 1.0},
        schema_version=31, circuit_breaker_open={'odd "key"\\with\nnewline': True}))),
    odd_families,
], ids=["full", "empty", "pool", "odd"])
def test_writer_matches_prometheus_client_byte_for_byte(built: object) -> None:
    families = built()  # type: ignore[operator]
    assert render(families) == reference(families)


def test_values_formatted_as_prometheus_client_formats_them() -> None:
    values = [0.0, -0.0, 1.0, 0.5, 1e-300, 5e-324, 1e6, 9999999.0, 1e7, 123456789.125, 1e16,
              1e22, 1.7976931348623157e308, -1e7, -123456789.0, 1772366400.5, 2.0**63]
    assert [format_value(v) for v in values] == [floatToGoString(v) for v in values]


# --- promtool -------------------------------------------------------------------------------

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install --no-install-recommends "
                             "prometheus); CI installs it")


def promtool_check(data: bytes) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "check", "metrics"], input=data.decode(),
                          capture_output=True, text=True, timeout=30)


@needs_promtool
@pytest.mark.parametrize("snapshot", [full_snapshot(), MetricsSnapshot()],
                         ids=["full", "empty"])
def test_promtool_accepts(snapshot: MetricsSnapshot) -> None:
    result = promtool_check(exposition(snapshot))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_promtool
def test_promtool_is_strict() -> None:
    """A control: the same promtool rejects a counter without its _total suffix."""
    result = promtool_check(b"# HELP foo x\n# TYPE foo counter\nfoo 1\n")
    assert result.returncode != 0
    assert 'counter metrics should have "_total" suffix' in result.stdout + result.stderr


# --- textfile -------------------------------------------------------------------------------

def test_write_textfile_atomic_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "ingestctl.prom"
    old_umask = os.umask(0o077)
    try:
        write_textfile(target, b"first\n")
        with target.open("rb") as reader:  # a reader holding the old file keeps seeing it
            write_textfile(target, exposition(full_snapshot()))
            assert reader.read() == b"first\n"
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == exposition(full_snapshot())
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["ingestctl.prom"]


def test_write_textfile_failure_leaves_old_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ingestctl.prom"
    write_textfile(target, b"good\n")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_textfile(target, b"partial")
    assert target.read_bytes() == b"good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ingestctl.prom"]


def test_write_textfile_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_textfile(tmp_path / "nope" / "x.prom", b"x")


# --- import weight --------------------------------------------------------------------------

HEAVY = ["httpx", "lxml", "apscheduler", "tenacity", "ingestctl.sources", "sqlite_utils",
         "typer"]


def _modules_after(code: str) -> list[str]:
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted(m for m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=True)
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def _heavy(loaded: list[str], names: list[str]) -> list[str]:
    return [m for m in loaded if any(m == n or m.startswith(n + ".") for n in names)]


def test_health_and_metrics_import_nothing_heavy() -> None:
    loaded = _modules_after("import ingestctl.monitoring.health, ingestctl.monitoring.metrics")
    assert _heavy(loaded, [*HEAVY, "prometheus_client"]) == []


def test_health_alone_skips_rich_and_prometheus() -> None:
    loaded = _modules_after(
        "from datetime import datetime, UTC\n"
        "from ingestctl.config import HealthConfig\n"
        "from ingestctl.monitoring.health import (HealthSnapshot, run_checks, render_nagios,\n"
        "    render_json)\n"
        "now = datetime.now(UTC)\n"
        "r = run_checks(HealthSnapshot(), HealthConfig(), now)\n"
        "render_nagios(r); render_json(r, now, '0')")
    assert _heavy(loaded, [*HEAVY, "rich", "prometheus_client"]) == []
