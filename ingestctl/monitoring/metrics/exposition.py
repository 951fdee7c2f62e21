"""The Prometheus text exposition format 0.0.4: metric families and their writer.

Written here rather than taken from prometheus_client because importing that package loads its
HTTP server, push-gateway and TLS modules (``http.server``, ``wsgiref``, ``ssl``,
``urllib.request``): 2.5 times ``python -c pass`` on the development machine, which alone put
``ingestctl metrics`` over its start-up budget (docs/benchmarks.md). The format is a few lines
of text; tests/test_metrics.py holds this writer to prometheus_client's ``generate_latest``
byte for byte and parses its output back with prometheus_client's parser and ``promtool``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricType(StrEnum):
    """The TYPE of a metric family, as the exposition spells it."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Sample:
    """One line of a family: full sample name, labels in the family's order, value."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class MetricFamily:
    """A HELP and TYPE header and the samples under it."""

    name: str
    type: MetricType
    help: str
    label_names: tuple[str, ...] = ()
    samples: list[Sample] = field(default_factory=list)

    def add(self, label_values: Iterable[str], value: float, suffix: str = "",
            extra: tuple[tuple[str, str], ...] = ()) -> None:
        """Add a sample named ``name + suffix`` (``_bucket``, ``_count``, ``_sum``)."""
        labels = tuple(zip(self.label_names, label_values, strict=True)) + extra
        self.samples.append(Sample(self.name + suffix, labels, float(value)))


def format_value(value: float) -> str:
    """A sample value as Go (and so Prometheus) formats it: ``1.0``, ``1.5e+09``, ``+Inf``."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    # Go switches to an exponent from 1e+07 on where Python's repr still writes digits.
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _sample_line(sample: Sample) -> str:
    if not sample.labels:
        return f"{sample.name} {format_value(sample.value)}\n"
    # Label names sorted, as prometheus_client writes them: one canonical text per series.
    labels = ",".join(f'{name}="{_escape_label_value(value)}"'
                      for name, value in sorted(sample.labels))
    return f"{sample.name}{{{labels}}} {format_value(sample.value)}\n"


def render(families: Iterable[MetricFamily]) -> bytes:
    """The text exposition of ``families``, UTF-8 encoded."""
    out: list[str] = []
    for family in families:
        out.append(f"# HELP {family.name} {_escape_help(family.help)}\n")
        out.append(f"# TYPE {family.name} {family.type.value}\n")
        out.extend(_sample_line(sample) for sample in family.samples)
    return "".join(out).encode("utf-8")


def labelled(name: str, type_: MetricType, help_: str, label_names: Iterable[str],
             values: Mapping[object, float]) -> MetricFamily:
    """A counter or gauge with one sample per key (a label value or a tuple of them), sorted."""
    family = MetricFamily(name, type_, help_, tuple(label_names))
    for key in sorted(values):  # type: ignore[type-var]
        label_values = [str(v) for v in key] if isinstance(key, tuple) else [str(key)]
        family.add(label_values, values[key])
    return family


def single(name: str, help_: str, value: float) -> MetricFamily:
    """A gauge with one unlabelled sample."""
    family = MetricFamily(name, MetricType.GAUGE, help_)
    family.add((), value)
    return family
