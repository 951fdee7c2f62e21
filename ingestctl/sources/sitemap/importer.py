"""The sitemap source: crawls a sitemap (index) from a URL or file into the store."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from lxml import etree

from ingestctl.clock import to_iso
from ingestctl.errors import DataError, IngestError, NotFoundError
from ingestctl.jobs import AttemptReport
from ingestctl.quality import SitemapStatsAccumulator
from ingestctl.runner import ImportContext
from ingestctl.sources.http import HttpFetcher, iter_body
from ingestctl.store import sitemaps as sm_store

BATCH = 2000
CHUNK = 64 * 1024


@dataclass
class _Entry:
    kind: str  # "url" or "sitemap"
    loc: str
    lastmod: str | None = None
    changefreq: str | None = None
    priority: float | None = None


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _parse(url: str, chunks: Iterator[bytes], max_bytes: int) -> Iterator[_Entry]:
    """Stream entries out of raw (possibly gzipped) sitemap bytes."""
    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=False)
    inflater: zlib._Decompress | None = None
    first = True
    total = 0
    for raw in chunks:
        if first:
            first = False
            if raw[:2] == b"\x1f\x8b":
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(raw, max_bytes - total + 1) if inflater else raw
        total += len(data)
        if total > max_bytes:
            raise DataError(f"larger than {max_bytes} bytes uncompressed", url=url)
        try:
            parser.feed(data)
        except etree.XMLSyntaxError as exc:
            raise DataError(exc.msg, url=url, line=exc.lineno, column=exc.offset) from None
        yield from _drain(parser)
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise DataError(exc.msg, url=url, line=exc.lineno, column=exc.offset) from None
    yield from _drain(parser)


def _drain(parser: etree.XMLPullParser) -> Iterator[_Entry]:
    events = cast(Iterator[tuple[str, Any]], parser.read_events())
    for _, elem in events:
        name = _local(elem.tag)
        if name not in ("url", "sitemap"):
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in elem}
        loc = fields.get("loc", "")
        if loc:
            priority = fields.get("priority")
            yield _Entry(name, loc, fields.get("lastmod") or None,
                         fields.get("changefreq") or None,
                         float(priority) if priority else None)
        elem.clear()


def _read_file(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror}") from None


class SitemapSource:
    """Imports a urlset or a sitemap index and its children."""

    def run(self, ctx: ImportContext) -> AttemptReport:
        """Crawl the job's target, upserting URLs in batches."""
        cfg = ctx.config.sitemap
        job = ctx.job
        done = {f.url for f in sm_store.files_of(ctx.store, job.import_id)
                if f.job_id == job.id and f.status == "ok" and f.kind == "url"}
        queue: deque[tuple[str, str | None, int]] = deque([(job.target, None, 0)])
        seen = {job.target}
        files_done = 0
        failures: list[IngestError] = []
        client = ctx.http()
        # Quality counters, filled per entry (ingestctl.quality_gate evaluates them).
        stats = SitemapStatsAccumulator(job.target, now=ctx.clock.now(),
                                        max_url_length=cfg.max_url_length)
        if True:
            while queue:
                url, parent, depth = queue.popleft()
                if url in done:
                    files_done += 1
                    continue
                try:
                    children = self._import_file(ctx, client, url, parent, depth,
                                                 cfg.max_bytes_per_file, stats)
                except IngestError as exc:
                    if parent is None:
                        raise
                    failures.append(exc)
                    stats.add_child(url, ok=False)
                    self._record(ctx, url, parent, depth, None, 0, exc)
                    continue
                if parent is not None:
                    stats.add_child(url, ok=True)
                files_done += 1
                for child in children:
                    if child not in seen and depth < cfg.max_depth:
                        seen.add(child)
                        queue.append((child, url, depth + 1))
                ctx.progress(items=sm_store.count_urls(ctx.store, job.import_id, job.id),
                             current=url, files_done=files_done, files_total=len(seen))
        items = sm_store.count_urls(ctx.store, job.import_id, job.id)
        retryable = [e for e in failures if e.error_class.retryable]
        if retryable:
            raise type(retryable[0])(f"{len(failures)} child sitemap(s) failed; first: "
                                     f"{retryable[0]}")
        summary = stats.summary()
        # Entries beyond the distinct URLs stored repeat a URL (only known when nothing was
        # skipped as done by an earlier attempt).
        duplicates = max(0, summary.urls - items) if not done else 0
        return AttemptReport(items=items, job_items=items,
                             result={"files": files_done, "failed_files": len(failures)},
                             summaries=[summary], duplicate_keys=duplicates)

    def _import_file(self, ctx: ImportContext, client: HttpFetcher, url: str,
                     parent: str | None, depth: int, max_bytes: int,
                     stats: SitemapStatsAccumulator) -> list[str]:
        if urlsplit(url).scheme not in ("http", "https"):
            return self._consume(ctx, url, parent, depth, _read_file(Path(url)), max_bytes,
                                 stats)
        fetched = client.fetch(url, lambda response: self._consume(
            ctx, url, parent, depth, iter_body(response, url=url), max_bytes, stats))
        return fetched.value or []

    def _consume(self, ctx: ImportContext, url: str, parent: str | None, depth: int,
                 chunks: Iterator[bytes], max_bytes: int,
                 stats: SitemapStatsAccumulator) -> list[str]:
        children: list[str] = []
        batch: list[sm_store.UrlRow] = []
        count = 0
        now = to_iso(ctx.clock.now()) or ""
        kind = "url"
        for entry in _parse(url, chunks, max_bytes):
            if entry.kind == "sitemap":
                kind = "index"
                children.append(entry.loc)
                continue
            stats.add(entry.loc, entry.lastmod, sitemap_url=url)
            batch.append((entry.loc, entry.lastmod, entry.changefreq, entry.priority))
            if len(batch) >= BATCH:
                count += sm_store.upsert_urls(ctx.store, ctx.job.import_id, ctx.job.id, url,
                                              batch, now)
                batch.clear()
                ctx.progress(items=count, current=url)
        if batch:
            count += sm_store.upsert_urls(ctx.store, ctx.job.import_id, ctx.job.id, url, batch,
                                          now)
        if kind == "index":
            stats.add_index_children(len(children))
        self._record(ctx, url, parent, depth, kind, count, None)
        return children

    def _record(self, ctx: ImportContext, url: str, parent: str | None, depth: int,
                kind: str | None, urls: int, error: IngestError | None) -> None:
        sm_store.save_file(ctx.store, ctx.job.import_id, ctx.job.id, sm_store.SitemapFile(
            url=url, parent_url=parent, depth=depth, kind=kind,
            status="failed" if error else "ok", http_status=None, etag=None,
            last_modified=None, bytes=0, urls=urls,
            error_class=error.error_class.value if error else None,
            error_message=str(error) if error else None, job_id=ctx.job.id,
            fetched_at=to_iso(ctx.clock.now())))


SOURCE = SitemapSource()
