"""The reference pages and config.example.toml say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from ingestctl.config_file import load_config, redacted
from ingestctl.monitoring.health.evaluate import CHECKS
from scripts.reference_docs import metrics_table

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_config_holds_exactly_the_defaults(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    example = redacted(load_config(ROOT / "config.example.toml", {}), durations_as_text=True)
    defaults = redacted(load_config(empty, {}), durations_as_text=True)
    example.pop("imports"), defaults.pop("imports")
    assert example == defaults


def test_the_monitoring_guide_names_every_metric_and_every_check() -> None:
    guide = (ROOT / "docs" / "guide" / "monitoring.md").read_text()
    metrics = re.findall(r"^\| `(ingestctl_[a-z_]+)`", metrics_table(), re.M)
    assert len(metrics) >= 19
    assert [m for m in metrics if m not in guide] == []
    assert [f"{c}:{m}" for c, m, _ in CHECKS if f"`{c}:{m}`" not in guide] == []
