"""Helpers for the sitemap importer tests: run an import in-process, read what it stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingestctl.clock import FakeClock
from ingestctl.config import Config
from ingestctl.events import EventBus
from ingestctl.jobs.runner import Runner
from ingestctl.models.jobs import Job, JobSpec
from ingestctl.store import Store
from tests.httpserver import Request, Response

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


class Importer:
    """A store, a fake clock and a runner: ``run(target)`` imports like ``ingestctl run``."""

    def __init__(self, path: Path, **sitemap: Any) -> None:
        self.store = Store(path / "ingestctl.db")
        self.clock = FakeClock()
        self.config = Config()
        self.config.retry.attempts = 1  # request retries are tested elsewhere
        for key, value in sitemap.items():
            setattr(self.config.sitemap, key, value)

    def runner(self) -> Runner:
        """A runner over this store."""
        return Runner(self.store, self.config, self.clock, EventBus())

    def run(self, target: str, *, inline_wait: bool = False) -> Job:
        """Submit and run ``target`` (one attempt unless ``inline_wait``)."""
        self.clock.advance(60)
        return self.runner().submit_and_run(JobSpec("sitemap", target), inline_wait=inline_wait)

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Plain tuples of a query."""
        return [tuple(r) for r in self.store.conn.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Any = ()) -> Any:
        """The first value of a query."""
        return self.store.scalar(sql, params)

    def urls(self, live: bool = True) -> list[str]:
        """The URLs stored (only those not removed, by default), sorted."""
        where = " WHERE removed_at IS NULL" if live else ""
        return [r[0] for r in self.rows(f"SELECT url FROM sitemap_urls{where} ORDER BY url")]


def urlset(entries: list[tuple[str, str | None]]) -> bytes:
    """A urlset of (loc, lastmod) entries."""
    body = "".join(f"<url><loc>{loc}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod
                                                else "") + "</url>" for loc, lastmod in entries)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>{body}</urlset>'.encode()


def index(locs: list[str]) -> bytes:
    """A sitemap index listing ``locs``."""
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {NS}>{body}'
            '</sitemapindex>').encode()


class Site:
    """A mutable set of files served with ETags, answering 304 to a matching If-None-Match."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Callable[[], Response]] = {}
        self.answers: list[tuple[str, int]] = []

    def __call__(self, req: Request) -> Response:
        path = req.path.split("?")[0]
        body = self.files.get(path)
        if body is None:
            self.answers.append((path, 404))
            return Response(404, b"not found")
        if callable(body):
            response = body()
            self.answers.append((path, response.status))
            return response
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if req.headers.get("if-none-match") == etag:
            self.answers.append((path, 304))
            return Response(304, headers={"ETag": etag})
        self.answers.append((path, 200))
        return Response(200, body, headers={"ETag": etag})

    def fetched(self, status: int = 200) -> list[str]:
        """Paths answered with ``status``, in order."""
        return [path for path, code in self.answers if code == status]
