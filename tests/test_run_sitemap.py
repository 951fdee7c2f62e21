"""`ingestctl run sitemap` end to end, against real files and a real HTTP server."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from tests.cli import invoke, jobs_json, run_cli
from tests.sites import GeneratedSite, refinebio_server

REPO = Path(__file__).resolve().parents[1]


def url_count(home: Path) -> int:
    with sqlite3.connect(home / "ingestctl.db") as conn:
        return int(conn.execute("SELECT count(*) FROM sitemap_urls").fetchone()[0])


def test_sample_sitemap_imports_into_a_fresh_home(home: Path) -> None:
    result = invoke("run", "sitemap", str(REPO / "samples" / "sitemap.xml"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("job 1 completed: 20 URLs from ")
    assert url_count(home) == 20
    mode = stat.S_IMODE(os.stat(home / "ingestctl.db").st_mode)
    assert mode == 0o600
    listed = json.loads(invoke("jobs", "list", "--json").stdout)
    assert [(j["id"], j["status"], j["items"], j["attempts"]) for j in listed] == [
        (1, "completed", 20, 1)]
    assert set(listed[0]) >= {"id", "name", "source", "target", "status", "attempts",
                              "max_attempts", "items", "error", "created_at", "started_at",
                              "finished_at", "next_attempt_at"}


def test_quiet_prints_nothing_on_success(home: Path) -> None:
    result = invoke("-q", "run", "sitemap", str(REPO / "samples" / "sitemap.xml"))
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


def test_refinebio_index_with_gzipped_child_imports_36005_urls_idempotently(
        home: Path, corpus: Path) -> None:
    with refinebio_server(corpus) as server:
        url = server.url("/sitemap-index.xml")
        first = run_cli(home, "run", "sitemap", url)
        assert first.returncode == 0, first.stderr
        assert url_count(home) == 36005
        second = run_cli(home, "run", "sitemap", url)
        assert second.returncode == 0, second.stderr
    assert url_count(home) == 36005
    jobs = jobs_json(home)
    assert [(j["status"], j["items"]) for j in jobs] == [("completed", 36005)] * 2
    # The index is served locally; the pages it lists stay on www.refine.bio.
    assert first.stdout == (f"job 1 completed with warnings: 36,005 URLs from {url} "
                            f"(sitemap:{url}) in 1 attempt(s); quality: off_host_url_share "
                            "(36,005 of 36,005)\n")


def test_index_children_are_recorded(home: Path) -> None:
    site = GeneratedSite(children=3, per_child=10)
    with site.server:
        assert invoke("run", "sitemap", site.server.url("/index.xml")).exit_code == 0
    with sqlite3.connect(home / "ingestctl.db") as conn:
        files = conn.execute("SELECT url, kind, status, urls FROM sitemap_files ORDER BY id"
                             ).fetchall()
    base = site.server.base
    assert sorted(files) == [(f"{base}/child-0.xml", "urlset", "ok", 10),
                             (f"{base}/child-1.xml", "urlset", "ok", 10),
                             (f"{base}/child-2.xml", "urlset", "ok", 10),
                             (f"{base}/index.xml", "sitemapindex", "ok", 0)]
    assert url_count(home) == 30


def test_python_dash_m_entry_point(home: Path) -> None:
    proc = run_cli(home, "--version")
    assert proc.returncode == 0
    assert proc.stdout == "ingestctl 0.1.0\n"


def test_run_configured_import_by_name(home: Path, tmp_path: Path) -> None:
    sample = REPO / "samples" / "sitemap.xml"
    (tmp_path / "ingestctl.toml").write_text(
        f'[[imports]]\nname = "docs-site"\nsource = "sitemap"\nurl = "{sample}"\n')
    result = invoke("run", "docs-site")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"job 1 completed: 20 URLs from {sample} (docs-site) in 1 attempt(s)\n"
    listed = json.loads(invoke("jobs", "list", "--json").stdout)
    assert [(j["name"], j["status"]) for j in listed] == [("docs-site", "completed")]
    wrong = invoke("run", "docs-site", "extra-target")
    assert wrong.exit_code == 2
    assert wrong.stderr == ("ingestctl: error: import 'docs-site' is configured; it takes no "
                            "target argument\n")
