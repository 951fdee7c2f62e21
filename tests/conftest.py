"""Shared fixtures: an isolated home directory and the real-world corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestctl.store import Store
from tests.backends import Backend
from tests.pg import Cluster, start_cluster

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sitemaps"

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, which the
# CLI honours for piped output (cli/tables.py): tests see the environment a cron job has.
if "PYTEST_XDIST_WORKER" in os.environ:
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server for the session, started on first use (tests/pg.py)."""
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty PostgreSQL database for this test."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's store lives: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return tmp_path / "ingestctl.db"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, home: Path) -> Backend:
    """Where `ingestctl` subprocesses keep their store: the home's SQLite file, then a fresh
    PostgreSQL database (``INGESTCTL_DB_URL``)."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return Backend("postgres", url, {"INGESTCTL_DB_URL": url})
    return Backend("sqlite", home / "ingestctl.db", {})


@pytest.fixture
def store(store_location: Path | str) -> Iterator[Store]:
    """An open store on each backend (parametrised: sqlite, postgres)."""
    with Store(store_location) as opened:
        yield opened
