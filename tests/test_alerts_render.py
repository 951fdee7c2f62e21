"""Alert builders: keys, subjects, bodies, fields, and no secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ingestctl.alerts.render import (
    breaker_closed_alert,
    breaker_opened_alert,
    dead_letter_alert,
    delivery_failing_alert,
    delivery_restored_alert,
    import_ok_alerts,
    job_recovered_alert,
    probe_alert,
    quality_alert,
    quality_resolved_alert,
    quota_alert,
    quota_resolved_alert,
    schedule_missed_alert,
)
from ingestctl.models.alerts import (
    Alert,
    AlertKind,
    AttemptFacts,
    BreakerFacts,
    JobFacts,
    QuotaFacts,
    Severity,
    ViolationFacts,
)
from ingestctl.redact import redact_text, redact_url

from .alerts_helpers import NOW, SECRET_TARGET, sample_dead_letter


def test_dead_letter_alert_subject_key_and_body() -> None:
    alert = sample_dead_letter()
    assert alert.key == "dead_letter:shop-sitemap"
    assert alert.kind is AlertKind.JOB_DEAD_LETTERED
    assert alert.severity is Severity.CRITICAL
    assert alert.subject == "[ingestctl][CRITICAL] shop-sitemap failed on host1"
    assert alert.created_at == NOW
    body = alert.body
    for expected in [
        "Job:     42",
        "Import:  shop-sitemap",
        "Source:  sitemap",
        "Target:  https://shop.example.com/sitemap.xml?page=2&access_token=REDACTED",
        "Attempts (3):",
        "  #1 [transient] TransientError: HTTP 503 from shop.example.com",
        "  #2 [transient] TransientError: read timeout after 30s",
        "  #3 [data] DataError: https://shop.example.com/s.xml?token=REDACTED:12:5: "
        "mismatched tag",
        "Last success:        2026-03-03T02:00:00Z",
        "Next scheduled run:  2026-03-05T02:00:00Z",
        "Dead letters total:  7",
        "  ingestctl jobs show 42",
        "  ingestctl retry 42",
        "  ingestctl dlq list",
        "ingestctl on host1 at 2026-03-04T05:06:07Z",
    ]:
        assert expected in body.splitlines(), expected
    assert "hunter2" not in body and "s3cr3t" not in body and "abc" not in body
    assert alert.fields["job_id"] == 42
    assert alert.fields["host"] == "host1"
    assert alert.fields["dead_letters_total"] == 7
    assert [a["number"] for a in alert.fields["attempt_history"]] == [1, 2, 3]
    assert "hunter2" not in json.dumps(alert.fields)
    assert "s3cr3t" not in json.dumps(alert.fields)


def test_dead_letter_without_history_says_never_and_none_scheduled() -> None:
    job = JobFacts(5, "sitemap:/tmp/x.xml", "sitemap", "/tmp/x.xml")
    alert = dead_letter_alert(job, [AttemptFacts(1, "data", "DataError", None)], None, None, 1,
                              "h", now=NOW)
    lines = alert.body.splitlines()
    assert "Last success:        never" in lines
    assert "Next scheduled run:  none scheduled" in lines
    assert "  #1 [data] DataError: (no message)" in lines
    assert "Target:  /tmp/x.xml" in lines


def test_alert_round_trips_through_json() -> None:
    alert = sample_dead_letter()
    again = Alert.from_dict(json.loads(json.dumps(alert.to_dict())))
    assert again == alert


def test_redact_url() -> None:
    assert redact_url(SECRET_TARGET) == (
        "https://shop.example.com/sitemap.xml?page=2&access_token=REDACTED")
    assert redact_url("https://h.example/a?key=1&sig=2&q=x") == (
        "https://h.example/a?key=REDACTED&sig=REDACTED&q=x")
    assert redact_url("http://u@[::1]:8080/p") == "http://[::1]:8080/p"
    assert redact_url("http://[bad") == "REDACTED"
    assert redact_text("GET https://a:b@x.example/p?token=t failed") == (
        "GET https://x.example/p?token=REDACTED failed")


def test_job_recovered_and_import_ok() -> None:
    job = JobFacts(9, "shop", "sitemap", "https://shop.example.com/sitemap.xml")
    alert = job_recovered_alert(job, "host2:4242", 2, datetime(2026, 3, 4, 5, 7, tzinfo=UTC),
                                "host1", now=NOW)
    assert alert.key == "crashed:shop"
    assert alert.severity is Severity.WARNING
    assert alert.subject == "[ingestctl][WARNING] shop recovered after a crash on host1"
    assert "host2:4242" in alert.body
    assert "It will be retried at 2026-03-04T05:07:00Z." in alert.body
    assert "  ingestctl jobs show 9" in alert.body.splitlines()
    last = job_recovered_alert(job, "host2:1", 3, None, "host1", now=NOW)
    assert "no attempts left" in last.body

    resolved = import_ok_alerts("shop", 10, "host1", now=NOW)
    assert [a.key for a in resolved] == ["dead_letter:shop", "crashed:shop", "schedule:shop"]
    assert all(a.resolves and a.severity is Severity.RESOLVED for a in resolved)
    assert resolved[0].subject == "[ingestctl][RESOLVED] shop succeeded again on host1"


def test_breaker_alerts_share_a_key() -> None:
    opened = breaker_opened_alert(
        BreakerFacts("sitemap:shop.example.com", 5, datetime(2026, 3, 4, 5, 7, 7, tzinfo=UTC),
                     "HTTP 503"), "host1", now=NOW)
    closed = breaker_closed_alert("sitemap:shop.example.com", "host1", now=NOW)
    assert opened.key == closed.key == "breaker:sitemap:shop.example.com"
    assert opened.severity is Severity.WARNING and closed.severity is Severity.RESOLVED
    assert opened.kind is AlertKind.BREAKER_OPENED and closed.kind is AlertKind.BREAKER_CLOSED
    assert "after 5 consecutive failures" in opened.body
    assert "Open until:  2026-03-04T05:07:07Z" in opened.body
    assert "  ingestctl breaker reset sitemap:shop.example.com" in opened.body.splitlines()
    assert closed.subject == (
        "[ingestctl][RESOLVED] circuit breaker sitemap:shop.example.com closed on host1")


def test_quota_alerts() -> None:
    quota = QuotaFacts("merchant", "account 123", 960, 1000)
    warning = quota_alert(quota, critical=False, threshold=0.8, host="h", now=NOW)
    critical = quota_alert(quota, critical=True, threshold=0.95, host="h", now=NOW)
    assert warning.key == critical.key == "quota:merchant:account 123"
    assert (warning.kind, warning.severity) == (AlertKind.QUOTA_WARNING, Severity.WARNING)
    assert (critical.kind, critical.severity) == (AlertKind.QUOTA_CRITICAL, Severity.CRITICAL)
    assert critical.subject == "[ingestctl][CRITICAL] merchant quota account 123 at 96% on h"
    assert "(960 of 1000); the critical level is 95%" in critical.body
    assert critical.fields["ratio"] == 0.96
    assert quota_resolved_alert("merchant", "account 123", "h", now=NOW).key == warning.key


def test_quality_alerts() -> None:
    job = JobFacts(11, "shop", "sitemap", "https://shop.example.com/sitemap.xml")
    violation = ViolationFacts("volume_drop", "error", "items fell by 60 % (1000 -> 400)",
                               observed=-0.6, threshold=-0.5,
                               examples=["https://shop.example.com/?session=zzz"])
    alert = quality_alert(job, violation, "h", now=NOW)
    assert alert.key == "quality:shop:volume_drop"
    assert alert.severity is Severity.CRITICAL
    assert alert.subject == "[ingestctl][CRITICAL] shop quality volume_drop (error) on h"
    assert "zzz" not in alert.body and "zzz" not in json.dumps(alert.fields)
    warn = quality_alert(job, ViolationFacts("zero_items", "warning", "no items"), "h", now=NOW)
    assert warn.severity is Severity.WARNING
    resolved = quality_resolved_alert("shop", "volume_drop", 12, "h", now=NOW)
    assert resolved.key == alert.key and resolved.resolves


def test_schedule_delivery_and_test_alerts() -> None:
    missed = schedule_missed_alert("shop", datetime(2026, 3, 4, 2, tzinfo=UTC), None, "h",
                                   now=NOW)
    assert missed.key == "schedule:shop"
    assert "was due at 2026-03-04T02:00:00Z" in missed.body
    failing = delivery_failing_alert("email", datetime(2026, 3, 4, 3, tzinfo=UTC), 4,
                                     "cannot connect to smtp:25: connection refused", "h",
                                     now=NOW)
    assert failing.key == delivery_restored_alert("email", "h", now=NOW).key == "delivery:email"
    assert "4 alert(s) have waited for the email channel since 2026-03-04T03:00:00Z" in (
        failing.body)
    probe = probe_alert("h", now=NOW)
    assert probe.kind is AlertKind.TEST and probe.severity is Severity.INFO
    assert probe.subject == "[ingestctl][INFO] test alert from h"
    assert probe.key != probe_alert("h", now=datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC)).key
