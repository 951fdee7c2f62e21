"""``ingestctl config check`` and ``ingestctl config show``."""

from __future__ import annotations

import json
import os

import typer

from ingestctl.alerts.dispatch import check_alerts_config
from ingestctl.alerts.effective import active_channels, describe, none_on_hint
from ingestctl.alerts.sentry import dsn_from
from ingestctl.cli.output import emit_json, message, warning
from ingestctl.cli.state import state
from ingestctl.config_file import redacted
from ingestctl.jobs.retention import check_config as check_retention_config
from ingestctl.quality.settings import check_config
from ingestctl.scheduler.configured import scheduled_imports

app = typer.Typer(help="Validate and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate the config file; exit 78 with one line naming the problem."""
    st = state(ctx)
    config = st.config
    scheduled_imports(config)  # a bad schedule exits 78 naming the file and key

    check_config(config)
    check_alerts_config(config)
    check_retention_config(config)
    if config.sentry.dsn_env.strip():
        dsn_from(config)  # the SDK is installed and the variable is set
    where = str(config.path) if config.path else "no config file (defaults)"
    if not st.quiet:
        message(f"config OK: {where}; {len(config.imports)} import(s)")
        message(f"alerts: {describe(config.alerts, os.environ)}")
    if not active_channels(config.alerts, os.environ):
        warning(f"no alert channel is on: {none_on_hint(config.alerts)}")


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON (durations in seconds) instead "
                                 "of TOML-like text."),
) -> None:
    """Show the effective config with secrets redacted."""
    config = state(ctx).config
    if as_json:
        emit_json(redacted(config))  # durations in seconds, for programs
        return
    data = redacted(config, durations_as_text=True)
    message(f"# effective config from {config.path or 'defaults'}")
    for section, values in data.items():
        if section == "imports":
            for imp in values:
                message("\n[[imports]]")
                for key, value in imp.items():
                    message(f"{key} = {json.dumps(value)}")
            continue
        _section(section, values)


def _section(name: str, values: dict[str, object]) -> None:
    message(f"\n[{name}]")
    nested = {}
    for key, value in values.items():
        if isinstance(value, dict):
            nested[key] = value
        else:
            message(f"{key} = {json.dumps(value)}")
    for key, value in nested.items():
        _section(f"{name}.{key}", value)
