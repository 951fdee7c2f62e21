"""The Typer application: every command, parsed by Typer; errors mapped in one place."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from typing import Any

import typer
from typer._click.core import Command as ClickCommand
from typer._click.core import Context as ClickContext
from typer.core import TyperGroup

from ingestctl import __version__
from ingestctl.cli.failures import exit_code_for
from ingestctl.cli.params import speed_up
from ingestctl.cli.signals import exit_now
from ingestctl.cli.state import GLOBAL_FLAGS, GLOBAL_VALUED, AppState
from ingestctl.cli.usage import run
from ingestctl.errors import IngestError
from ingestctl.interrupt import EXIT_CODES

# Commands are imported on first use, so `health`, `metrics` and `status --json` (probes run
# every few seconds) never load the runner, progress bars or the modules of other commands.
# A target is "module:function", "module:typer_app" (a command group) or
# "module:typer_app#name" (the command called name registered on that Typer app).
LAZY_COMMANDS: dict[str, str] = {}


def lazy_command(name: str, target: str) -> None:
    """Register the top-level command ``name``; its module is imported only when it runs."""
    LAZY_COMMANDS[name] = target


def _load_command(name: str, target: str, group: TyperGroup) -> ClickCommand:
    module_name, _, attr = target.partition(":")
    attr, _, command_name = attr.partition("#")
    obj = getattr(importlib.import_module(module_name), attr)
    if isinstance(obj, typer.Typer) and not command_name:
        command: ClickCommand = typer.main.get_group(obj)
    else:
        if isinstance(obj, typer.Typer):
            info = next(c for c in obj.registered_commands if c.name == command_name)
        else:
            info = typer.models.CommandInfo(name=name, callback=obj)
        command = typer.main.get_command_from_info(
            info, pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=group.rich_markup_mode)
    command.name = name
    speed_up(command)
    return command


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options found after the command moved in front of it.

    Stops at ``--``; ``-vv`` and ``-qv`` style bundles of the global short flags count too.
    """
    index = 0  # where the command starts: after the options already in front
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        index += 2 if args[index] in GLOBAL_VALUED else 1
    head = args[:index]
    hoisted: list[str] = []
    rest: list[str] = []
    tail = args[index:]
    position = 0
    while position < len(tail):
        word = tail[position]
        if word == "--":
            rest += tail[position:]
            break
        if word in GLOBAL_FLAGS or _short_bundle(word) or _valued_with_equals(word):
            hoisted.append(word)
        elif word in GLOBAL_VALUED and position + 1 < len(tail):
            hoisted += [word, tail[position + 1]]
            position += 1
        else:
            rest.append(word)
        position += 1
    return [*head, *hoisted, *rest]


def _valued_with_equals(word: str) -> bool:
    return "=" in word and word.split("=", 1)[0] in GLOBAL_VALUED


def _short_bundle(word: str) -> bool:
    return len(word) > 2 and word[0] == "-" and word[1] != "-" and set(word[1:]) <= {"q", "v"}


class ErrorMappingGroup(TyperGroup):
    """Maps every expected error to one stderr line and its exit code, in one place."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        speed_up(self)

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        """Accept the global options after the command too (see hoist_global_options)."""
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def list_commands(self, ctx: ClickContext) -> list[str]:
        """Eager commands, then lazy ones in registration order."""
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in LAZY_COMMANDS if name not in eager)]

    def get_command(self, ctx: ClickContext, cmd_name: str) -> ClickCommand | None:
        """The command, importing its module when it is lazy and not loaded yet."""
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.commands[cmd_name] = _load_command(cmd_name, LAZY_COMMANDS[cmd_name], self)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: ClickContext, args: list[str]
                        ) -> tuple[str | None, ClickCommand | None, list[str]]:
        """As click's; an unknown name first loads every command, so suggestions are complete."""
        if args and args[0] not in self.commands and args[0] not in LAZY_COMMANDS:
            for name in LAZY_COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """As click's, but every usage error is one line with what was meant (cli/usage.py)."""
        return run(super().main, *args, **kwargs)

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; turn expected errors into their line and exit code (failures.py)."""
        try:
            return super().invoke(ctx)
        except (IngestError, sqlite3.Error, OSError) as exc:
            root = ctx.find_root().obj  # set by the callback, inside invoke
            code = exit_code_for(exc, root if isinstance(root, AppState) else None)
            if code is None:
                raise
            raise typer.Exit(code) from None
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
    config: str | None = typer.Option(None, "--config", envvar="INGESTCTL_CONFIG", metavar="PATH",
                                      help="Config file (TOML)."),
    home: str | None = typer.Option(None, "--home", envvar="INGESTCTL_HOME", metavar="DIR",
                                    help="Home directory for the database, breakers and logs."),
    json_logs: bool = typer.Option(False, "--json-logs", help="Log JSON lines to stderr."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More detail."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on success."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """Run and schedule data imports into SQLite that never fail silently."""
    ctx.obj = AppState(config, home, json_logs, verbose, quiet)
    ctx.obj.setup_stderr_logging()


def _register() -> None:
    lazy_command("run", "ingestctl.cli.run_cmd:run")
    lazy_command("retry", "ingestctl.cli.worker_cmd:retry")
    lazy_command("worker", "ingestctl.cli.worker_cmd:worker")
    lazy_command("quota", "ingestctl.cli.quota_cmd:quota")
    lazy_command("jobs", "ingestctl.cli.jobs_cmd:app")
    lazy_command("config", "ingestctl.cli.config_cmd:app")
    lazy_command("dlq", "ingestctl.cli.dlq_cmd:app")
    lazy_command("breaker", "ingestctl.cli.breaker_cmd:app")
    lazy_command("status", "ingestctl.cli.monitor_cmd:app#status")
    lazy_command("health", "ingestctl.cli.monitor_cmd:app#health")
    lazy_command("metrics", "ingestctl.cli.monitor_cmd:app#metrics")
    lazy_command("scheduler", "ingestctl.cli.scheduler_cmd:scheduler")
    lazy_command("schedule", "ingestctl.cli.schedule_cmd:app")
    lazy_command("alerts", "ingestctl.cli.alerts_cmd:app")
    lazy_command("prune", "ingestctl.cli.prune_cmd:prune")
    lazy_command("db", "ingestctl.cli.db_cmd:app")


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="ingestctl")
    except SystemExit as exc:
        if isinstance(exc.code, int) and exc.code in EXIT_CODES.values():
            exit_now(exc.code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
