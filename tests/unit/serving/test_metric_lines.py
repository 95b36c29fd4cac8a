"""The predict function's EMF lines: what CloudWatch reads out of them, per the embedded metric
format (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:
`_aws.Timestamp` in epoch milliseconds, `CloudWatchMetrics` naming the namespace, the dimension
set and each metric's unit, and each dimension and metric a top-level member)."""

from __future__ import annotations

import json

from mlops.serving.metric_lines import COUNT, MILLISECONDS, Measure, MetricLines


def _lines(service: str = "serving") -> tuple[MetricLines, list[str]]:
    written: list[str] = []
    return MetricLines("ServerlessMlops", service, write=written.append), written


def test_a_versions_figures_are_one_document_with_the_service_last() -> None:
    metrics, written = _lines()
    metrics.by_version(
        "churn", 3, "champion", Measure("Predictions", COUNT, 2), Measure("ModelLatency", MILLISECONDS, 1.5)
    )
    [document] = [json.loads(line) for line in written]
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "ServerlessMlops",
        "Dimensions": [["model", "version", "variant", "service"]],
        "Metrics": [{"Name": "Predictions", "Unit": "Count"}, {"Name": "ModelLatency", "Unit": "Milliseconds"}],
    }
    assert (document["model"], document["version"], document["variant"], document["service"]) == (
        "churn",
        "3",
        "champion",
        "serving",
    )
    assert document["Predictions"] == [2.0] and document["ModelLatency"] == [1.5]
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_each_request_gets_its_own_values_from_the_same_shape() -> None:
    metrics, written = _lines(service="odd%service")  # a '%' must not break the kept template
    for rows, latency in ((1, 0.25), (100, 12.125)):
        metrics.by_version(
            "churn", 1, "champion", Measure("Predictions", COUNT, rows), Measure("ModelLatency", MILLISECONDS, latency)
        )
    first, second = (json.loads(line) for line in written)
    assert (first["Predictions"], first["ModelLatency"]) == ([1.0], [0.25])
    assert (second["Predictions"], second["ModelLatency"]) == ([100.0], [12.125])
    assert second["service"] == "odd%service"


def test_container_counts_are_one_document_each_and_nothing_is_written_for_no_measure() -> None:
    metrics, written = _lines()
    metrics.by_service()
    assert written == []
    metrics.by_service(Measure("CapturedRows", COUNT, 40), Measure("CaptureFailures", COUNT, 1))
    documents = [json.loads(line) for line in written]
    assert [d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for d in documents] == [[["service"]], [["service"]]]
    assert [(d.get("CapturedRows"), d.get("CaptureFailures")) for d in documents] == [([40.0], None), (None, [1.0])]
