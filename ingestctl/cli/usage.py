"""Usage errors as one line on stderr with what was meant, exit 2.

``ingestctl jbos list`` prints ``ingestctl: error: no such command 'jbos'; did you mean
'jobs'?`` instead of Click's usage block. :func:`run` wraps the root command's ``main``; every
parse error of every level (unknown commands and options, missing or bad arguments) passes
through :func:`one_line`.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from ingestctl.cli.output import error

# Typer exports BadParameter only; the classes every parse error derives from are its bases.
_BASES = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
ClickUsageError: type[Exception] = _BASES["UsageError"]
ClickException: type[Exception] = _BASES["ClickException"]
EXIT_USAGE = 2
_NO_COMMAND = re.compile(r"No such command (['\"])(?P<name>.+?)\1")
_NOT_ONE_OF = re.compile(r"'(?P<value>[^']*)' is not one of (?P<choices>'.*')")


def _close(word: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.7)
    return found[0] if found else None


def _options(command: Any) -> list[str]:
    names: list[str] = ["--help"]
    for param in getattr(command, "params", []):
        names += [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    return [n for n in names if n.startswith("-")]


def one_line(exc: Any) -> str:
    """The message of a Click usage error as one line: what is wrong; what was meant."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path.partition(" ")[2] if ctx is not None else ""
    help_hint = f"see `{' '.join(['ingestctl', where]).strip()} --help`"
    option = getattr(exc, "option_name", None)
    if type(exc).__name__ == "NoSuchOption" and option:
        known = list(getattr(exc, "possibilities", None) or [])
        meant = _close(option, _options(ctx.command) if ctx is not None else known)
        text = f"no such option {option!r}" + (f" for '{where}'" if where else "")
        return text + (f"; did you mean {meant!r}?" if meant else f"; {help_hint}")
    message = " ".join(exc.format_message().split())
    typo = _NO_COMMAND.search(message)
    if typo and ctx is not None:
        name = typo.group("name")
        meant = _close(name, list(ctx.command.list_commands(ctx)))
        prefix = f"{where} " if where else ""
        text = f"no such command '{prefix}{name}'"
        return text + (f"; did you mean '{prefix}{meant}'?" if meant else f"; {help_hint}")
    message = message[:1].lower() + message[1:]
    choice = _NOT_ONE_OF.search(message)
    if choice:
        meant = _close(choice.group("value"), re.findall(r"'([^']*)'", choice.group("choices")))
        if meant:
            help_hint = f"did you mean {meant!r}?"
    return (f"{where}: " if where else "") + f"{message.rstrip('.')}; {help_hint}"


def run(main: Callable[..., Any], *args: Any, standalone_mode: bool = True,
        **kwargs: Any) -> Any:
    """Call Click's ``main`` in non-standalone mode and report errors ourselves."""
    if not standalone_mode:
        return main(*args, standalone_mode=False, **kwargs)
    try:
        result = main(*args, standalone_mode=False, **kwargs)
    except ClickUsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as Click does
            exc.show()  # type: ignore[attr-defined]
            _exit(EXIT_USAGE)
        error(one_line(exc))
        _exit(EXIT_USAGE)
    except ClickException as exc:
        error(" ".join(exc.format_message().split()))  # type: ignore[attr-defined]
        _exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        error("aborted")
        _exit(1)
    _exit(result if isinstance(result, int) else 0)


def _exit(code: int) -> NoReturn:
    sys.exit(code)
