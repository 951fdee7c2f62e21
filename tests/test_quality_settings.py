"""Rule settings: the defaults table, overrides from the config file, and bad overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestctl.config_file import load_config
from ingestctl.errors import ConfigError
from ingestctl.quality.catalog import DEFAULT_RULES, rules_table
from ingestctl.quality.model import FailOn, RuleSettings, Violation
from ingestctl.quality.model import ViolationSeverity as Severity
from ingestctl.quality.rules import evaluate
from ingestctl.quality.settings import check_config, global_policy, policy_for_import, resolve_rules
from ingestctl.quality.summaries import ImportSummary, SitemapSummary


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ingestctl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rules_table_lists_every_rule_with_stable_snake_case_names() -> None:
    rows = rules_table()
    assert [r.name for r in rows] == list(DEFAULT_RULES)
    assert len(rows) == 29
    assert all(r.name.replace("_", "").isalpha() and r.name.islower() for r in rows)
    by_name = {r.name: r for r in rows}
    assert by_name["volume_drop_warning"][1:4] == ("all", "warning", "at a drop of 20 %")
    assert by_name["volume_drop_error"][1:4] == ("all", "error", "at a drop of 50 %")
    assert by_name["volume_spike"][1:4] == ("all", "warning", "at a rise of 200 %")
    assert by_name["zero_items"][1:4] == ("all", "error", "none")
    assert by_name["invalid_url_share"][1:4] == ("sitemap", "warning", "above 1 %")
    assert by_name["same_lastmod"][1:4] == ("sitemap", "warning", "from 10 URLs")
    assert by_name["disapproved_share_jump"][1:4] == ("merchant", "warning",
                                                      "above a rise of 5 points")
    assert by_name["missing_days"][1:4] == ("search-console", "error", "above 0")


def test_import_overrides_from_the_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[quality]
fail_on = "error"
[quality.rules]
duplicate_keys = "error"

[[imports]]
name = "shop"
url = "https://shop.example.com/sitemap.xml"
quality = { volume_drop_error = 0.6, same_lastmod = false, fail_on = "never", \
invalid_url_share = { severity = "error", threshold = 0.1 }, future_lastmod_share = "5%" }

[[imports]]
name = "blog"
url = "https://blog.example.com/sitemap.xml"
""")
    config = load_config(path, environ={})
    check_config(config)
    shop = policy_for_import(config, config.imports[0])
    assert shop.fail_on is FailOn.NEVER
    assert shop.setting("volume_drop_error") == RuleSettings(True, Severity.ERROR, 0.6)
    assert shop.setting("same_lastmod") == RuleSettings(False, Severity.WARNING, 10)
    assert shop.setting("invalid_url_share") == RuleSettings(True, Severity.ERROR, 0.1)
    assert shop.setting("future_lastmod_share") == RuleSettings(True, Severity.WARNING, 0.05)
    assert shop.setting("duplicate_keys") == RuleSettings(True, Severity.ERROR, 0)
    assert shop.setting("zero_items") == RuleSettings(True, Severity.ERROR, None)
    blog = policy_for_import(config, config.imports[1])
    assert blog.fail_on is FailOn.ERROR
    assert blog.setting("volume_drop_error") == RuleSettings(True, Severity.ERROR, 0.5)
    assert blog.setting("duplicate_keys").severity is Severity.ERROR
    assert global_policy(config).rules == blog.rules


def test_overrides_change_what_fires() -> None:
    summary = SitemapSummary(urls=1000, invalid_urls=50, lastmods=20, same_lastmod="x")
    assert [v.rule for v in evaluate(summary)] == ["invalid_url_share", "same_lastmod"]
    rules = resolve_rules({"invalid_url_share": {"threshold": 0.05, "severity": "error"},
                           "same_lastmod": "off"})
    assert evaluate(summary, settings=rules) == []
    rules = resolve_rules({"invalid_url_share": {"threshold": "4.9%", "severity": "error"}})
    found = evaluate(summary, settings=rules)
    assert found[0] == Violation(
        "invalid_url_share", Severity.ERROR,
        "50 of 1,000 URLs (5 %) are invalid; error above 4.9 %", 0.05, 0.049,
        {"count": 50, "total": 1000})


def test_disabled_volume_error_leaves_the_warning() -> None:
    rules = resolve_rules({"volume_drop_error": False})
    found = evaluate(ImportSummary("sitemap", 100, 1000), settings=rules)
    assert [(v.rule, v.severity) for v in found] == [("volume_drop_warning", Severity.WARNING)]


@pytest.mark.parametrize(("quality", "key", "problem"), [
    ('{ invalid_url_shar = 0.1 }', "imports[1].quality.invalid_url_shar",
     "unknown data-quality rule; did you mean invalid_url_share?"),
    ('{ invalid_url_share = 1.5 }', "imports[1].quality.invalid_url_share",
     "found 1.5: expected a fraction from 0.0 to 1.0"),
    ('{ invalid_url_share = "lots" }', "imports[1].quality.invalid_url_share",
     "found 'lots': expected a fraction"),
    ('{ volume_drop_error = 0 }', "imports[1].quality.volume_drop_error",
     "found 0: expected a fraction above 0.0 to 1.0"),
    ('{ duplicate_keys = 2.5 }', "imports[1].quality.duplicate_keys",
     "found 2.5: expected a whole number >= 0"),
    ('{ same_lastmod = 1 }', "imports[1].quality.same_lastmod",
     "found 1: expected a whole number >= 2"),
    ('{ zero_items = 3 }', "imports[1].quality.zero_items",
     "found 3: rule zero_items takes no threshold"),
    ('{ same_lastmod = { severity = "fatal" } }', "imports[1].quality.same_lastmod.severity",
     "found 'fatal': expected warning or error"),
    ('{ same_lastmod = { enabled = "maybe" } }', "imports[1].quality.same_lastmod.enabled",
     "found 'maybe': expected true or false"),
    ('{ same_lastmod = { level = 3 } }', "imports[1].quality.same_lastmod.level",
     "unknown key (allowed here: enabled, severity, threshold)"),
    ('{ same_lastmod = [1] }', "imports[1].quality.same_lastmod", "found [1]: expected"),
    ('{ fail_on = "warning" }', "imports[1].quality.fail_on",
     "found 'warning': expected one of never, error"),
])
def test_bad_override_names_the_exact_key(tmp_path: Path, quality: str, key: str,
                                          problem: str) -> None:
    path = _write(tmp_path, f"""
[[imports]]
name = "fine"
url = "https://a.example/sitemap.xml"
[[imports]]
name = "shop"
url = "https://shop.example.com/sitemap.xml"
quality = {quality}
""")
    config = load_config(path, environ={})
    policy_for_import(config, config.imports[0])
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    assert caught.value.key == key
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"config error: {path}: {key}: {problem}")


def test_bad_global_override_names_quality_rules(tmp_path: Path) -> None:
    path = _write(tmp_path, "[quality.rules]\nmissing_days = \"sometimes\"\n")
    config = load_config(path, environ={})
    with pytest.raises(ConfigError) as caught:
        global_policy(config)
    assert caught.value.key == "quality.rules.missing_days"


def test_environment_can_set_global_overrides() -> None:
    config = load_config(None, environ={"INGESTCTL_QUALITY__RULES__ZERO_ITEMS": "off",
                                        "INGESTCTL_QUALITY__RULES__DUPLICATE_KEYS": "7"})
    policy = global_policy(config)
    assert policy.setting("zero_items").enabled is False
    assert policy.setting("duplicate_keys").threshold == 7
