"""`[quality] fail_on = "error"` by default: `ingestctl run` as a process against local servers.

An import with an error-severity violation exits 1 with class `data`, is dead-lettered and
alerts as critical (to a real SMTP server); its items stay stored. `fail_on = "never"` brings
back the old behaviour.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.alerts_helpers import Collector, free_port, smtp_server
from tests.cli import rows, run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.sites import urlset
from tests.test_sitemap_parse_hostile import HEAD, _gzip_bomb

HOST = socket.gethostname()


@dataclass
class Shop:
    """/sitemap.xml lists ``pages`` URLs; /bomb.xml.gz is a 1 GB gzip bomb."""

    pages: int = 0
    server: LocalServer = field(init=False)

    def __post_init__(self) -> None:
        self.server = LocalServer(self.handle)

    def handle(self, req: Request) -> Response:
        if req.path == "/bomb.xml.gz":
            # The one URL comes after 1 GB of spaces: the 50 MB cut leaves no item.
            return Response(200, chunks=_gzip_bomb(HEAD, 1000**3, step=1 << 22))
        return Response(200, urlset([self.server.url(f"/p{i}") for i in range(self.pages)]))


@pytest.fixture
def shop() -> Iterator[Shop]:
    site = Shop()
    with site.server:
        yield site


def _failed_with_data(proc: object, job: int, why: str) -> None:
    returncode, stderr = proc.returncode, proc.stderr  # type: ignore[attr-defined]
    assert returncode == 1, stderr
    assert stderr.startswith(f"ingestctl: error: job {job} failed after 1 attempt(s): data: "
                             f"data quality: {why}"), stderr
    assert stderr.count("\n") == 1, stderr


def _letters(home: Path) -> list[dict[str, object]]:
    proc = run_cli(home, "dlq", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    letters: list[dict[str, object]] = json.loads(proc.stdout)
    return letters


def test_an_empty_urlset_exits_1_with_data_and_is_dead_lettered(home: Path, shop: Shop) -> None:
    proc = run_cli(home, "run", "sitemap", shop.server.url("/sitemap.xml"))
    _failed_with_data(proc, 1, "the import produced no items; error")
    [letter] = _letters(home)
    assert (letter["job_id"], letter["error"]["class"], letter["error"]["type"]) == (  # type: ignore[index]
        1, "data", "QualityFailedError")
    shown = json.loads(run_cli(home, "jobs", "show", "1", "--json").stdout)
    assert (shown["status"], shown["error"]["type"]) == ("failed", "QualityFailedError")
    assert [v["rule"] for v in shown["quality"]] == ["zero_items"]


def test_a_gzip_bomb_is_cut_at_the_size_limit_and_exits_1_with_data(home: Path,
                                                                      shop: Shop) -> None:
    proc = run_cli(home, "run", "sitemap", shop.server.url("/bomb.xml.gz"))
    _failed_with_data(proc, 1, "the import produced no items; error")
    # The line says why there is nothing: the one file was cut at the size limit.
    assert "; quality: zero_items, files_over_limits (1); it is in the dead-letter queue" \
        in proc.stderr, proc.stderr
    shown = json.loads(run_cli(home, "jobs", "show", "1", "--json").stdout)
    assert shown["result"]["problems"] == {"over_size_limit": 1}
    assert [v["rule"] for v in shown["quality"]] == ["zero_items", "files_over_limits"]
    assert [letter["error"]["class"] for letter in _letters(home)] == ["data"]


def test_a_sixty_percent_drop_exits_1_keeps_its_items_and_mails_critical(
        home: Path, tmp_path: Path, shop: Shop) -> None:
    collector, port = Collector(), free_port()
    config = tmp_path / "ingestctl.toml"
    config.write_text(f"""
[alerts.email]
smtp_host = "127.0.0.1"
smtp_port = {port}
timeout = "5s"
to = ["ops@example.org"]

[[imports]]
name = "shop"
url = "{shop.server.url('/sitemap.xml')}"
""")
    controller = smtp_server(collector, port)
    try:
        shop.pages = 100
        first = run_cli(home, "--config", str(config), "run", "shop")
        assert (first.returncode, first.stderr) == (0, "")
        shop.pages = 40
        second = run_cli(home, "--config", str(config), "run", "shop")
    finally:
        controller.stop()
    _failed_with_data(second, 2, "40 items, down 60 % from 100 in the previous completed run; "
                                 "error at a drop of 50 %")
    # The 40 URLs the failed run read are stored, seen by job 2.
    assert rows(home, "SELECT count(*) FROM sitemap_urls WHERE last_job_id = 2") == [(40,)]
    assert [letter["job_id"] for letter in _letters(home)] == [2]
    subjects = sorted(str(m["Subject"]) for m in collector.messages)
    assert subjects == [
        f"[ingestctl][CRITICAL] shop failed on {HOST}",
        f"[ingestctl][CRITICAL] shop quality volume_drop_error (error) on {HOST}"]


def test_fail_on_never_completes_with_the_violation_recorded(home: Path, tmp_path: Path,
                                                             shop: Shop) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text('[quality]\nfail_on = "never"\n')
    proc = run_cli(home, "--config", str(config), "run", "sitemap",
                   shop.server.url("/sitemap.xml"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("job 1 completed with warnings: 0 URLs"), proc.stdout
    assert "quality: zero_items" in proc.stdout
    assert _letters(home) == []


def test_an_import_may_opt_out_in_its_quality_table(home: Path, tmp_path: Path,
                                                    shop: Shop) -> None:
    config = tmp_path / "ingestctl.toml"
    config.write_text(f'[[imports]]\nname = "shop"\nurl = "{shop.server.url("/sitemap.xml")}"\n'
                      'quality = { fail_on = "never" }\n')
    assert run_cli(home, "--config", str(config), "run", "shop").returncode == 0
