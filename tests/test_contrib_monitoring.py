"""contrib/prometheus rules (promtool check and unit tests) and the contrib/grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingestctl.monitoring.metrics import exposition

from .test_metrics import full_snapshot, samples

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "contrib" / "prometheus" / "ingestctl-rules.yml"
RULE_TESTS = ROOT / "tests" / "promtool" / "ingestctl-rules.test.yml"
DASHBOARD = ROOT / "contrib" / "grafana" / "ingestctl.json"
# node_exporter's own textfile-collector metrics, which the stale-textfile rule reads.
NODE_EXPORTER = {"node_textfile_mtime_seconds", "node_textfile_scrape_error"}
_NAME = re.compile(r"\b((?:ingestctl|node_textfile)_[a-z_]+)\b")


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("LOUD SKIP: promtool is not installed (apt-get install "
                    "--no-install-recommends prometheus); the alerting rules were NOT checked")
    return found


def _exported() -> set[str]:
    """Every sample name `ingestctl metrics` can export (a snapshot with every family)."""
    return {name for name, _ in samples(exposition(full_snapshot()).decode())}


def _dashboard_exprs(*, variables: bool = False) -> list[str]:
    """The PromQL of every panel, and with ``variables`` the variable queries (Grafana's
    ``label_values(...)``, not PromQL)."""
    data = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in data["panels"] for target in panel["targets"]]
    if variables:
        exprs += [v["definition"] for v in data["templating"]["list"] if "definition" in v]
    return exprs


def test_promtool_checks_the_rules() -> None:
    proc = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 11 rules found" in proc.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    proc = subprocess.run([_promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    """A control: the same harness fails when a rule does not do what a test expects."""
    broken = tmp_path / "promtool" / "broken.test.yml"
    broken.parent.mkdir()
    text = RULE_TESTS.read_text().replace("../../contrib", str(ROOT / "contrib"))
    # The dead-letter alert waits 5m (`for`): expecting it at once must fail.
    text = text.replace("      - eval_time: 5m\n        alertname: IngestctlDeadLetters\n"
                        "        exp_alerts: []\n", "")
    text = text.replace("      - eval_time: 8m\n        alertname: IngestctlDeadLetters",
                        "      - eval_time: 3m\n        alertname: IngestctlDeadLetters")
    broken.write_text(text)
    proc = subprocess.run([_promtool(), "test", "rules", str(broken)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "IngestctlDeadLetters" in proc.stdout + proc.stderr


def test_every_metric_the_rules_and_dashboard_query_is_exported() -> None:
    exported = _exported()
    rules = set(_NAME.findall(RULES.read_text()))
    dashboard = {name for expr in _dashboard_exprs(variables=True)
                 for name in _NAME.findall(expr)}
    assert rules - NODE_EXPORTER <= exported, rules - NODE_EXPORTER - exported
    assert dashboard <= exported, dashboard - exported
    # Every family ingestctl exports is on the dashboard (histograms through their series).
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported}
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in dashboard}
    assert families <= shown, families - shown


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = _promtool()
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert data["uid"] == "ingestctl" and data["schemaVersion"] >= 36
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
    rules = [{"record": f"dashboard:query_{n}",
              "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".*")}
             for n, expr in enumerate(_dashboard_exprs())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
