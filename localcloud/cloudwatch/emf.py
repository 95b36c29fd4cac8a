"""CloudWatch Embedded Metric Format: the log lines Powertools prints, turned into metric data.

On AWS, CloudWatch Logs extracts metrics from EMF lines; locally nothing does, so the Lambda runtime
hands each invocation's output to these functions and stores the result in moto's CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from localcloud.cloudwatch.metrics import Dimension, MetricDatum


def metrics_from_emf_lines(lines: Iterable[str]) -> dict[str, list[MetricDatum]]:
    """Metric data per namespace from every EMF document among `lines`; other lines are ignored."""
    by_namespace: dict[str, list[MetricDatum]] = {}
    for line in lines:
        document = _emf_document(line)
        if document is None:
            continue
        aws = document["_aws"]
        timestamp = datetime.fromtimestamp(float(aws.get("Timestamp", 0)) / 1000, tz=UTC)
        for directive in aws.get("CloudWatchMetrics", []):
            namespace = directive.get("Namespace")
            if not isinstance(namespace, str):
                continue
            for dimension_set in directive.get("Dimensions", []) or [[]]:
                dimensions: list[Dimension] = [
                    {"Name": name, "Value": str(document[name])} for name in dimension_set if name in document
                ]
                for metric in directive.get("Metrics", []):
                    name = metric.get("Name")
                    if name not in document:
                        continue
                    values = document[name] if isinstance(document[name], list) else [document[name]]
                    for value in values:
                        datum: MetricDatum = {
                            "MetricName": name,
                            "Dimensions": dimensions,
                            "Value": float(value),
                            "Timestamp": timestamp,
                        }
                        if metric.get("Unit"):
                            datum["Unit"] = metric["Unit"]
                        by_namespace.setdefault(namespace, []).append(datum)
    return by_namespace


def _emf_document(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and '"_aws"' in text):
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document
