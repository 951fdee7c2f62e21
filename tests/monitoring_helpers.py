"""A crafted store for the monitoring tests, built through the real JobQueue with a FakeClock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingestctl.clock import FakeClock, to_iso
from ingestctl.config import JobsConfig
from ingestctl.errors import DataError, IngestError, TransientError
from ingestctl.events import EventBus
from ingestctl.jobs.contract import AttemptReport
from ingestctl.jobs.queue import JobQueue
from ingestctl.models.jobs import Job, JobSpec
from ingestctl.store import Store, counters
from ingestctl.store import breakers as breaker_rows


@dataclass
class Crafted:
    """The store, its clock (an hour before the real now, so real-time windows include it)."""

    home: Path
    store: Store
    clock: FakeClock
    queue: JobQueue
    jobs: dict[str, Job] = field(default_factory=dict)

    @property
    def breakers(self) -> Path:
        """The home's breaker file."""
        return self.home / "breakers.json"

    def run(self, spec: JobSpec, seconds: float, *, error: IngestError | None = None,
            items: int = 0, result: dict[str, Any] | None = None) -> Job:
        """Submit, claim and finish one job that takes ``seconds``."""
        job, _ = self.queue.submit(spec)
        claimed = self.queue.claim(job.id)
        assert claimed is not None
        self.clock.advance(seconds)
        if error is None:
            return self.queue.complete(claimed, AttemptReport(items=items, job_items=items,
                                                              result=result))
        return self.queue.fail(claimed, error, None, AttemptReport(result=result))

    def count(self, name: str, labels: dict[str, str], by: float) -> None:
        """Add to a store counter."""
        with self.store.write() as conn:
            counters.increment(conn, name, labels, by)

    def breaker(self, key: str, state: str, open_until: datetime | None = None) -> None:
        """Add a breaker to breakers.json (to the breakers table of a PostgreSQL store)."""
        data = (json.loads(self.breakers.read_text()) if self.breakers.exists()
                else {"version": 1, "breakers": {}})
        if state == "open" and open_until is None:
            open_until = self.clock.now() + timedelta(seconds=60)
        entry = {"state": state, "failures": 5 if state != "closed" else 0,
                 "open_until": to_iso(open_until)}
        if self.store.dialect == "postgres":
            with self.store.write() as conn:
                breaker_rows.save(conn, {key: {**entry, "successes": 0,
                                               "updated_at": to_iso(self.clock.now())}}, [])
            return
        data["breakers"][key] = entry
        self.breakers.write_text(json.dumps(data))


def crafted(home: Path, start: datetime | None = None,
            location: Path | str | None = None) -> Crafted:
    """An empty store in ``home`` (or at ``location``) with a queue on a fake clock."""
    home.mkdir(parents=True, exist_ok=True)
    store = Store(location or home / "ingestctl.db")
    clock = FakeClock(start or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    cfg = JobsConfig()
    cfg.max_attempts = 3
    return Crafted(home, store, clock, JobQueue(store, cfg, clock, EventBus(), owner="test:1"))


SHOP = JobSpec("sitemap", "https://shop.example/sitemap.xml", "shop")
FEED = JobSpec("merchant", "123", "feed")
ADHOC = JobSpec("sitemap", "https://adhoc.example/sitemap.xml")
NEWS = JobSpec("sitemap", "https://news.example/sitemap.xml", "news")
QUALITY = {"quality": [{"rule": "missing_lastmod", "severity": "warning"},
                       {"rule": "empty_urlset", "severity": "error"}]}


def standard(home: Path, location: Path | str | None = None) -> Crafted:
    """The store most monitoring tests read.

    shop (sitemap): completed in 0.5 s and 3 s (10, 20 items), failed with a data error after
    2 s (a dead letter), completed in 70 s (30 items, one quality error and one warning).
    feed (merchant): completed in 4000 s with 5 items.
    ad-hoc sitemap: failed once with a transient error, retrying.
    news (sitemap): processing, progress 42 items in s-2.xml.
    Counters: retries, API requests, alerts and quality violations.
    """
    c = crafted(home, location=location)
    c.run(SHOP, 0.5, items=10)
    c.run(SHOP, 3, items=20)
    c.jobs["shop_failed"] = c.run(SHOP, 2, error=DataError("bad XML", url="x.xml", line=3))
    c.jobs["shop_ok"] = c.run(SHOP, 70, items=30, result=QUALITY)
    c.jobs["feed"] = c.run(FEED, 4000, items=5)
    c.jobs["adhoc"] = c.run(ADHOC, 1, error=TransientError("HTTP 503"))
    news, _ = c.queue.submit(NEWS)
    claimed = c.queue.claim(news.id)
    assert claimed is not None
    c.clock.advance(5)
    c.queue.heartbeat(claimed, {"items": 42, "current": "https://news.example/s-2.xml"})
    c.jobs["news"] = claimed
    c.count("retries_total", {"source": "sitemap", "error_class": "transient"}, 4)
    c.count("api_requests_total", {"api": "merchant", "code": "200"}, 40)
    c.count("api_requests_total", {"api": "merchant", "code": "429"}, 2)
    c.count("alerts_total", {"channel": "email", "outcome": "sent"}, 2)
    c.count("quality_violations_total", {"rule": "missing_lastmod", "severity": "warning"}, 7)
    return c


CONFIG = """
[[imports]]
name = "shop"
source = "sitemap"
url = "https://shop.example/sitemap.xml"
schedule = "0 2 * * *"
freshness = "6h"

[[imports]]
name = "feed"
source = "merchant"
account = "123"
schedule = "every 15m"
"""


def write_config(path: Path, extra: str = "") -> Path:
    """The config naming the crafted imports, plus ``extra`` TOML."""
    path.write_text(CONFIG + extra, encoding="utf-8")
    return path


def write_scheduled_config(path: Path, sources: tuple[str, ...], count: int) -> Path:
    """``count`` configured imports ``import-00``... cycling through ``sources``, each with an
    hourly schedule and a 2h freshness window (a big installation's config)."""
    lines = ["[health]", 'window = "24h"', ""]
    for n in range(count):
        source = sources[n % len(sources)]
        target = {"sitemap": f'url = "https://shop{n}.example.com/sitemap.xml"',
                  "merchant": f'account = "{1000 + n}"',
                  "search-console": f'site = "sc-domain:site{n}.example.com"'}[source]
        lines += ["[[imports]]", f'name = "import-{n:02d}"', f'source = "{source}"', target,
                  f'schedule = "{n} * * * *"', 'freshness = "2h"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

