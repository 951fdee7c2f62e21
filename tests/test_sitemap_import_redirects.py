"""Every redirect hop of a sitemap fetch passes the host rule and the address rule.

Through `ingestctl run` against real local servers: a child redirected to another host, to
the link-local metadata address, or (from a sitemap on another local address) to loopback is
refused before any request goes there, and every hop is recorded on the file row.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli import rows, run_cli
from tests.httpserver import LocalServer, Request, Response
from tests.sitemap_import_helpers import NS, index


def urlset(locs: list[str]) -> bytes:
    body = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    return f'<?xml version="1.0"?><urlset {NS}>{body}</urlset>'.encode()


def redirect(to: str, status: int = 301) -> Response:
    return Response(status, b"", headers={"Location": to})


def result_of(home: Path) -> dict[str, object]:
    proc = run_cli(home, "jobs", "show", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    found: dict[str, object] = json.loads(proc.stdout)["result"]
    return found


def file_row(home: Path, name: str) -> tuple[object, ...]:
    [row] = rows(home, "SELECT status, error_class, error_message, redirects FROM "
                       f"sitemap_files WHERE url LIKE '%/{name}'")
    return row


def test_a_child_redirected_to_another_host_is_refused_unless_cross_host_is_allowed(
        tmp_path: Path) -> None:
    with LocalServer(lambda req: Response(200, urlset([f"{other.base}/elsewhere"]))) as other:
        def handle(req: Request) -> Response:
            if req.path == "/index.xml":
                return Response(200, index([f"{a.base}/mine.xml", f"{a.base}/moved.xml"]))
            if req.path == "/mine.xml":
                return Response(200, urlset([f"{a.base}/here"]))
            return redirect(f"{other.base}/theirs.xml")

        with LocalServer(handle) as a:
            strict = run_cli(tmp_path / "strict", "run", "sitemap", f"{a.base}/index.xml")
            assert other.paths() == []
            loose = run_cli(tmp_path / "loose", "run", "sitemap", f"{a.base}/index.xml",
                            INGESTCTL_SITEMAP__ALLOW_CROSS_HOST="true")
            assert other.paths() == ["/theirs.xml"]
    assert strict.returncode == 0, strict.stderr
    host = other.base.removeprefix("http://")
    status, error_class, message, hops = file_row(tmp_path / "strict", "moved.xml")
    assert (status, error_class) == ("failed", "data")
    assert message == (f"{a.base}/moved.xml: redirect to {other.base}/theirs.xml refused: "
                       f"{host} is another host than the sitemap's; set allow_cross_host = "
                       f"true, or list the sitemap in the robots.txt of {host}")
    assert json.loads(str(hops)) == [f"301 {other.base}/theirs.xml (refused)"]
    assert rows(tmp_path / "strict", "SELECT url FROM sitemap_urls") == [(f"{a.base}/here",)]
    assert loose.returncode == 0, loose.stderr
    status, _, _, hops = file_row(tmp_path / "loose", "moved.xml")
    assert (status, json.loads(str(hops))) == ("ok", [f"301 {other.base}/theirs.xml"])
    assert set(rows(tmp_path / "loose", "SELECT url FROM sitemap_urls")) == {
        (f"{a.base}/here",), (f"{other.base}/elsewhere",)}


def test_a_redirect_to_the_link_local_metadata_address_is_refused(tmp_path: Path) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"

    def handle(req: Request) -> Response:
        if req.path == "/index.xml":
            return Response(200, index([f"{a.base}/c.xml"]))
        return redirect(metadata, 302)

    with LocalServer(handle) as a:
        child = run_cli(tmp_path / "child", "run", "sitemap", f"{a.base}/index.xml")
        root = run_cli(tmp_path / "root", "run", "sitemap", f"{a.base}/c.xml")
    # The index's only child is refused: no URL at all, so the job fails on zero_items.
    assert child.returncode == 1, child.stderr
    assert f"1 of 2 files failed (c.xml: redirect to {metadata} refused)" in child.stderr
    status, error_class, message, hops = file_row(tmp_path / "child", "c.xml")
    assert (status, error_class, json.loads(str(hops))) == (
        "failed", "data", [f"302 {metadata} (refused)"])
    assert "refused: link-local address 169.254.169.254; redirects to loopback" in str(message)
    [failure] = result_of(tmp_path / "child")["failures"]  # type: ignore[misc]
    assert failure["redirects"] == [f"302 {metadata} (refused)"]
    # The job's own target may change host, never address kind: the job fails.
    assert root.returncode == 1
    assert (f"data: {a.base}/c.xml: redirect to {metadata} refused: link-local address "
            "169.254.169.254") in root.stderr


def _other_local_address() -> str | None:
    """A non-loopback address of this machine, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_redirect_to_loopback_from_a_sitemap_elsewhere_is_refused(tmp_path: Path) -> None:
    address = _other_local_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with LocalServer(lambda req: Response(200, urlset(["http://x.example/secret"]))) as inner:
        def handle(req: Request) -> Response:
            if req.path == "/index.xml":
                return Response(200, index([f"{outer.base}/c.xml"]))
            return redirect(f"{inner.base}/admin.xml")

        with LocalServer(handle, host=address) as outer:
            proc = run_cli(tmp_path, "run", "sitemap", f"{outer.base}/index.xml",
                           INGESTCTL_SITEMAP__ALLOW_CROSS_HOST="true")
            assert inner.paths() == []
    assert proc.returncode == 1, proc.stderr  # nothing else listed: zero_items fails the job
    status, _, message, _ = file_row(tmp_path, "c.xml")
    assert status == "failed"
    assert "/admin.xml refused: loopback address 127.0.0.1; " in str(message)


def test_every_hop_is_recorded_and_the_target_may_move_to_another_host(
        tmp_path: Path) -> None:
    with LocalServer(lambda req: (
            Response(200, index([f"{new.base}/c.xml"])) if req.path == "/index.xml"
            else redirect(f"{new.base}/c3.xml", 307) if req.path == "/c.xml"
            else Response(200, urlset([f"{new.base}/p"])))) as new:
        def handle(req: Request) -> Response:
            if req.path == "/old.xml":
                return redirect(f"{old.base}/older.xml", 302)
            return redirect(f"{new.base}/index.xml", 308)

        with LocalServer(handle) as old:
            proc = run_cli(tmp_path, "run", "sitemap", f"{old.base}/old.xml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("job 1 completed: 1 URLs")
    assert json.loads(str(file_row(tmp_path, "old.xml")[3])) == [
        f"302 {old.base}/older.xml", f"308 {new.base}/index.xml"]
    assert json.loads(str(file_row(tmp_path, "c.xml")[3])) == [f"307 {new.base}/c3.xml"]
