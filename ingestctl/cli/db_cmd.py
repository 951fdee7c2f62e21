"""``ingestctl db check`` and ``ingestctl db migrate``."""

from __future__ import annotations

import typer

from ingestctl.cli.output import emit_json, error, message
from ingestctl.cli.state import state
from ingestctl.errors import EXIT_FAILED
from ingestctl.monitoring.database import check_database, migrate_database

app = typer.Typer(help="The database: check it, migrate its schema.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="The report as JSON."),
) -> None:
    """Reachability, server, schema version and pool use; exit 1 unless reachable and current."""
    st = state(ctx)
    st.setup_logging()
    report = check_database(st.home, st.config.store)
    if as_json:
        emit_json(report.to_json())
    elif not report.reachable:
        error(f"database {report.where} is unreachable: {report.error}")
    else:
        message(f"database: {report.where} ({report.server})")
        state_text = ("up to date" if report.ok else
                      f"{report.pending} migration(s) pending: run `ingestctl db migrate`"
                      if report.pending else "newer than this ingestctl: upgrade ingestctl")
        message(f"schema: version {report.schema_version} of {report.schema_latest} "
                f"({state_text})")
        if report.pool:
            used = report.pool.get("pool_size", 0) - report.pool.get("pool_available", 0)
            message(f"pool: {used} of {report.pool.get('pool_max', 0)} connection(s) in use")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("migrate")
def migrate(ctx: typer.Context) -> None:
    """Apply pending schema migrations (every command also does on first use)."""
    st = state(ctx)
    st.setup_logging()
    before, after = migrate_database(st.home, st.config.store)
    if not st.quiet:
        done = (f"{after - before} migration(s) applied" if after > before
                else "already up to date")
        message(f"database schema at version {after}: {done}")
