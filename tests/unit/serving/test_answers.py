"""The serving core: requests checked by row and field, encoded exactly as training encodes data,
answered by onnxruntime as scikit-learn answers; aliases cached, broken artifacts contained,
canary traffic split by weight, capture written in batches without ever failing a request."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer, read_capture
from mlops.serving.inputs import MAX_ROWS, InputPolicy, RequestError, encode_request, request_rows
from mlops.serving.models import ArtifactError, LoadFailure, Rollout, ServedModels, load_version
from mlops.serving.rollout import assign, key_share
from mlops.serving.signature import ServedSignature
from mlops.training.features import encode_records
from tests.unit.serving.support import Registered, breast_cancer, churn, diabetes


def _served(registered: Registered) -> Any:
    return load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)


def _rejected(rows: list[dict[str, Any]], registered: Registered, policy: InputPolicy | None = None) -> RequestError:
    served = _served(registered)
    with pytest.raises(RequestError) as caught:
        encode_request(rows, served.signature, policy or served.policy)
    return caught.value


# -- encoding and answers ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [breast_cancer, churn, diabetes], ids=["breast_cancer", "churn", "diabetes"])
def test_requests_encode_as_training_encodes_and_onnx_answers_as_scikit_learn(make: Any) -> None:
    registered = make()
    served = _served(registered)
    test_rows = registered.prepared.splits.rows_test
    records = registered.records(test_rows)
    encoded = encode_request(records, served.signature, InputPolicy(out_of_range="warn", unseen_category="warn"))
    spec = registered.prepared.meta.feature_spec
    assert np.array_equal(encoded.matrix, encode_records(records, spec))
    assert np.array_equal(encoded.matrix, registered.prepared.splits.X_test)
    answer = served.predict(encoded.matrix)
    if served.signature.classifier:
        expected = registered.model.predict_proba(encoded.matrix)
        assert answer.probabilities is not None
        assert np.abs(answer.probabilities - expected).max() < 1e-5
        classes = registered.prepared.meta.classes
        assert answer.predictions == [classes[i] for i in registered.model.predict(encoded.matrix)]
    else:
        assert np.allclose(answer.predictions, registered.model.predict(encoded.matrix), rtol=1e-4)


def test_the_columnar_form_answers_the_same_as_instances() -> None:
    registered = breast_cancer()
    records = registered.records(registered.prepared.splits.rows_test[:7])
    columns = list(records[0])
    columnar = request_rows({"columns": columns, "data": [[r[c] for c in columns] for r in records]})
    served = _served(registered)
    a = encode_request(request_rows({"instances": records}), served.signature, served.policy).matrix
    b = encode_request(columnar, served.signature, served.policy).matrix
    assert np.array_equal(a, b)


def test_null_is_imputed_where_the_contract_allows_it() -> None:
    registered = churn()
    served = _served(registered)
    record = {"age": None, "income": 30000.0, "member": None, "city": None}
    encoded = encode_request([record], served.signature, served.policy)
    assert np.array_equal(encoded.matrix, encode_records([record], registered.prepared.meta.feature_spec))
    assert math.isnan(encoded.values["age"][0]) and encoded.values["city"] == [None]


# -- problems, by row and field -------------------------------------------------------------------


def test_every_problem_is_listed_with_its_row_and_field() -> None:
    registered = breast_cancer()
    good = registered.records(registered.prepared.splits.rows_test[:4])
    rows = [dict(r) for r in good]
    rows[0]["mean_radius"] = "12.5"  # a string for a number
    rows[1].pop("mean_texture")  # missing
    rows[1]["colour"] = "red"  # unknown
    rows[2]["worst_area"] = float("nan")  # JSON's NaN literal parses to this
    rows[3]["mean_area"] = None  # the contract says not nullable
    rows[3]["mean_perimeter"] = True  # a boolean is not a number
    error = _rejected(rows, registered)
    assert error.status == 400 and error.code == "invalid_input"
    found = {(p.row, p.field, p.code) for p in error.problems}
    assert found == {
        (0, "mean_radius", "wrong_type"),
        (1, "mean_texture", "missing_field"),
        (1, "colour", "unknown_field"),
        (2, "worst_area", "not_finite"),
        (3, "mean_area", "null"),
        (3, "mean_perimeter", "wrong_type"),
    }
    body = error.body()["error"]
    assert body["problem_count"] == 6 and body["problems"][0]["row"] == 0
    assert "6 problems in 4 rows" in body["message"]
    nan = next(p for p in error.problems if p.code == "not_finite")
    assert "does not accept null either" in nan.message  # worst_area is not nullable here


def test_a_missing_field_is_told_to_send_null_only_when_null_is_accepted() -> None:
    """A newcomer sent null after "send null if it is unknown" and was told the field may not be null."""
    registered = breast_cancer()
    row = dict(registered.records(registered.prepared.splits.rows_test[:1])[0])
    row.pop("mean_texture")  # the contract says not nullable
    [problem] = _rejected([row], registered).problems
    assert problem.code == "missing_field" and "send null" not in problem.message
    assert "does not accept null either" in problem.message


def test_nan_in_a_nullable_field_says_to_send_null() -> None:
    """pandas' to_dict('records') writes a missing value as NaN; JSON's missing value is null."""
    registered = churn()
    row = registered.records(registered.prepared.splits.rows_test[:1])[0]
    row["age"] = float("nan")  # age is nullable in this contract
    (problem,) = _rejected([row], registered).problems
    assert (problem.code, problem.field) == ("not_finite", "age")
    assert "for a missing value send null" in problem.message


def test_too_many_rows_names_batch_scoring_for_the_model() -> None:
    with pytest.raises(RequestError) as caught:
        request_rows({"instances": [{}] * (MAX_ROWS + 1)}, model="churn")
    assert caught.value.status == 413
    assert "batch scoring" in caught.value.message and "under batch/churn/" in caught.value.message


def test_values_outside_the_contract_are_rejected_or_answered_with_a_warning_per_policy() -> None:
    registered = breast_cancer()
    row = registered.records(registered.prepared.splits.rows_test[:1])[0]
    row["mean_radius"] = -3.0  # the contract's minimum is 0
    error = _rejected([row], registered)
    assert [(p.code, p.field) for p in error.problems] == [("out_of_range", "mean_radius")]
    assert "below the data contract's minimum 0" in error.problems[0].message
    served = _served(registered)
    encoded = encode_request([row], served.signature, InputPolicy(out_of_range="warn"))
    assert [w.code for w in encoded.warnings] == ["out_of_range"] and encoded.matrix[0, 0] == -3.0


def test_categories_outside_the_contract_follow_the_policy_and_known_rare_values_pass() -> None:
    base = {"age": 30.0, "income": 30000.0, "member": True}
    rejected = _rejected([{**base, "city": "Atlantis"}], churn("reject"))
    assert [(p.code, p.field, p.row) for p in rejected.problems] == [("unseen_category", "city", 0)]
    served = _served(churn("warn"))
    warned = encode_request([{**base, "city": "Atlantis"}], served.signature, served.policy)
    assert [w.code for w in warned.warnings] == ["unseen_category"]
    # Zanzibar is allowed by the contract but rare in training: it goes to __other__ silently.
    rare = encode_request([{**base, "city": "Zanzibar"}], served.signature, served.policy)
    assert rare.warnings == [] and rare.matrix[0, -1] == 1.0
    wrong = _rejected([{**base, "city": 3.5}], churn())
    assert [(p.code, p.field) for p in wrong.problems] == [("wrong_type", "city")]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ([1, 2], 400, "JSON object"),
        ({}, 400, "exactly one"),
        ({"instances": [], "columns": []}, 400, "unknown top-level keys|exactly one"),
        ({"instances": {"a": 1}}, 400, "list of objects"),
        ({"instances": []}, 400, "no rows"),
        ({"instances": [1, {"a": 1}]}, 400, "not objects"),
        ({"columns": ["a", "a"], "data": [[1, 2]]}, 400, "more than once"),
        ({"columns": ["a", "b"], "data": [[1]]}, 400, "do not match"),
        ({"columns": "a", "data": []}, 400, "list of field names"),
        ({"instances": [{}] * (MAX_ROWS + 1)}, 413, "limit is 1000"),
        ({"columns": ["a"], "data": [[1]] * (MAX_ROWS + 1)}, 413, "limit is 1000"),
        ({"instances": [{}], "extra": 1}, 400, "unknown top-level keys"),
    ],
)
def test_malformed_bodies_are_refused_with_their_status(body: Any, status: int, fragment: str) -> None:
    import re

    with pytest.raises(RequestError) as caught:
        request_rows(body)
    assert caught.value.status == status
    assert re.search(fragment, caught.value.message) or any(
        re.search(fragment, p.message) for p in caught.value.problems
    )


def test_repeated_columns_are_named_in_time_however_many_columns_are_sent() -> None:
    """The repeats were found by list.count per column: 40,000 columns (a 400 kB body) took 14 s,
    past predict's 10 s timeout, and a 6 MB body's 800,000 hours: a 5xx, and a cheap way to burn
    the function's compute. Counted once now."""
    import time

    columns = [f"c{i}" for i in range(300_000)] + ["c7", "c7", "c9"]
    started = time.perf_counter()
    with pytest.raises(RequestError) as caught:
        request_rows({"columns": columns, "data": []})
    assert time.perf_counter() - started < 2.0
    assert caught.value.message == "\"columns\" names ['c7', 'c9'] more than once"


# -- loading, aliases and containment of broken artifacts -----------------------------------------


class Registry:
    """Aliases and version records as the registry table holds them."""

    def __init__(self) -> None:
        self.alias_items: dict[str, dict[str, dict[str, Any]]] = {}
        self.versions: dict[tuple[str, int], dict[str, Any]] = {}
        self.alias_reads = 0

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        self.alias_reads += 1
        return {k: dict(v) for k, v in self.alias_items.get(name, {}).items()}

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.versions.get((name, version))
        return ModelVersion.from_item(item) if item else None

    def add(self, registered: Registered, version: int) -> None:
        self.versions[("breast-cancer", version)] = {**registered.record, "version": version}

    def point(self, alias: str, version: int, rollout: dict[str, Any] | None = None) -> None:
        item: dict[str, Any] = {"alias": alias, "version": version}
        if rollout:
            item["rollout"] = rollout
        self.alias_items.setdefault("breast-cancer", {})[alias] = item


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _store(registry: Registry, clock: Clock, artifacts: dict[str, bytes], failures: list[LoadFailure]) -> ServedModels:
    return ServedModels(
        registry=registry,
        read_artifact=artifacts.__getitem__,
        alias_ttl=30,
        clock=clock,
        on_load_failure=failures.append,
    )


def _two_versions() -> tuple[Registry, dict[str, bytes]]:
    registry = Registry()
    one, two = breast_cancer(1), breast_cancer(2)
    registry.add(one, 1)
    registry.add(two, 2)
    return registry, {**one.artifacts, **two.artifacts}


def test_promotion_and_rollback_apply_once_the_alias_cache_expires() -> None:
    registry, artifacts = _two_versions()
    clock, failures = Clock(), list[LoadFailure]()
    models = _store(registry, clock, artifacts, failures)
    registry.point("champion", 1)
    assert models.rollout("breast-cancer").champion.version == 1
    registry.point("champion", 2)
    clock.now = 29.0
    assert models.rollout("breast-cancer").champion.version == 1  # still cached
    assert registry.alias_reads == 1
    clock.now = 30.5
    assert models.rollout("breast-cancer").champion.version == 2
    registry.point("champion", 1)  # rollback
    clock.now = 61.0
    assert models.rollout("breast-cancer").champion.version == 1
    assert failures == [] and registry.alias_reads == 3


def test_a_corrupted_artifact_keeps_the_last_good_version_answering_and_reports_it() -> None:
    registry, artifacts = _two_versions()
    clock, failures = Clock(), list[LoadFailure]()
    models = _store(registry, clock, artifacts, failures)
    registry.point("champion", 1)
    assert models.rollout("breast-cancer").champion.version == 1
    onnx_key = registry.versions[("breast-cancer", 2)]["artifacts"]["model.onnx"]["key"]
    artifacts[onnx_key] = artifacts[onnx_key][:-10] + b"0123456789"
    registry.point("champion", 2)
    clock.now = 31.0
    assert models.rollout("breast-cancer").champion.version == 1
    assert [(f.version, f.serving_version) for f in failures] == [(2, 1)]
    assert "sha256" in failures[0].reason
    clock.now = 45.0  # cached: no second failure within the TTL
    models.rollout("breast-cancer")
    assert len(failures) == 1


def test_a_missing_artifact_keeps_the_last_good_version_answering_and_reports_it() -> None:
    registry, artifacts = _two_versions()
    failures: list[LoadFailure] = []
    clock = Clock()
    models = _store(registry, clock, artifacts, failures)
    registry.point("champion", 1)
    assert models.rollout("breast-cancer").champion.version == 1
    artifacts.pop(registry.versions[("breast-cancer", 2)]["artifacts"]["model.onnx"]["key"])  # deleted from S3
    registry.point("champion", 2)
    clock.now = 31.0
    assert models.rollout("breast-cancer").champion.version == 1
    assert [(f.version, f.serving_version) for f in failures] == [(2, 1)]
    assert "cannot read its artifacts" in failures[0].reason


def test_a_missing_artifact_with_nothing_to_fall_back_on_fails_loudly() -> None:
    registry, artifacts = _two_versions()
    artifacts.pop(registry.versions[("breast-cancer", 2)]["signature_key"])
    failures: list[LoadFailure] = []
    models = _store(registry, Clock(), artifacts, failures)
    registry.point("champion", 2)
    with pytest.raises(RequestError) as caught:
        models.rollout("breast-cancer")
    assert caught.value.status == 503 and "cannot be loaded" in caught.value.message
    assert "cannot read its artifacts" in failures[0].reason and failures[0].serving_version is None


def test_unknown_models_and_models_without_a_champion_are_404s() -> None:
    registry, artifacts = _two_versions()
    models = _store(registry, Clock(), artifacts, [])
    for name, code in (("nope", "not_found"), ("breast-cancer", "no_champion")):
        with pytest.raises(RequestError) as caught:
            models.rollout(name)
        assert (caught.value.status, caught.value.code) == (404, code)


def test_load_version_names_a_record_without_artifacts() -> None:
    with pytest.raises(ArtifactError, match="names no model artifact"):
        load_version("m", ModelVersion(model="m", version=3, status="registered"), lambda key: b"")


def test_a_signature_that_does_not_match_the_model_width_is_refused() -> None:
    registered = breast_cancer()
    import json

    document = json.loads(registered.artifacts[registered.record["signature_key"]])
    document["onnx_input"]["shape"][1] += 1
    with pytest.raises(ValueError, match="encode to 30 columns, the model takes 31"):
        ServedSignature.from_json(document)


# -- rollout --------------------------------------------------------------------------------------


def test_a_canary_answers_its_weight_of_requests_and_sticks_to_request_keys() -> None:
    registry, artifacts = _two_versions()
    registry.point("champion", 1)
    registry.point("challenger", 2, {"mode": "canary", "weight": 0.1})
    rollout = _store(registry, Clock(), artifacts, []).rollout("breast-cancer")
    assert (rollout.challenger and rollout.challenger.version, rollout.mode, rollout.weight) == (2, "canary", 0.1)
    rng = random.Random(3)
    share = sum(assign(rollout, None, rng).variant == "challenger" for _ in range(10_000)) / 10_000
    assert abs(share - 0.1) <= 0.02
    keyed = [assign(rollout, f"customer-{i}").variant for i in range(10_000)]
    assert abs(keyed.count("challenger") / 10_000 - 0.1) <= 0.02
    assert [assign(rollout, f"customer-{i}").variant for i in range(10_000)] == keyed
    assert 0 <= key_share("x") < 1


def test_a_shadow_is_scored_but_never_answers() -> None:
    registry, artifacts = _two_versions()
    registry.point("champion", 1)
    registry.point("challenger", 2, {"mode": "shadow", "weight": 0})
    rollout = _store(registry, Clock(), artifacts, []).rollout("breast-cancer")
    assignments = [assign(rollout, f"k{i}") for i in range(200)]
    assert {a.variant for a in assignments} == {"champion"}
    assert {a.shadow.version for a in assignments if a.shadow} == {2}


def test_a_challenger_without_a_rollout_does_not_take_traffic() -> None:
    registry, artifacts = _two_versions()
    registry.point("champion", 1)
    registry.point("challenger", 2)
    rollout: Rollout = _store(registry, Clock(), artifacts, []).rollout("breast-cancer")
    assert rollout.challenger is None


# -- capture --------------------------------------------------------------------------------------


def _capture_rows(buffer: CaptureBuffer, registered: Registered, rows: int, variant: str = "champion") -> None:
    served = _served(registered)
    records = registered.records(registered.prepared.splits.rows_test[:rows])
    encoded = encode_request(records, served.signature, InputPolicy("warn", "warn"))
    answer = served.predict(encoded.matrix)
    buffer.add(
        model="churn",
        version=served.version,
        fields={i.name: i.kind for i in served.signature.inputs},
        classes=served.signature.classes,
        values=encoded.values,
        predictions=answer.predictions,
        probabilities=answer.probabilities,
        variant=variant,
        request_id=f"r{rows}",
    )


def test_capture_writes_batches_by_model_version_and_hour_that_read_back_column_by_column() -> None:
    written: dict[str, bytes] = {}
    clock = Clock()
    buffer = CaptureBuffer(write=written.__setitem__, default_sample_rate=1.0, max_rows=50, clock=clock)
    registered = churn()
    _capture_rows(buffer, registered, 30)
    assert written == {}  # below the batch size and age: nothing written yet
    _capture_rows(buffer, registered, 30, variant="shadow")  # 60 rows: a full batch
    buffer.flush()
    assert len(written) == 1
    key, data = next(iter(written.items()))
    assert key.startswith("capture/churn/version=1/date=") and "/hour=" in key and key.endswith(".npz")
    meta, arrays = read_capture(data)
    assert meta["rows"] == 60 and meta["fields"] == {
        "age": "numeric",
        "income": "numeric",
        "member": "numeric",
        "city": "categorical",
    }
    assert arrays["input:age"].dtype == np.float64 and arrays["input:city"].dtype.kind == "U"
    nulls = sum(r["city"] is None for r in registered.records(registered.prepared.splits.rows_test[:30]))
    assert nulls and int(arrays["null:city"].sum()) == 2 * nulls
    assert list(arrays["variant"]).count("shadow") == 30 and arrays["probabilities"].shape == (60, 2)
    assert buffer.take_counts() == (60, 0)
    clock.now = 61.0
    _capture_rows(buffer, registered, 1)  # an old batch is flushed on the next request
    _capture_rows(buffer, registered, 1)
    buffer.flush()
    assert len(written) == 2


def test_a_failing_capture_write_is_counted_and_never_raised() -> None:
    def broken(key: str, body: bytes) -> None:
        raise ConnectionError("S3 is unreachable")

    buffer = CaptureBuffer(write=broken, default_sample_rate=1.0, max_rows=5)
    _capture_rows(buffer, churn(), 8)
    buffer.flush()
    assert buffer.take_counts() == (0, 8)


def test_the_sample_rate_decides_how_many_requests_are_captured() -> None:
    buffer = CaptureBuffer(write=lambda k, b: None, default_sample_rate=0.25, rng=random.Random(1))
    assert abs(sum(buffer.sampled(None) for _ in range(10_000)) / 10_000 - 0.25) < 0.02
    assert not any(buffer.sampled(0.0) for _ in range(100)) and all(buffer.sampled(1.0) for _ in range(100))


def _signature(*inputs: Any, classes: tuple[Any, ...] | None = (0, 1)) -> ServedSignature:
    return ServedSignature(
        problem_type="binary" if classes else "regression",
        label="churned",
        inputs=tuple(inputs),
        input_name="features",
        n_features=len(inputs),
        output_names=("label", "probabilities"),
        classes=classes,
    )


def test_a_rollout_is_compatible_only_if_the_challenger_accepts_every_request_the_champion_does() -> None:
    from mlops.serving.signature import ServedInput, signature_differences

    tenure = ServedInput("tenure", "numeric", "int", 0, nullable=True, allowed_min=0, allowed_max=100)
    plan = ServedInput("plan", "categorical", "string", 1, nullable=False, allowed_values=frozenset({"a", "b"}))
    champion = _signature(tenure, plan)
    assert signature_differences(champion, champion) == []
    wider = ServedInput("tenure", "numeric", "int", 0, nullable=True, allowed_min=-1, allowed_max=None)
    more = ServedInput("plan", "categorical", "string", 1, nullable=True, allowed_values=frozenset({"a", "b", "c"}))
    assert signature_differences(champion, _signature(wider, more)) == [], "accepting more is compatible"
    narrower = ServedInput("tenure", "numeric", "int", 0, nullable=False, allowed_min=0, allowed_max=50)
    fewer = ServedInput("plan", "categorical", "string", 1, nullable=False, allowed_values=frozenset({"a"}))
    region = ServedInput("region", "categorical", "string", 2, nullable=True)
    assert signature_differences(champion, _signature(narrower, fewer, region)) == [
        "field 'region': the challenger requires it, the champion's clients do not send it",
        "field 'plan': the challenger refuses 'b', which the champion accepts",
        "field 'tenure': the champion accepts null, the challenger does not",
        "field 'tenure': the challenger accepts [0, 50], narrower than the champion's [0, 100]",
    ]
    assert signature_differences(champion, _signature(tenure)) == [
        "field 'plan': the champion takes it, the challenger refuses it as unknown"
    ]
    as_text = ServedInput("tenure", "categorical", "string", 0, nullable=True)
    assert signature_differences(champion, _signature(as_text, plan)) == [
        "field 'tenure': numeric for the champion, categorical for the challenger"
    ]
    assert signature_differences(champion, _signature(tenure, plan, classes=("no", "yes"))) == [
        "answers: classes [0, 1] for the champion, ['no', 'yes'] for the challenger"
    ]
