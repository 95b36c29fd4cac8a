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


@dataclass(frozen=True)
class MetricLines:
    """Writes EMF documents to `write` (print by default: Lambda sends stdout to CloudWatch Logs)."""

    namespace: str
    service: str
    write: Callable[[str], None] = field(default=print)

    def emit(self, dimensions: Mapping[str, str], *measures: Measure) -> None:
        """One document of `measures` under `dimensions`, in the order given (the caller says where
        the service goes: last for a version's figures, first for single_metric's)."""
        if not measures:
            return
        document: dict[str, object] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
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
            document[m.name] = [float(m.value)]
        self.write(json.dumps(document, separators=(",", ":")))

    def by_version(self, model: str, version: int, variant: str, *measures: Measure) -> None:
        """A version's figures in one document: model, version, variant, then the service."""
        self.emit({"model": model, "version": str(version), "variant": variant, "service": self.service}, *measures)

    def by_service(self, *measures: Measure) -> None:
        """Container-wide counts, one document each, the service their only dimension."""
        for m in measures:
            self.emit({"service": self.service}, m)
