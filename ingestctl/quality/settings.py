"""Rule settings per import: the defaults, then ``[quality.rules]``, then the import's ``quality``.

An override is, per rule name::

    volume_drop_error = 0.5                                  # threshold
    same_lastmod = false                                     # off (true: on)
    duplicate_keys = "error"                                 # severity ("off" also works)
    invalid_url_share = { severity = "error", threshold = 0.1, enabled = true }

Share thresholds also accept "5%". An import's table may set ``fail_on`` too. Anything else
raises :class:`ConfigError` naming the exact key, e.g. ``imports[2].quality.same_lastmod``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingestctl.config import Config, ImportConfig
from ingestctl.errors import ConfigError
from ingestctl.quality.catalog import DEFAULT_RULES, default_settings
from ingestctl.quality.model import FailOn, Kind, Number, RuleSettings, RuleSpec, ViolationSeverity

_OFF = ("off", "false", "no", "disabled")
_ON = ("on", "true", "yes", "enabled")
_FIELDS = ("enabled", "severity", "threshold")


@dataclass(frozen=True)
class QualityPolicy:
    """Everything the rules need for one import: each rule's settings and ``fail_on``."""

    rules: Mapping[str, RuleSettings] = field(default_factory=default_settings)
    fail_on: FailOn = FailOn.ERROR

    def setting(self, rule: str) -> RuleSettings:
        """The effective settings of ``rule``."""
        return self.rules[rule]


def resolve_rules(
    overrides: Mapping[str, Any] | None,
    *,
    base: Mapping[str, RuleSettings] | None = None,
    key: str = "quality",
    path: str | None = None,
    allow: tuple[str, ...] = (),
) -> dict[str, RuleSettings]:
    """Apply ``overrides`` on ``base`` (the defaults); keys in ``allow`` are skipped, not rules."""
    rules = dict(base) if base is not None else default_settings()
    if overrides is None:
        return rules
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"expected a table of rule overrides, found {overrides!r}",
                          path=path, key=key)
    for name, value in overrides.items():
        if name in allow:
            continue
        where = f"{key}.{name}"
        spec = DEFAULT_RULES.get(name)
        if spec is None:
            close = difflib.get_close_matches(str(name), list(DEFAULT_RULES), n=1)
            raise ConfigError("unknown data-quality rule", path=path, key=where,
                              hint=f"did you mean {close[0]}?" if close else
                              "docs/guide/quality.md lists every rule")
        rules[name] = _apply(spec, rules[name], value, where, path)
    return rules


def _apply(spec: RuleSpec, current: RuleSettings, value: Any, where: str,
           path: str | None) -> RuleSettings:
    if isinstance(value, bool):
        return replace(current, enabled=value)
    if isinstance(value, Mapping):
        for sub, item in value.items():
            if sub not in _FIELDS:
                raise ConfigError(f"unknown key (allowed here: {', '.join(_FIELDS)})",
                                  path=path, key=f"{where}.{sub}")
            sub_where = f"{where}.{sub}"
            if sub == "enabled":
                current = replace(current, enabled=_enabled(item, sub_where, path))
            elif sub == "severity":
                current = replace(current, severity=_severity(item, sub_where, path))
            else:
                current = replace(current, threshold=_threshold(spec, item, sub_where, path))
        return current
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _OFF or word in _ON:
            return replace(current, enabled=word in _ON)
        if word in tuple(ViolationSeverity):
            return replace(current, severity=ViolationSeverity(word))
    if isinstance(value, int | float | str):
        return replace(current, threshold=_threshold(spec, value, where, path))
    raise ConfigError(f"found {value!r}: expected a threshold, true/false, a severity or a "
                      "table with enabled, severity, threshold", path=path, key=where)


def _enabled(value: Any, where: str, path: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _OFF + _ON:
        return value.strip().lower() in _ON
    raise ConfigError(f"found {value!r}: expected true or false", path=path, key=where)


def _severity(value: Any, where: str, path: str | None) -> ViolationSeverity:
    if isinstance(value, str) and value.strip().lower() in tuple(ViolationSeverity):
        return ViolationSeverity(value.strip().lower())
    raise ConfigError(f"found {value!r}: expected warning or error", path=path, key=where)


def _threshold(spec: RuleSpec, value: Any, where: str, path: str | None) -> Number:
    if spec.kind is Kind.NONE:
        raise ConfigError(f"found {value!r}: rule {spec.name} takes no threshold "
                          "(use true/false or a severity)", path=path, key=where)
    number = _number(value, percent_ok=spec.kind in (Kind.SHARE, Kind.DROP, Kind.POINTS,
                                                     Kind.RISE))
    if spec.kind in (Kind.COUNT, Kind.MINIMUM):
        lowest = 2 if spec.kind is Kind.MINIMUM else 0
        if number is None or number != int(number) or number < lowest:
            raise ConfigError(f"found {value!r}: expected a whole number >= {lowest}",
                              path=path, key=where)
        return int(number)
    low, high, low_open = {Kind.SHARE: (0.0, 1.0, False), Kind.POINTS: (0.0, 1.0, False),
                           Kind.DROP: (0.0, 1.0, True), Kind.RISE: (0.0, None, True)}[spec.kind]
    if (number is None or number < low or (low_open and number == low)
            or (high is not None and number > high)):
        allowed = f"above {low}" if low_open else f"from {low}"
        allowed += f" to {high}" if high is not None else ""
        raise ConfigError(f"found {value!r}: expected a fraction {allowed} "
                          "(0.05 or \"5%\" for 5 %)", path=path, key=where)
    return float(number)


def _number(value: Any, *, percent_ok: bool) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        scale = 1.0
        if percent_ok and text.endswith("%"):
            text, scale = text[:-1].strip(), 0.01
        try:
            return float(text) * scale
        except ValueError:
            return None
    return None


def _fail_on(value: Any, where: str, path: str | None) -> FailOn:
    if isinstance(value, str) and value in tuple(FailOn):
        return FailOn(value)
    raise ConfigError(f"found {value!r}: expected one of never, error", path=path, key=where)


def global_policy(config: Config) -> QualityPolicy:
    """The policy of ad-hoc imports: defaults, then ``[quality]`` and ``[quality.rules]``."""
    path = str(config.path) if config.path else None
    rules = resolve_rules(config.quality.rules, key="quality.rules", path=path)
    return QualityPolicy(rules=rules, fail_on=_fail_on(config.quality.fail_on,
                                                       "quality.fail_on", path))


def policy_for_import(config: Config, imp: ImportConfig | None) -> QualityPolicy:
    """The policy of one import: the global policy, then the import's ``quality`` table."""
    policy = global_policy(config)
    if imp is None or not imp.quality:
        return policy
    path = str(config.path) if config.path else None
    index = next((i for i, other in enumerate(config.imports) if other is imp), None)
    key = f"imports[{index}].quality" if index is not None else f"imports.{imp.name}.quality"
    if not isinstance(imp.quality, Mapping):
        raise ConfigError(f"expected a table, found {imp.quality!r}", path=path, key=key)
    rules = resolve_rules(imp.quality, base=policy.rules, key=key, path=path, allow=("fail_on",))
    fail_on = policy.fail_on
    if "fail_on" in imp.quality:
        fail_on = _fail_on(imp.quality["fail_on"], f"{key}.fail_on", path)
    return QualityPolicy(rules=rules, fail_on=fail_on)


def check_config(config: Config) -> None:
    """Validate every quality override in ``config``; raise ConfigError naming the first bad key."""
    for imp in [None, *config.imports]:
        policy_for_import(config, imp)
