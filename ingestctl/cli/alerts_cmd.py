"""``ingestctl alerts list``, ``alerts test`` and ``alerts flush``."""

from __future__ import annotations

import typer
from rich.text import Text

from ingestctl import clock
from ingestctl.alerts.effective import none_on_hint
from ingestctl.alerts.render import probe_alert
from ingestctl.cli.output import emit_json, error, message, stdout
from ingestctl.cli.state import state
from ingestctl.cli.tables import TZ_OPTION, Column, Listing, print_listing, zone
from ingestctl.errors import EXIT_FAILED, DeliveryError
from ingestctl.redact import redact_text
from ingestctl.store import alerts as alert_store

_SEVERITY_STYLE = {"critical": "red", "warning": "yellow", "resolved": "green"}

app = typer.Typer(help="Alert history, a test alert, and resending undelivered alerts.",
                  no_args_is_help=True)


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many alerts."),
    as_json: bool = typer.Option(False, "--json", help="JSON array on stdout."),
    tz: str | None = TZ_OPTION,
) -> None:
    """List alerts, newest first, with each channel's delivery state."""
    st = state(ctx)
    records = alert_store.history(st.store(), limit)
    if as_json:
        emit_json([record.to_json() for record in records])
        return
    if not records:
        stdout.print("no alerts")
        return
    shown_in = zone(tz, st.config.display.tz)
    listing = Listing([
        Column("ID", cut="never", justify="right"),
        Column(shown_in.header("CREATED"), priority=1, cut="never"),
        Column("SEVERITY", cut="never"),
        Column("TITLE", cut="middle", min_width=24, want=48),
        Column("DELIVERY", priority=2, min_width=16, want=30),
    ])
    for record in records:
        delivery = ", ".join(
            f"{d.channel} {d.state}" + (f" ({d.attempts} failed: {d.last_error})"
                                        if d.state != "sent" and d.attempts else "")
            for d in record.deliveries) or "log only"
        severity = record.to_json()["severity"]
        listing.add(str(record.id), shown_in.short(record.stored_at),
                    Text(severity, style=_SEVERITY_STYLE.get(severity, "")),
                    redact_text(record.alert.title), redact_text(" ".join(delivery.split())))
    print_listing(listing)


@app.command("test")
def test_alert(ctx: typer.Context) -> None:
    """Send a test alert through every configured channel; exit 1 if any channel failed."""
    alerting = state(ctx).alerting
    channels = alerting.channels
    if not channels:
        error(f"no alert channel is configured: {none_on_hint(alerting.config.alerts)}")
        raise typer.Exit(EXIT_FAILED)
    alert = probe_alert(alerting.host, now=clock.now())
    failed = 0
    for channel in channels:
        try:
            channel.send(alert)
        except DeliveryError as exc:
            failed += 1
            message(f"{channel.name}: FAILED: {exc}")
        else:
            message(f"{channel.name}: sent")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("flush")
def flush(ctx: typer.Context) -> None:
    """Deliver every undelivered alert now; exit 1 if some remain undelivered."""
    st = state(ctx)
    alerting = st.alerting
    outcomes = alerting.flush(force=True)
    sent = sum(1 for o in outcomes if o.ok)
    failed = len(outcomes) - sent

    waiting = {name: alerting.outbox_store.backlog(name) for name in alerting.outbox.channels}
    left, _ = alert_store.undelivered(alerting.store)
    if not st.quiet or left:
        message(f"alerts flush: {sent} delivered, {failed} failed, {left} still undelivered")
    for name, backlog in waiting.items():
        if backlog is not None:
            error(f"{backlog.count} alert(s) wait for {name}; last error: "
                  f"{backlog.last_error or 'none (not tried yet)'}")
    if left:
        raise typer.Exit(EXIT_FAILED)
