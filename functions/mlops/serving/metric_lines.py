"""The predict function's metrics as CloudWatch embedded metric format (EMF) lines on stdout, in the
shape Powertools' Metrics writes them (its `service` dimension last, each value in a list), so the
alarms and dashboards that read them (infra/constructs/alerts.py) see the same names, units,
dimensions and namespace.

Written here rather than through Powertools: its Metrics decorator and single_metric cost the
1-row predict path tens of microseconds per request in validation and copying (issue #21), for a
document this module writes with one json.dumps. The EMF specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Unit = Literal["Count", "Milliseconds"]
COUNT: Unit = "Count"
MILLISECONDS: Unit = "Milliseconds"


@dataclass(frozen=True)
class Measure:
    name: str
    unit: Unit
    value: float


_TIMESTAMP = "\x00timestamp"
_VALUE = "\x00value"


@dataclass(frozen=True)
class MetricLines:
    """Writes EMF documents to `write` (print by default: Lambda sends stdout to CloudWatch Logs).

    Each shape of document (its dimensions' values and its metrics) is serialised once and kept as a
    template whose timestamp and values are filled in per request: a version's two figures cost a
    string format, not a json.dumps, on the 1-row path."""

    namespace: str
    service: str
    write: Callable[[str], None] = field(default=print)
    _templates: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], str] = field(
        default_factory=dict, compare=False, repr=False
    )

    def emit(self, dimensions: Mapping[str, str], *measures: Measure) -> None:
        """One document of `measures` under `dimensions`, in the order given (the caller says where
        the service goes: last for a version's figures, first for single_metric's)."""
        if not measures:
            return
        key = (tuple(dimensions), tuple(dimensions.values()), tuple(f"{m.name}:{m.unit}" for m in measures))
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(dimensions, measures)
        self.write(template % (int(time.time() * 1000), *(repr(float(m.value)) for m in measures)))

    def _template(self, dimensions: Mapping[str, str], measures: tuple[Measure, ...]) -> str:
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": _TIMESTAMP,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": m.name, "Unit": m.unit} for m in measures],
                    }
                ],
            },
            **dimensions,
        }
        for m in measures:
            document[m.name] = [_VALUE]
        text = json.dumps(document, separators=(",", ":")).replace("%", "%%")
        return text.replace(json.dumps(_TIMESTAMP), "%d").replace(json.dumps(_VALUE), "%s")

    def by_version(self, model: str, version: int, variant: str, *measures: Measure) -> None:
        """A version's figures in one document: model, version, variant, then the service."""
        self.emit({"model": model, "version": str(version), "variant": variant, "service": self.service}, *measures)

    def by_service(self, *measures: Measure) -> None:
        """Container-wide counts, one document each, the service their only dimension."""
        for m in measures:
            self.emit({"service": self.service}, m)
