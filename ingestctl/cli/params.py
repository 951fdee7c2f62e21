"""Fast coercion of plain option values (str, bool, int, float, enum choices, paths).

Typer (0.2x) coerces every given parameter value through a pydantic ``TypeAdapter``; importing
pydantic and building the adapters costs about 100 ms per process, more than all of
``ingestctl health`` otherwise does, and probes run it every few seconds. For the plain types
our commands use, :func:`speed_up` installs a converter built on Typer's own choice and path
helpers instead, so pydantic is never imported. Any other parameter (parsers, ranges, lists,
files, dates) keeps Typer's coercion, and if Typer's internals move this quietly does nothing.
"""

from __future__ import annotations

import contextlib
from enum import Enum
from pathlib import Path
from typing import Any

with contextlib.suppress(ImportError):
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_choice, coerce_cli_path
    from typer.core import _TyperParameter

_NUMBERS = (int, float)
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def _simple(descriptor: Any) -> bool:
    annotation = descriptor.annotation
    info = descriptor.parameter_info
    if info.parser is not None or getattr(info, "click_type", None) is not None:
        return False
    if descriptor.file_annotation is not None or info.min is not None or info.max is not None:
        return False
    if annotation in (str, bool, *_NUMBERS):
        return True
    return isinstance(annotation, type) and issubclass(annotation, Enum | Path)


def _coerce(self: Any, value: Any, param: Any, ctx: Any) -> Any:
    annotation = self.annotation
    if annotation is str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if annotation is bool:
        if isinstance(value, bool) or value is None:
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx, param=param)
    if annotation in _NUMBERS:
        if isinstance(value, annotation) and not isinstance(value, bool):
            return value
        try:
            return annotation(value)
        except (TypeError, ValueError):
            kind = "integer" if annotation is int else "number"
            raise BadParameter(f"{value!r} is not a valid {kind}.", ctx=ctx,
                               param=param) from None
    if issubclass(annotation, Enum):
        try:
            return coerce_cli_choice(value, choices=list(annotation),
                                     case_sensitive=self.parameter_info.case_sensitive, ctx=ctx)
        except ValueError as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None
    return coerce_cli_path(value, self.parameter_info,
                           path_type=self.parameter_info.path_type or annotation,
                           param=param, ctx=ctx)


def _light_class() -> type | None:
    try:
        return type("LightRuntimeParam", (RuntimeParam,), {"_coerce_value": _coerce})
    except NameError:  # Typer without these internals: keep its own coercion
        return None


_LIGHT = _light_class()


def _light(param: Any) -> None:
    if (_LIGHT is not None and isinstance(param, _TyperParameter)
            and param._runtime_param is None and _simple(param.type_descriptor)):
        descriptor = param.type_descriptor
        param._runtime_param = _LIGHT(parameter_info=descriptor.parameter_info,
                                      annotation=descriptor.annotation)


def speed_up(command: Any) -> None:
    """Give the plain parameters of ``command`` (and of its subcommands) the fast converter."""
    if _LIGHT is None:
        return
    for param in getattr(command, "params", ()):
        _light(param)
    # --help is built on demand (and then cached) by get_help_option: convert it as it comes.
    build_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = build_help(ctx)
        _light(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        speed_up(sub)
