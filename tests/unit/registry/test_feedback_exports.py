"""The feedback loop's records on the registry table (moto's DynamoDB): the watermark only moves
forward, and an upload's record is kept by a rerun, gaining a requested run but never losing one."""

from __future__ import annotations

from typing import Any

from mlops.registry.feedback_exports import FeedbackExport, FeedbackExports, FeedbackWatermark, RequestedRun

KEY = "raw/visits/feedback-visits-20261201T090000000Z-20261201T100000000Z.csv"


def _export(retraining: RequestedRun | None = None) -> FeedbackExport:
    return FeedbackExport(
        dataset="visits",
        key=KEY,
        model="visits",
        rows=120,
        first_labelled_ms=1_796_115_600_000,
        last_labelled_ms=1_796_119_200_000,
        versions=(3, 4),
        written_at="2026-12-01T10:05:00+00:00",
        retraining=retraining,
    )


def test_the_watermark_only_moves_forward(registry_table: Any) -> None:
    exports = FeedbackExports(registry_table)
    assert exports.watermark("visits") is None
    assert exports.advance_watermark(FeedbackWatermark("visits", 2_000, "raw/visits/b.csv", 10, "t2"))
    assert not exports.advance_watermark(FeedbackWatermark("visits", 2_000, "raw/visits/b.csv", 10, "t3")), "a rerun"
    assert not exports.advance_watermark(FeedbackWatermark("visits", 1_000, "raw/visits/a.csv", 5, "t1")), "older"
    assert exports.watermark("visits") == FeedbackWatermark("visits", 2_000, "raw/visits/b.csv", 10, "t2")
    assert exports.advance_watermark(FeedbackWatermark("visits", 3_000, "raw/visits/c.csv", 7, "t4"))
    mark = exports.watermark("visits")
    assert mark is not None and mark.labelled_ms == 3_000 and mark.key == "raw/visits/c.csv"


def test_an_uploads_record_round_trips_and_gains_but_never_loses_a_requested_run(registry_table: Any) -> None:
    exports = FeedbackExports(registry_table)
    assert exports.export("visits", KEY) is None, "an upload the loop did not write has no record"
    assert exports.put_export(_export())
    run = RequestedRun(
        "retrain-visits-20261201T10", "performance: accuracy 0.7 …", {"check": "c1", "metric": "accuracy"}
    )
    assert exports.put_export(_export(run)), "the same rows, exported again by a check that asks for retraining"
    assert exports.export("visits", KEY) == _export(run)
    assert not exports.put_export(_export()), "a rerun without a request keeps the request"
    assert not exports.put_export(_export(RequestedRun("retrain-visits-20261201T11", "other"))), "nor replaces it"
    assert exports.export("visits", KEY) == _export(run)
