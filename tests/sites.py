"""Sitemap sites for tests: the corpus behind a local server, and generated indexes."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

from tests.httpserver import LocalServer, Request, Response, serve_directory


def refinebio_server(corpus: Path) -> LocalServer:
    """refinebio's index and gzipped child (named .xml in the index), hosts rewritten."""
    root = corpus / "refinebio"
    files = serve_directory(root)
    holder: dict[str, LocalServer] = {}

    def handle(req: Request) -> Response:
        base = holder["server"].base.encode()
        if req.path == "/sitemap-index.xml":
            data = (root / "sitemap-index.xml").read_bytes()
            return Response(200, data.replace(b"https://www.refine.bio", base))
        if req.path == "/sitemap-1.xml":
            return Response(200, (root / "sitemap-1.xml.gz").read_bytes())
        return files(req)

    server = LocalServer(handle)
    holder["server"] = server
    return server


def urlset(urls: list[str]) -> bytes:
    """A plain urlset listing ``urls``."""
    body = "".join(f"<url><loc>{u}</loc><lastmod>2026-01-0{1 + i % 9}</lastmod></url>"
                   for i, u in enumerate(urls))
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>').encode()


class GeneratedSite:
    """An index of ``children`` urlsets of ``per_child`` URLs; children may be slow or fail."""

    def __init__(self, children: int, per_child: int, delay: float = 0.0,
                 gzip_children: bool = False) -> None:
        self.children = children
        self.per_child = per_child
        self.delay = delay
        self.gzip_children = gzip_children
        self.failing: dict[int, int] = {}  # child number -> HTTP status to answer
        self.server = LocalServer(self.handle)

    def child_urls(self, n: int) -> list[str]:
        """The page URLs child ``n`` lists."""
        return [f"https://pages.example.com/c{n}/p{i}" for i in range(self.per_child)]

    def handle(self, req: Request) -> Response:
        """Serve /index.xml and /child-N.xml."""
        if req.path == "/index.xml":
            locs = "".join(f"<sitemap><loc>{self.server.base}/child-{n}.xml</loc></sitemap>"
                           for n in range(self.children))
            return Response(200, (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.'
                                  f'sitemaps.org/schemas/sitemap/0.9">{locs}</sitemapindex>'
                                  ).encode())
        if req.path.startswith("/child-"):
            n = int(req.path.removeprefix("/child-").removesuffix(".xml"))
            if n in self.failing:
                return Response(self.failing[n], b"failing on purpose")
            if self.delay:
                time.sleep(self.delay)  # the server is slow, not the test
            body = urlset(self.child_urls(n))
            return Response(200, gzip.compress(body) if self.gzip_children else body)
        return Response(404, b"not found")

    @property
    def total(self) -> int:
        """URLs in all children."""
        return self.children * self.per_child
