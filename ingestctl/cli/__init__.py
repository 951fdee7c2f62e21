"""The ``ingestctl`` command line: a thin layer that parses, calls the core and renders."""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import Any

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from ingestctl import __version__
from ingestctl.cli.output import error
from ingestctl.cli.state import AppState
from ingestctl.errors import EXIT_FAILED, IngestError

log = logging.getLogger("ingestctl.cli")


class ErrorMappingGroup(TyperGroup):
    """Maps every expected error to one stderr line and its exit code, in one place."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; turn IngestErrors into their exit codes."""
        try:
            return super().invoke(ctx)
        except IngestError as exc:
            log.error("%s", exc, extra={"error_class": exc.error_class.value,
                                        "error_type": type(exc).__name__, "console": False})
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.OperationalError as exc:
            error(f"store error: {exc}; is another process holding the database?")
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            obj = ctx.find_root().obj
            if isinstance(obj, AppState):
                obj.close()


app = typer.Typer(
    cls=ErrorMappingGroup,
    help="Run and schedule data imports into SQLite that never fail silently.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ingestctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: str | None = typer.Option(None, "--config", envvar="INGESTCTL_CONFIG",
                                      help="Config file (TOML)."),
    home: str | None = typer.Option(None, "--home", envvar="INGESTCTL_HOME",
                                    help="Home directory for the database, breakers and logs."),
    json_logs: bool = typer.Option(False, "--json-logs", help="Log JSON lines to stderr."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More detail."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on success."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """Run and schedule data imports into SQLite that never fail silently."""
    ctx.obj = AppState(config, home, json_logs, verbose, quiet)


def _register() -> None:
    from ingestctl.cli import (
        alerts_cmd,
        breaker_cmd,
        config_cmd,
        dlq_cmd,
        jobs_cmd,
        quota_cmd,
        run_cmd,
        schedule_cmd,
        scheduler_cmd,
        worker_cmd,
    )

    app.command("run")(run_cmd.run)
    app.command("retry")(worker_cmd.retry)
    app.command("worker")(worker_cmd.worker)
    app.command("quota")(quota_cmd.quota)
    app.add_typer(jobs_cmd.app, name="jobs")
    app.add_typer(config_cmd.app, name="config")
    app.add_typer(dlq_cmd.app, name="dlq")
    app.add_typer(breaker_cmd.app, name="breaker")
    app.command("scheduler")(scheduler_cmd.scheduler)
    app.add_typer(schedule_cmd.app, name="schedule")
    app.add_typer(alerts_cmd.app, name="alerts")


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ingestctl")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
