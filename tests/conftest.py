"""Shared fixtures: an isolated home directory and the real-world corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sitemaps"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ingestctl home, set through INGESTCTL_HOME, and no config file around."""
    path = tmp_path / "home"
    monkeypatch.setenv("INGESTCTL_HOME", str(path))
    monkeypatch.delenv("INGESTCTL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    yield path


@pytest.fixture
def corpus() -> Path:
    """The shared real-world sitemap corpus (read-only)."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return CORPUS
