"""Health renderers: the Nagios line, health+json against the draft, the Rich table."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from ingestctl.config import HealthConfig
from ingestctl.monitoring.health import (
    HealthSnapshot,
    ImportFreshness,
    QualityRun,
    QuotaUse,
    SourceJobs,
    Status,
    http_status,
    overall,
    render_json,
    render_nagios,
    render_table,
    run_checks,
)
from ingestctl.monitoring.health.model import CheckResult

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# Monitoring Plugins development guidelines, "Plugin Output" and "Performance data".
_NUM = r"-?\d+(?:\.\d+)?"
_RANGE = rf"@?(?:(?:~|{_NUM})?:)?(?:{_NUM})?"
_UOM = r"(?:s|us|ms|%|B|KB|MB|TB|c)?"
PERF_ITEM = re.compile(
    rf"'(?:[^'=]|'')+'=(?P<value>{_NUM}|U)(?P<uom>{_UOM})"
    rf"(?:;(?P<warn>{_RANGE})(?:;(?P<crit>{_RANGE})(?:;(?P<min>{_NUM})?(?:;(?P<max>{_NUM})?)?)?)?)?")
LINE = re.compile(r"^INGESTCTL (?P<status>OK|WARNING|CRITICAL|UNKNOWN) - (?P<summary>[^|\n]+?)"
                  r"(?: \| (?P<perf>[^\n]+))?$")


def parse_nagios(line: str) -> tuple[str, str, list[dict[str, str | None]]]:
    """Status, summary and perfdata items; fails the test if the grammar is broken."""
    match = LINE.match(line)
    assert match, line
    perf = match.group("perf") or ""
    items = []
    for token in re.findall(r"'(?:[^']|'')+'=\S*", perf):
        item = PERF_ITEM.fullmatch(token)
        assert item, token
        items.append({"label": token.split("'=")[0][1:], **item.groupdict()})
    assert " ".join(re.findall(r"'(?:[^']|'')+'=\S*", perf)) == perf, perf
    return match.group("status"), match.group("summary"), items


def troubled() -> HealthSnapshot:
    return HealthSnapshot(
        imports=[ImportFreshness("shop-sitemap", 0, NOW - timedelta(hours=3)),
                 ImportFreshness("merchant-main", 3600, NOW - timedelta(hours=5)),
                 ImportFreshness("new-one")],
        jobs=[SourceJobs("sitemap", 17, 3), SourceJobs("search-console")],
        dead_letters=3, open_breakers=["sitemap:shop.example.com"],
        quotas=[QuotaUse("merchant", "account-123", 0.83)],
        scheduler_expected=False, undelivered_alerts=0,
        quality=[QualityRun("shop-sitemap", 0, 5, 42)])


def test_nagios_line_grammar_and_content() -> None:
    results = run_checks(troubled(), HealthConfig(), NOW)
    line = render_nagios(results)
    assert "\n" not in line
    status, summary, perf = parse_nagios(line)
    assert status == "CRITICAL"
    assert summary == (
        "import merchant-main last succeeded 5h ago, is older than its freshness window of 1h; "
        "WARNING: import new-one never ran; "
        "WARNING: sitemap success rate 85% (17/20) over 24h, below 90%; "
        "WARNING: 3 dead letters in the last 24h; "
        "WARNING: 1 circuit breaker open: sitemap:shop.example.com; "
        "WARNING: merchant quota for account-123 83% used; 7 OK")
    assert line.split(" | ")[1] == (
        "'database:writable'=1;;1:;0;1 "
        "'imports:freshness:shop-sitemap'=10800s;;172800;0 "
        "'imports:freshness:merchant-main'=18000s;;3600;0 "
        "'jobs:success_rate:sitemap'=85%;90:;50:;0;100 "
        "'dead_letters:count'=3;@1:;@10:;0 "
        "'breakers:open'=1;@1:;;0 "
        "'leases:expired'=0;@1:;;0 "
        "'quota:used_ratio:merchant/account-123'=0.83;@0.8:;@0.95:;0;1 "
        "'alerts:undelivered'=0;@1:;;0 "
        "'quality:errors:shop-sitemap'=0;@1:;;0")
    by_label = {p["label"]: p for p in perf}
    assert by_label["jobs:success_rate:sitemap"] == {
        "label": "jobs:success_rate:sitemap", "value": "85", "uom": "%", "warn": "90:",
        "crit": "50:", "min": "0", "max": "100"}


@pytest.mark.parametrize(("snap", "expected"), [
    (HealthSnapshot(), "INGESTCTL OK - 10 checks OK | 'database:writable'=1;;1:;0;1 "
     "'dead_letters:count'=0;@1:;@10:;0 'breakers:open'=0;@1:;;0 'leases:expired'=0;@1:;;0 "
     "'alerts:undelivered'=0;@1:;;0"),
    (HealthSnapshot(open_breakers=["k"]), "INGESTCTL WARNING - 1 circuit breaker open: k; "
     "9 OK | 'database:writable'=1;;1:;0;1 'dead_letters:count'=0;@1:;@10:;0 "
     "'breakers:open'=1;@1:;;0 'leases:expired'=0;@1:;;0 'alerts:undelivered'=0;@1:;;0"),
    (HealthSnapshot.unreachable("disk I/O error | locked"),
     "INGESTCTL CRITICAL - database unreachable or not writable: disk I/O error / locked | "
     "'database:writable'=0;;1:;0;1"),
])
def test_nagios_exact_lines(snap: HealthSnapshot, expected: str) -> None:
    line = render_nagios(run_checks(snap, HealthConfig(), NOW))
    assert line == expected
    parse_nagios(line)


def test_nagios_unknown_and_odd_labels() -> None:
    results = [
        CheckResult("jobs", "success_rate", Status.OK, 99.5, "%", "fine", component_id="it's=x"),
        CheckResult("quota", "used_ratio", Status.UNKNOWN, None, None, "quota check failed: "
                    "KeyError: 'x'"),
        CheckResult("x", "y", Status.WARNING, 2, "items", "odd unit"),
    ]
    line = render_nagios(results)
    assert line == ("INGESTCTL UNKNOWN - quota check failed: KeyError: 'x'; WARNING: odd unit; "
                    "1 OK | 'jobs:success_rate:it''s_x'=99.5% 'x:y'=2")
    status, _, perf = parse_nagios(line)
    assert status == "UNKNOWN" and [p["label"] for p in perf] == ["jobs:success_rate:it''s_x",
                                                                   "x:y"]
    assert render_nagios([]) == "INGESTCTL UNKNOWN - no checks ran"


# --- health+json ----------------------------------------------------------------------------

_DETAIL_KEYS = {"componentId", "componentType", "observedValue", "observedUnit", "status",
                "affectedEndpoints", "time", "output", "links"}
_TOP_KEYS = {"status", "version", "releaseId", "notes", "output", "checks", "links",
             "serviceId", "description"}
_RANK = {"pass": 0, "warn": 1, "fail": 2}


def validate_health_json(doc: Any) -> None:
    """The shape of draft-inadarei-api-health-check-06, strictly."""
    assert isinstance(doc, dict) and set(doc) <= _TOP_KEYS, doc
    assert doc["status"] in _RANK
    for key in ("version", "releaseId", "serviceId", "description", "output"):
        assert key not in doc or isinstance(doc[key], str), key
    if doc["status"] == "pass":
        assert "output" not in doc  # the draft: SHOULD be omitted for pass
    assert isinstance(doc.get("notes", []), list)
    assert all(isinstance(n, str) for n in doc.get("notes", []))
    checks = doc["checks"]
    assert isinstance(checks, dict)
    statuses = []
    for key, details in checks.items():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+", key), key
        assert isinstance(details, list) and details, key
        for detail in details:
            assert isinstance(detail, dict) and set(detail) <= _DETAIL_KEYS, detail
            assert detail["status"] in _RANK
            statuses.append(detail["status"])
            datetime.strptime(detail["time"], "%Y-%m-%dT%H:%M:%SZ")
            for name in ("componentId", "observedUnit", "output"):
                assert name not in detail or isinstance(detail[name], str)
            if detail["status"] == "pass":
                assert "output" not in detail
            else:
                assert detail["output"]
            value = detail.get("observedValue")
            assert value is None or isinstance(value, int | float | str | bool)
    assert doc["status"] == max(statuses, key=_RANK.__getitem__, default="pass")
    assert json.loads(json.dumps(doc)) == doc


def test_json_shape_and_values() -> None:
    results = run_checks(troubled(), HealthConfig(), NOW)
    doc = render_json(results, NOW, "0.1.0")
    validate_health_json(doc)
    assert (doc["status"], doc["version"], doc["releaseId"]) == ("fail", "0", "0.1.0")
    assert list(doc["checks"]) == ["database:writable", "imports:freshness", "jobs:success_rate",
                                   "dead_letters:count", "breakers:open", "leases:expired",
                                   "quota:used_ratio", "scheduler:heartbeat",
                                   "alerts:undelivered", "quality:errors"]
    assert doc["checks"]["imports:freshness"][1] == {
        "componentId": "merchant-main", "status": "fail", "observedValue": 18000.0,
        "observedUnit": "s", "time": "2026-03-01T12:00:00Z",
        "output": "import merchant-main last succeeded 5h ago, is older than its freshness "
                  "window of 1h"}
    assert doc["checks"]["database:writable"] == [
        {"status": "pass", "observedValue": True, "time": "2026-03-01T12:00:00Z"}]
    assert doc["notes"] == [
        "jobs:success_rate:search-console: no search-console jobs finished in the last 24h",
        "scheduler:heartbeat: no scheduler expected"]


@pytest.mark.parametrize(("snap", "status", "code"), [
    (HealthSnapshot(), "pass", 200),
    (HealthSnapshot(open_breakers=["k"]), "warn", 200),
    (HealthSnapshot(dead_letters=10), "fail", 503),
    (HealthSnapshot.unreachable("gone"), "fail", 503),
])
def test_json_status_per_state(snap: HealthSnapshot, status: str, code: int) -> None:
    results = run_checks(snap, HealthConfig(), NOW)
    doc = render_json(results, NOW, "1.2.3")
    validate_health_json(doc)
    assert doc["status"] == status
    assert http_status(overall(results)) == code


def test_json_unknown_is_fail() -> None:
    snap = replace(HealthSnapshot(), quotas=[QuotaUse("a", "b", "x")])  # type: ignore[arg-type]
    doc = render_json(run_checks(snap, HealthConfig(), NOW), NOW, "0.1.0")
    validate_health_json(doc)
    assert doc["status"] == "fail"
    assert doc["checks"]["quota:used_ratio"][0]["output"].startswith(
        "quota:used_ratio check failed: TypeError:")


# --- Rich table -----------------------------------------------------------------------------

def test_table_fixed_width() -> None:
    snap = HealthSnapshot(imports=[ImportFreshness("shop", 0, NOW - timedelta(hours=3))],
                          jobs=[SourceJobs("sitemap", 17, 3)], open_breakers=["sitemap:x"],
                          quotas=[QuotaUse("merchant", "acct-1", 0.5)], dead_letters=12)
    console = Console(record=True, width=80, color_system=None)
    console.print(render_table(run_checks(snap, HealthConfig(), NOW)))
    text = console.export_text()
    # The centred title pads with spaces; compare without trailing blanks.
    assert "\n".join(line.rstrip() for line in text.splitlines()) + "\n" == """\
                           ingestctl health: CRITICAL
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃ Check               ┃ Status   ┃ Value ┃ Details                             ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│ database:writable   │ OK       │   yes │ database reachable and writable     │
│ imports:freshness   │ OK       │    3h │ import shop last succeeded 3h ago,  │
│   shop              │          │       │ within its freshness window of 2d   │
│ jobs:success_rate   │ WARNING  │   85% │ sitemap success rate 85% (17/20)    │
│   sitemap           │          │       │ over 24h, below 90%                 │
│ dead_letters:count  │ CRITICAL │    12 │ 12 dead letters in the last 24h     │
│ breakers:open       │ WARNING  │     1 │ 1 circuit breaker open: sitemap:x   │
│ leases:expired      │ OK       │     0 │ no expired job leases               │
│ quota:used_ratio    │ OK       │   50% │ merchant quota for acct-1 50% used  │
│   merchant/acct-1   │          │       │                                     │
│ scheduler:heartbeat │ OK       │     - │ no scheduler expected               │
│ alerts:undelivered  │ OK       │     0 │ all alerts delivered                │
│ quality:errors      │ OK       │     - │ no data-quality results recorded    │
└─────────────────────┴──────────┴───────┴─────────────────────────────────────┘
"""
    assert all(len(line) <= 80 for line in text.splitlines())
