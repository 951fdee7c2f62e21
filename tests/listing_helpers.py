"""A home whose every listing has long names, long URLs, errors and odd states, at a fixed time.

The listings are compared with snapshots in ``tests/snapshots/`` (``UPDATE_SNAPSHOTS=1``
rewrites them); the clock is fixed so every time and "ago" in them is stable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestctl.alerts.render import dead_letter_alert
from ingestctl.clock import to_iso
from ingestctl.errors import DataError, TransientError
from ingestctl.models.alerts import AttemptFacts, JobFacts
from ingestctl.models.jobs import JobSpec
from ingestctl.store import google as g_store
from ingestctl.store.alerts import DatabaseOutboxStore
from tests.monitoring_helpers import Crafted, crafted

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
LONG_URL = "https://shop.example.com/feeds/2026/march/sitemap-3.xml"
OTHER_URL = "https://shop.example.com/feeds/2026/march/sitemap-4.xml"
SNAPSHOTS = Path(__file__).parent / "snapshots"

CONFIG = """
[[imports]]
name = "shop-sitemap"
source = "sitemap"
url = "https://shop.example.com/sitemap_index.xml"
schedule = "0 2 * * *"
timezone = "Europe/Berlin"

[[imports]]
name = "merchant-products-eu-warehouse-feed"
source = "merchant"
account = "123456789"
schedule = "every 15m"

[[imports]]
name = "search-console-www"
source = "search-console"
site = "sc-domain:example.com"
"""


#: Seconds the clock moves while :func:`listing_home` builds its store.
SPAN = 2152


def listing_home(home: Path, start: datetime = START) -> Crafted:
    """Jobs in every state (one running), a dead letter, breakers, alerts and quota use;
    the clock ends ``SPAN`` seconds after ``start``."""
    c = crafted(home, start)
    c.run(JobSpec("sitemap", "https://shop.example.com/sitemap_index.xml", "shop-sitemap"), 42,
          items=48210)
    c.clock.advance(600)
    c.run(JobSpec("sitemap", LONG_URL), 3, error=DataError(
        "malformed XML: mismatched tag at line 6, column 24 (expected </url>)", url=LONG_URL,
        line=6))
    c.clock.advance(600)
    c.run(JobSpec("sitemap", OTHER_URL), 2, error=TransientError(
        f"HTTP 503 Service Unavailable from {OTHER_URL}"))
    c.clock.advance(600)
    c.run(JobSpec("merchant", "123456789", "merchant-products-eu-warehouse-feed"), 300,
          items=1250)
    c.queue.submit(JobSpec("search-console", "sc-domain:example.com", "search-console-www"))
    news, _ = c.queue.submit(JobSpec("sitemap", "https://news.example.com/sitemap.xml", "news"))
    claimed = c.queue.claim(news.id)
    assert claimed is not None
    c.clock.advance(5)
    c.queue.heartbeat(claimed, {"items": 1200, "current": "https://news.example.com/s-7.xml",
                                "files_done": 7, "files_total": 30})
    c.breaker("sitemap:shop.example.com", "open", c.clock.now() + timedelta(seconds=45))
    c.breaker("merchant:123456789", "closed")
    outbox = DatabaseOutboxStore(c.store)
    job = JobFacts(2, f"sitemap:{LONG_URL}", "sitemap", LONG_URL, "failed", 1)
    alert = dead_letter_alert(job, [AttemptFacts(1, "data", "DataError", "malformed XML")],
                              None, None, 1, "importer1", now=c.clock.now())
    first = outbox.add(alert, ["email", "webhook"], c.clock.now())
    outbox.mark_sent(first, "email", c.clock.now())
    outbox.mark_failed(first, "webhook", "connection refused by hooks.example.com:443",
                       c.clock.now() + timedelta(minutes=5))
    minute = c.clock.now().replace(second=0, microsecond=0)
    day = minute.replace(hour=0, minute=0)
    g_store.add_requests(c.store, "merchant", [("account:123456789", g_store.Bucket(
        to_iso(minute) or "", to_iso(day) or "", to_iso(day + timedelta(days=1)) or "",
        minute_limit=60, day_limit=1000))], to_iso(c.clock.now()) or "", n=830)
    g_store.record_response(c.store, "merchant", ["account:123456789"],
                            to_iso(c.clock.now()) or "", 200, None)
    return c


def config_file(tmp_path: Path) -> Path:
    """The config with the three imports."""
    path = tmp_path / "ingestctl.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def snapshot(name: str, text: str) -> str:
    """The stored snapshot ``name`` (written first when UPDATE_SNAPSHOTS is set)."""
    import os

    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def breakers_json(home: Path) -> dict[str, object]:
    """The breaker file, parsed."""
    data: dict[str, object] = json.loads((home / "breakers.json").read_text())
    return data
