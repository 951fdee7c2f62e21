"""The status dashboard rendered on fixed-size Rich consoles, and one step of the live loop."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.live import Live

from ingestctl.monitoring import snapshots as sq
from ingestctl.monitoring.dashboard import render
from ingestctl.monitoring.status import (
    BreakerRow,
    DeadLetterRow,
    FailureRow,
    QueuedJob,
    QuotaRow,
    RunningJob,
    ScheduleRow,
    SourceSummary,
    StatusSnapshot,
    fill_next_runs,
)
from ingestctl.monitoring.watch import Watch
from tests.monitoring_helpers import standard

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def busy(dead: int = 40) -> StatusSnapshot:
    """A snapshot with something in every section, and more dead letters than fit."""
    ago = NOW - timedelta(minutes=3)
    return StatusSnapshot(
        generated_at=NOW, database="/var/lib/ingestctl/ingestctl.db",
        sources=[SourceSummary("sitemap", 40, 5, 0, 1, 2), SourceSummary("merchant", 9, 0)],
        running=[RunningJob(7, "shop-sitemap", "sitemap", "https://shop.example/sitemap.xml",
                            2, 3, NOW - timedelta(seconds=95), NOW, NOW + timedelta(seconds=50),
                            "host:1", items=123456,
                            current="https://shop.example/sitemaps/products-0042.xml.gz",
                            files_done=42, files_total=120)],
        queue=[QueuedJob(8, "feed", "merchant", "retrying", 1, 3, NOW + timedelta(seconds=20),
                         "rate_limited", "HTTP 429")],
        queue_total=1,
        dead_letters=[DeadLetterRow(100 + n, 200 + n, f"import-{n}", "sitemap", "data",
                                    "malformed XML at line 3", 1, ago) for n in range(dead)],
        dead_letters_total=dead * 10,
        breakers=[BreakerRow("sitemap:shop.example", "open", 5, NOW + timedelta(seconds=30),
                             "transient")],
        quotas=[QuotaRow("merchant", "account-123", 830, 1000)],
        failures=[FailureRow(9, "news", "sitemap", 1, "failed", ago, "transient",
                             "TransientError", "HTTP 503")],
        alerts=[],
        schedules=[ScheduleRow("shop-sitemap", "sitemap", "0 2 * * *", "UTC",
                               NOW + timedelta(hours=14), ago)],
    )


def draw(snapshot: StatusSnapshot, width: int, height: int, live: bool = True) -> list[str]:
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      color_system=None, legacy_windows=False)
    console.print(render(snapshot, width=width, height=height - 1 if live else None))
    return console.export_text().rstrip("\n").split("\n")


def test_fits_80x24_urgent_sections_first_healthy_ones_folded() -> None:
    lines = draw(busy(), 80, 24)
    text = "\n".join(lines)
    assert len(lines) <= 23, text
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("ingestctl status  2026-03-01 12:00:00 UTC")
    titles = [line.split()[0].rstrip(",") for line in lines if line and line.split()[0] in (
        "Running", "Recent", "Dead", "Retry", "Circuit", "Sources,")]
    assert titles == ["Running", "Recent", "Dead", "Retry", "Circuit"], text
    assert "Dead letters (" in text and " of 400 shown)" in text
    assert "123,456" in text and "[42/120]" in text and "1m 35s" in text
    assert "in 20s" in text and "rate_limited: HTTP 429" in text
    assert "Alerts: none" in text and "Schedules: 1, all on time" in text
    assert "Sources, last 24h: 2 not shown" in text  # no room left: one line says so


def test_wide_terminal_uses_two_columns_and_the_whole_height() -> None:
    lines = draw(busy(), 200, 50)
    assert len(lines) <= 49
    assert max(len(line) for line in lines) <= 200
    assert any(line.startswith("Running ") and "Recent failures" in line for line in lines)
    narrow = draw(busy(), 80, 24)
    shown = [line for line in lines if "malformed XML" in line]
    assert len(shown) > len([line for line in narrow if "malformed XML" in line])
    assert len(shown) >= 40  # the dead letters fill the rest of the screen


def test_plain_status_shows_every_row() -> None:
    lines = draw(busy(dead=30), 100, 24, live=False)
    assert len([line for line in lines if "malformed XML" in line]) == 30
    assert "Dead letters (30 of 300 shown)" in "\n".join(lines)


def test_empty_snapshot_is_a_few_quiet_lines() -> None:
    lines = draw(StatusSnapshot(generated_at=NOW, database="x.db"), 80, 24)
    assert lines[1].startswith("Running: nothing · Recent failures: none in 24h · Dead")
    assert len(lines) == 5


def test_closed_breakers_fold_and_failing_schedules_come_first() -> None:
    snap = busy()
    snap.breakers = [BreakerRow("merchant:1", "closed", 0, None, None)]
    snap.schedules = [
        ScheduleRow("a-fine", "sitemap", "0 2 * * *", "UTC", NOW + timedelta(hours=1), NOW),
        ScheduleRow("b-fine", "sitemap", "0 3 * * *", "UTC", NOW + timedelta(hours=2), NOW),
        ScheduleRow("z-broken", "sitemap", "0 4 * * *", "UTC", NOW + timedelta(hours=3),
                    NOW - timedelta(days=2), NOW - timedelta(hours=1))]
    text = "\n".join(draw(snap, 80, 24))
    assert "Circuit breakers: 1, all closed" in text
    assert "Schedules (2 of 3 shown)" in text
    assert text.index("z-broken") < text.index("a-fine")


def test_sparkline_and_stalled_job() -> None:
    snap = busy()
    snap.sources[0].hourly_completed = [0] * 20 + [1, 4, 8, 8]
    snap.sources[0].hourly_failed = [0] * 22 + [2, 0]
    snap.running[0].current = None
    snap.running[0].files_total = None
    text = "\n".join(draw(snap, 120, 40))
    assert "····················▁▄█▇" in text  # hour 22: 8 done + 2 failed, the top
    assert "no progress reported yet (heartbeat now)" in text


def test_real_store_rendered_with_next_runs(tmp_path: Path) -> None:
    c = standard(tmp_path / "home")
    from ingestctl.config import Config, ImportConfig

    cfg = Config()
    cfg.imports = [ImportConfig(name="shop", url="https://shop.example/sitemap.xml",
                                schedule="every 15m"),
                   ImportConfig(name="bad", url="https://b.example/s.xml", schedule="61 * * * *")]
    snap = sq.status_snapshot(c.store, cfg, c.clock.now(), c.breakers)
    fill_next_runs(snap)
    assert snap.schedules[0].next_run is not None
    assert snap.schedules[0].next_run.minute % 15 == 0
    assert snap.schedules[1].error is not None and "61" in snap.schedules[1].error
    text = "\n".join(draw(snap, 120, 40))
    assert "news" in text and "42" in text and "https://news.example/s-2.xml" in text


class FakeKeys:
    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.waits: list[float] = []

    def __call__(self, timeout: float) -> str:
        self.waits.append(timeout)
        return self.keys.pop(0) if self.keys else ""


def test_watch_step_redraws_and_stops_on_q() -> None:
    out = io.StringIO()
    console = Console(width=80, height=24, file=out, force_terminal=True, color_system=None)
    calls: list[int] = []

    def snapshot() -> StatusSnapshot:
        calls.append(1)
        return busy()

    keys = FakeKeys("", "x", "q")
    with Live(console=console, auto_refresh=False, screen=False) as live:
        loop = Watch(snapshot, live, console, 0.5, keys)
        assert loop.step() is True
        assert loop.step() is True
        assert loop.step() is False
    assert (len(calls), loop.frames, keys.waits) == (3, 3, [0.5, 0.5, 0.5])
    assert out.getvalue().count("ingestctl status") >= 3


def test_watch_run_ends_on_ctrl_c() -> None:
    console = Console(width=80, height=24, file=io.StringIO(), force_terminal=True)

    def interrupted(timeout: float) -> str:
        raise KeyboardInterrupt

    with Live(console=console, auto_refresh=False) as live:
        loop = Watch(busy, live, console, 1.0, interrupted)
        loop.run()
    assert loop.frames == 1
