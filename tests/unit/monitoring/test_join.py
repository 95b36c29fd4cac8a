"""Labels meet the predictions they are about, hour by hour (issue #19, item 2): late labels, a
shadow's row, a label that arrived before its capture landed, corrections, an hour past the horizon,
a changed request schema, labels about nothing captured, and a rerun that changes nothing.

Capture batches are written by the predict function's own `CaptureBuffer`, labels by the label
store's `labels_npz`, into moto's S3; the watermark and lease live on moto's DynamoDB. Inputs are
iris rows; predictions come from a nearest-centroid rule fitted on them (seeded, deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_iris

from mlops.buckets import ArtifactsBucket
from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.join import issued_ms, join_hour
from mlops.monitoring.joined import combine, joined_key, read_joined
from mlops.monitoring.label_store import LabelBatch, label_key, labels_npz
from mlops.monitoring.scheduled_join import JoinOutcome, JoinServices, join_model, joined_window
from mlops.registry.label_joins import LabelJoins
from mlops.serving.capture import CaptureBuffer
from mlops.serving.request_ids import new_request_id

MODEL = "iris"
BUCKET = "artifacts"
IRIS = load_iris()
CLASSES = [str(c) for c in IRIS.target_names]
NUMERIC = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
FIELDS = {**dict.fromkeys(NUMERIC, "numeric"), "site": "categorical"}
SITES = np.array(["lyon", "oslo", "kyoto"])
HOUR10 = datetime(2026, 11, 23, 10, tzinfo=UTC)
CONFIG = PerformanceConfig(horizon_days=14)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _answer(rows: Sequence[int]) -> tuple[list[str], NDArray[np.float32]]:
    """A nearest-centroid classifier's answers: the class whose mean flower is nearest, softmax of
    the negative distances as probabilities."""
    centroids = np.stack([IRIS.data[IRIS.target == k].mean(axis=0) for k in range(3)])
    distances = np.linalg.norm(IRIS.data[list(rows)][:, None, :] - centroids[None], axis=2)
    scores = np.exp(-distances)
    probabilities = (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)
    return [CLASSES[k] for k in probabilities.argmax(axis=1)], probabilities


def _truth(rows: Sequence[int]) -> list[str]:
    return [CLASSES[k] for k in IRIS.target[list(rows)]]


def request_id(at: datetime, n: int) -> str:
    return new_request_id(now_ms=_ms(at), random_bytes=n.to_bytes(10, "big"))


@dataclass
class Traffic:
    """Capture and labels as the predict function and the label intake write them, and the join."""

    artifacts: ArtifactsBucket
    joins: LabelJoins
    now: datetime = HOUR10

    def capture(
        self,
        requests: Sequence[tuple[str, Sequence[int]]],
        *,
        answered: datetime,
        written: datetime,
        version: int = 1,
        variant: str = "champion",
        fields: dict[str, str] | None = None,
        refused: bool = False,
    ) -> None:
        """Requests (id, iris rows) answered at `answered`, their batch written at `written`."""
        clock = [answered]
        buffer = CaptureBuffer(
            write=lambda key, body: self.artifacts.put(key, body, "application/octet-stream"),
            default_sample_rate=1.0,
            now=lambda: clock[0],
        )
        kinds = fields or FIELDS
        for rid, rows in requests:
            values: dict[str, list[Any]] = {
                name: [float(IRIS.data[r, NUMERIC.index(name)]) for r in rows] for name in kinds if name in NUMERIC
            }
            if "site" in kinds:
                values["site"] = [str(SITES[r % 3]) if r % 5 else None for r in rows]
            common: dict[str, Any] = {"model": MODEL, "version": version, "fields": kinds, "classes": CLASSES}
            common["values"] = values
            if refused:
                refusals = [{"petal_length": "out_of_range"} for _ in rows]
                buffer.add_refused(**common, refusals=refusals, variant=variant, request_id=rid)
            else:
                predictions, probabilities = _answer(rows)
                buffer.add(
                    **common,
                    predictions=predictions,
                    probabilities=probabilities,
                    variant=variant,
                    request_id=rid,
                )
        clock[0] = written
        buffer.flush()

    def label(
        self, hour: datetime, items: Sequence[tuple[str, int, Any]], *, received: datetime, suffix: str = "a"
    ) -> str:
        ids, rows, values = zip(*items, strict=True)
        batch = LabelBatch(
            model=MODEL,
            hour=hour,
            request_ids=np.array(ids, dtype=str),
            rows=np.array(rows, dtype=np.int64),
            values=np.array(values),
            received_at=received,
            source="api test",
        )
        key = label_key(batch, suffix)
        self.artifacts.put(key, labels_npz(batch), "application/octet-stream")
        return key

    def join(self, at: datetime, config: PerformanceConfig = CONFIG, *, rejoin: bool = False) -> JoinOutcome:
        self.now = at
        services = JoinServices(self.artifacts, self.joins, now=lambda: self.now)
        return join_model(services, MODEL, config, rejoin=rejoin)

    def joined(self, hour: datetime) -> Any:
        return read_joined(self.artifacts.get(joined_key(MODEL, hour)))


@pytest.fixture
def traffic(registry_table: Any) -> Traffic:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return Traffic(ArtifactsBucket(s3, BUCKET), LabelJoins(registry_table))


def _requests(at: datetime, first: int, sizes: Sequence[int]) -> list[tuple[str, list[int]]]:
    """Requests issued at `at`, numbered from `first`, of `sizes` rows each (consecutive iris rows)."""
    out, row = [], first
    for n, size in enumerate(sizes):
        out.append((request_id(at, first + n), list(range(row, row + size))))
        row += size
    return out


def test_labels_arriving_days_later_are_joined_with_their_hours_predictions(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=20)
    requests = _requests(answered, 0, [1, 3, 2, 1])  # 7 rows; iris rows 0..6
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=1))
    late = HOUR10 + timedelta(days=3, hours=5)
    # Truth for four rows: the whole second request and the first; one label names a request never seen.
    items = [(requests[1][0], r, t) for r, t in enumerate(_truth(requests[1][1]))]
    items += [(requests[0][0], 0, "versicolor"), (request_id(answered, 999), 0, "setosa")]
    traffic.label(HOUR10, items, received=late)

    outcome = traffic.join(late + timedelta(minutes=30))

    assert (outcome.status, outcome.hours, outcome.written) == ("joined", (HOUR10,), 1)
    assert (outcome.labels_read, outcome.matched, outcome.unmatched, outcome.superseded) == (5, 4, 1, 0)
    hour = traffic.joined(HOUR10)
    assert hour.request_ids.tolist() == [requests[0][0]] + [requests[1][0]] * 3
    assert hour.rows.tolist() == [0, 0, 1, 2]
    assert hour.labels.tolist() == ["versicolor", *_truth([1, 2, 3])]
    assert hour.predictions.tolist() == _answer([0, 1, 2, 3])[0]
    assert hour.probabilities is not None and np.allclose(hour.probabilities, _answer([0, 1, 2, 3])[1])
    assert hour.inputs["petal_length"].tolist() == IRIS.data[0:4, 2].tolist()
    assert hour.predicted == {1: 7} and hour.classes == CLASSES
    assert set(hour.answered_ms.tolist()) == {_ms(answered)} and set(hour.labelled_ms.tolist()) == {_ms(late)}
    assert hour.variants.tolist() == ["champion"] * 4 and hour.versions.tolist() == [1] * 4


def test_a_label_for_a_request_a_shadow_also_answered_labels_both_rows(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=5)
    requests = _requests(answered, 50, [2])
    traffic.capture(requests, answered=answered, written=answered + timedelta(seconds=30), version=1)
    traffic.capture(requests, answered=answered, written=answered + timedelta(seconds=40), version=2, variant="shadow")
    [(rid, rows)] = requests
    traffic.label(HOUR10, [(rid, 1, _truth(rows)[1])], received=answered + timedelta(hours=1))

    outcome = traffic.join(answered + timedelta(hours=1, minutes=10))

    assert (outcome.matched, outcome.unmatched) == (2, 0)
    hour = traffic.joined(HOUR10)
    assert list(zip(hour.versions.tolist(), hour.variants.tolist(), hour.rows.tolist(), strict=True)) == [
        (1, "champion", 1),
        (2, "shadow", 1),
    ]
    assert hour.predicted == {1: 2, 2: 2}


def test_a_label_that_arrived_before_its_capture_landed_is_matched_on_a_later_run(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=50)
    requests = _requests(answered, 10, [1, 1])
    traffic.label(
        HOUR10, [(rid, 0, _truth(rows)[0]) for rid, rows in requests], received=answered + timedelta(minutes=5)
    )

    early = traffic.join(HOUR10 + timedelta(hours=1, minutes=10))  # the batch is still in its container
    assert (early.matched, early.unmatched) == (0, 2) and early.open_hours == (HOUR10,)
    assert traffic.joined(HOUR10).size == 0

    # The container's next request writes the batch 40 minutes after the answers.
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=40))
    later = traffic.join(HOUR10 + timedelta(hours=1, minutes=40))
    assert (later.hours, later.matched, later.unmatched, later.written) == ((HOUR10,), 2, 0, 1)
    assert traffic.joined(HOUR10).labels.tolist() == _truth([10, 11])

    # Past the hour's end plus the capture lag (2 h) and the settle time, once more, then never again.
    last = traffic.join(HOUR10 + timedelta(hours=3, minutes=10))
    assert last.hours == (HOUR10,) and last.written == 0 and last.open_hours == ()
    assert traffic.join(HOUR10 + timedelta(hours=4)).status == "up_to_date"


def test_the_latest_label_of_a_row_wins_and_earlier_ones_are_counted_as_superseded(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=1)
    [(rid, rows)] = _requests(answered, 60, [2])
    traffic.capture([(rid, rows)], answered=answered, written=answered + timedelta(minutes=1))
    first = answered + timedelta(days=1)
    traffic.label(HOUR10, [(rid, 0, "setosa"), (rid, 0, "virginica"), (rid, 1, "setosa")], received=first)
    traffic.join(first + timedelta(minutes=10))
    traffic.label(HOUR10, [(rid, 1, "versicolor")], received=first + timedelta(hours=2), suffix="b")

    outcome = traffic.join(first + timedelta(hours=2, minutes=10))

    assert (outcome.labels_read, outcome.matched, outcome.superseded, outcome.written) == (4, 2, 2, 1)
    hour = traffic.joined(HOUR10)
    assert hour.labels.tolist() == ["virginica", "versicolor"]
    assert hour.labelled_ms.tolist() == [_ms(first), _ms(first + timedelta(hours=2))]


def test_only_hours_with_new_labels_are_joined_and_a_rerun_writes_nothing(traffic: Traffic) -> None:
    for hour in (HOUR10, HOUR10 + timedelta(hours=1)):
        requests = _requests(hour + timedelta(minutes=30), 70, [1, 2])
        traffic.capture(requests, answered=hour + timedelta(minutes=30), written=hour + timedelta(minutes=31))
        traffic.label(hour, [(rid, 0, _truth(rows)[0]) for rid, rows in requests], received=hour + timedelta(days=1))
    day_later = HOUR10 + timedelta(days=1, hours=3)
    assert traffic.join(day_later).hours == (HOUR10, HOUR10 + timedelta(hours=1))
    stored = {hour: traffic.artifacts.get(joined_key(MODEL, hour)) for hour in (HOUR10, HOUR10 + timedelta(hours=1))}

    rerun = traffic.join(day_later + timedelta(minutes=5), rejoin=True)  # every labelled hour, again
    assert rerun.hours == tuple(stored) and rerun.written == 0
    assert {hour: traffic.artifacts.get(joined_key(MODEL, hour)) for hour in stored} == stored  # the same bytes

    requests = _requests(HOUR10 + timedelta(minutes=30), 70, [1, 2])
    traffic.label(HOUR10, [(requests[1][0], 1, "setosa")], received=day_later + timedelta(hours=1), suffix="b")
    again = traffic.join(day_later + timedelta(hours=1, minutes=10))
    assert again.hours == (HOUR10,) and again.written == 1 and again.matched == 3  # hour 11 untouched
    assert joined_window(traffic.artifacts, MODEL, HOUR10 + timedelta(minutes=30), day_later) == [
        joined_key(MODEL, HOUR10),
        joined_key(MODEL, HOUR10 + timedelta(hours=1)),
    ]


def test_an_hour_past_the_horizon_is_never_joined_again(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=30)
    requests = _requests(answered, 80, [1])
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=1))
    traffic.label(HOUR10, [(requests[0][0], 0, "setosa")], received=answered + timedelta(minutes=5))
    short = PerformanceConfig(horizon_days=1)
    assert traffic.join(HOUR10 + timedelta(hours=1), short).open_hours == (HOUR10,)

    # Two days on, a label for that hour lands (an intake would refuse it), and the hour was still open.
    traffic.label(HOUR10, [(requests[0][0], 0, "virginica")], received=HOUR10 + timedelta(days=2), suffix="b")
    outcome = traffic.join(HOUR10 + timedelta(days=2, minutes=10), short)

    assert (outcome.status, outcome.hours, outcome.open_hours) == ("up_to_date", (), ())
    assert traffic.joined(HOUR10).labels.tolist() == ["setosa"]


def test_a_changed_request_schema_and_refused_rows(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=40)
    old = _requests(answered, 90, [2])
    new = _requests(answered + timedelta(minutes=1), 92, [1])
    refused = _requests(answered + timedelta(minutes=2), 93, [1])
    # v1 captured site and no petal_width; v2 (the newer batch) petal_width and no site.
    traffic.capture(
        old, answered=answered, written=answered + timedelta(minutes=5), fields={**FIELDS, "petal_width": "categorical"}
    )
    v2_fields = {name: "numeric" for name in NUMERIC}
    traffic.capture(new, answered=answered, written=answered + timedelta(minutes=6), version=2, fields=v2_fields)
    traffic.capture(refused, answered=answered, written=answered + timedelta(minutes=7), version=2, refused=True)
    items = [(rid, r, t) for rid, rows in old + new + refused for r, t in enumerate(_truth(rows))]
    traffic.label(HOUR10, items, received=answered + timedelta(hours=5))

    outcome = traffic.join(answered + timedelta(hours=6))

    assert (outcome.matched, outcome.unmatched) == (3, 1)  # a refused row has no prediction to score
    hour = traffic.joined(HOUR10)
    assert hour.fields == {**v2_fields, "site": "categorical"}  # petal_width as the newest batch has it
    assert np.isnan(hour.inputs["petal_width"][:2]).all() and hour.inputs["petal_width"][2] == IRIS.data[92, 3]
    # Row 90 came without a site (missing as captured); the v2 row, from a schema without one.
    assert hour.missing["site"].tolist() == [True, False, True] and hour.inputs["site"].tolist() == ["", "oslo", ""]
    assert hour.predicted == {1: 2, 2: 1}


def test_labels_about_an_hour_nothing_was_captured_in_are_counted_and_the_window_keeps_its_probabilities(
    traffic: Traffic,
) -> None:
    quiet = HOUR10 + timedelta(hours=1)
    answered = HOUR10 + timedelta(minutes=10)
    requests = _requests(answered, 100, [2])
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=2))
    traffic.label(HOUR10, [(requests[0][0], 0, "virginica")], received=quiet + timedelta(hours=4))
    traffic.label(
        quiet, [(request_id(quiet + timedelta(minutes=3), 1), 0, "setosa")], received=quiet + timedelta(hours=4)
    )

    outcome = traffic.join(quiet + timedelta(hours=5))

    assert (outcome.status, outcome.matched, outcome.unmatched) == ("joined", 1, 1)
    empty = traffic.joined(quiet)
    assert empty.size == 0 and empty.unmatched_labels == 1 and empty.label_rows == 1 and empty.predicted == {}
    window = combine([traffic.joined(HOUR10), empty])
    assert window is not None and window.probabilities is not None and window.probabilities.shape == (1, 3)


def test_a_request_issued_at_the_end_of_an_hour_and_captured_in_the_next_is_joined_with_its_hours_labels(
    traffic: Traffic,
) -> None:
    issued = HOUR10 + timedelta(minutes=59, seconds=59, milliseconds=990)
    rid = request_id(issued, 7)
    # The model answered 30 ms later, in hour 11: the capture's time, not the id's.
    traffic.capture([(rid, [120])], answered=issued + timedelta(milliseconds=30), written=issued + timedelta(minutes=1))
    traffic.label(HOUR10, [(rid, 0, _truth([120])[0])], received=issued + timedelta(hours=3))

    outcome = traffic.join(issued + timedelta(hours=4))

    assert outcome.hours == (HOUR10,) and outcome.matched == 1
    assert traffic.joined(HOUR10).answered_ms.tolist() == [_ms(issued) + 30]
    assert issued_ms(np.array([rid, "req-1", rid.upper()]), np.array([1, 2, 3])).tolist() == [
        _ms(issued),
        2,
        _ms(issued),
    ]


def test_a_regression_models_labels_and_a_classifiers_numeric_labels() -> None:
    hour = HOUR10
    rid = request_id(hour + timedelta(minutes=1), 1)
    meta = {"version": 3, "fields": {"x": "numeric"}, "classes": None, "rows": 2}
    arrays = {
        "input:x": np.array([1.0, 2.0]),
        "prediction": np.array([10.5, 20.5]),
        "variant": np.array(["champion"] * 2),
        "request_id": np.array([rid, rid]),
        "time_ms": np.array([_ms(hour) + 60_000] * 2),
        "answered": np.array([True, True]),
    }
    labels = LabelBatch(MODEL, hour, np.array([rid]), np.array([1]), np.array(["21.0"]), hour, "file test")
    joined = join_hour(MODEL, hour, [labels], [(meta, arrays)])
    assert joined.labels.tolist() == [21.0] and joined.predictions.tolist() == [20.5] and joined.probabilities is None

    classified = {**meta, "classes": ["0", "1"]}
    with_classes = {**arrays, "prediction": np.array(["1", "0"]), "probabilities": np.array([[0.2, 0.8], [0.9, 0.1]])}
    numbers = LabelBatch(MODEL, hour, np.array([rid, rid]), np.array([0, 1]), np.array([1.0, 0.0]), hour, "file")
    joined = join_hour(MODEL, hour, [numbers], [(classified, with_classes)])
    assert joined.labels.tolist() == ["1", "0"] and joined.classes == ["0", "1"]


def test_a_broken_label_object_fails_its_hour_names_it_and_the_other_hours_are_joined(traffic: Traffic) -> None:
    answered = HOUR10 + timedelta(minutes=30)
    requests = _requests(answered, 130, [1])
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=1))
    traffic.label(HOUR10, [(requests[0][0], 0, "setosa")], received=answered + timedelta(hours=4))
    broken = f"labels/{MODEL}/date=2026-11-23/hour=11/20261123T150000000-broken.npz"
    traffic.artifacts.put(broken, b"not an npz", "application/octet-stream")

    outcome = traffic.join(answered + timedelta(hours=5))

    assert outcome.status == "failed" and outcome.hours == (HOUR10,)
    assert broken in outcome.failures["2026-11-23T11:00:00+00:00"] and broken in outcome.detail
    assert HOUR10 + timedelta(hours=1) in outcome.open_hours  # tried again on the next run
    assert traffic.join(answered + timedelta(hours=5, minutes=5)).failures


def test_a_model_another_join_holds_is_skipped_and_a_join_that_outlived_its_lease_records_nothing(
    traffic: Traffic,
) -> None:
    now = HOUR10 + timedelta(hours=3)
    assert traffic.joins.claim_label_join(MODEL, owner="other", now=now, lease=timedelta(minutes=15)).state is not None
    outcome = traffic.join(now + timedelta(minutes=1))
    assert outcome.status == "skipped" and "other since" in outcome.detail

    late = now + timedelta(minutes=20)  # the other run's lease ran out: this one takes the model
    assert traffic.join(late).status == "up_to_date"
    assert not traffic.joins.commit_label_join(
        MODEL, owner="other", now=late, watermark=late, open_hours=[HOUR10], summary={}
    )
    state = traffic.joins.label_join_state(MODEL)
    assert state.open_hours == () and state.joined_at == late and state.summary["status"] == "up_to_date"


def test_a_label_received_within_the_settle_time_is_read_again_on_the_next_run(traffic: Traffic) -> None:
    """An intake that received labels a moment ago may still be writing an object received before
    this one: the watermark stays `settle` (5 min) behind the run, so the next run looks again."""
    answered = HOUR10 + timedelta(minutes=20)
    requests = _requests(answered, 140, [1])
    traffic.capture(requests, answered=answered, written=answered + timedelta(minutes=1))
    run = HOUR10 + timedelta(days=1)
    traffic.label(HOUR10, [(requests[0][0], 0, "setosa")], received=run - timedelta(minutes=1))

    first = traffic.join(run)
    assert first.hours == (HOUR10,) and first.watermark == run - timedelta(minutes=5)
    second = traffic.join(run + timedelta(hours=1))
    assert (second.hours, second.written, second.watermark) == ((HOUR10,), 0, run - timedelta(minutes=1))
    assert traffic.join(run + timedelta(hours=2)).status == "up_to_date"


def test_a_labels_arrival_is_stamped_to_the_millisecond_its_key_says_never_after_the_watermark(
    traffic: Traffic,
) -> None:
    """The feedback loop writes labels received up to the join's watermark (a key's millisecond):
    a label received at .7336 ms must read .733, as its key does, or the newest submission is left
    out of a drop's feedback (found by a stranger's run: 800 labels, no feedback written)."""
    answered = HOUR10 + timedelta(minutes=5)
    requests = _requests(answered, 0, [2])
    traffic.capture(requests, answered=answered, written=answered + timedelta(seconds=30))
    received = HOUR10 + timedelta(minutes=40, microseconds=733_600)
    traffic.label(HOUR10, [(requests[0][0], 0, "setosa")], received=received)

    outcome = traffic.join(received + timedelta(minutes=10))

    assert outcome.watermark is not None
    watermark_ms = int(outcome.watermark.timestamp() * 1000)
    assert traffic.joined(HOUR10).labelled_ms.tolist() == [watermark_ms]
    assert watermark_ms % 1000 == 733
