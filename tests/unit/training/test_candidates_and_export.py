"""Fit, select, export and parity: every estimator on the bundled datasets converts to ONNX with
parity within 1e-4; a broken ONNX graph is caught with its worst rows; a bad candidate fails alone."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from mlops.serving.session import inference_session
from mlops.training.candidates import CandidateResult, SelectionError, fit_candidate, load_model, select
from mlops.training.chain import check_parity, measure_latency
from mlops.training.config import ParityConfig, TrainingConfig
from mlops.training.features import INPUT_NAME
from mlops.training.onnx_export import export_onnx, onnx_metadata, sha256
from mlops.training.prepare import Prepared, prepare
from mlops.training.search_space import Candidate, Search
from tests.unit.training.support import sklearn_dataset, small_config

CASES = {"breast_cancer": "binary", "wine": "multiclass", "iris": "multiclass", "diabetes": "regression"}


@cache
def _prepared(name: str) -> tuple[Prepared, TrainingConfig]:
    config = small_config(CASES[name])  # type: ignore[arg-type]
    arrays, columns = sklearn_dataset(name)
    return prepare(arrays, columns, config), config


def _fit(name: str, candidate: Candidate) -> tuple[CandidateResult, Any, Prepared, TrainingConfig]:
    prepared, config = _prepared(name)
    result = fit_candidate(candidate, prepared.splits, config)
    assert result.status == "succeeded", result.error
    assert result.model_bytes is not None
    return result, load_model(result.model_bytes, result.model_sha256), prepared, config


@pytest.mark.parametrize(
    ("dataset", "candidate"),
    [(d, c.name) for d in CASES for c in small_config(CASES[d]).candidates],  # type: ignore[arg-type]
)
def test_every_estimator_fits_exports_and_keeps_parity(dataset: str, candidate: str) -> None:
    _, config = _prepared(dataset)
    spec = next(c for c in config.candidates if c.name == candidate)
    result, model, prepared, config = _fit(dataset, spec)
    splits = prepared.splits
    assert result.validation_metrics[config.metric] is not None and result.fit_seconds >= 0
    onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
    report = check_parity(model, onnx_bytes, splits.X_test, config.parity, row_ids=splits.rows_test)
    assert report.passed, report.model_dump()
    if config.problem_type == "regression":
        assert report.max_relative_diff is not None and report.max_relative_diff <= 1e-4
    else:
        assert report.max_abs_probability_diff is not None and report.max_abs_probability_diff <= 1e-4
        assert report.label_agreement == 1.0
    session = inference_session(onnx_bytes)
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    assert (
        session.get_inputs()[0].type == "tensor(float)" and session.get_inputs()[0].shape[1] == splits.X_train.shape[1]
    )
    expected = ["prediction"] if config.problem_type == "regression" else ["label", "probabilities"]
    assert [o.name for o in session.get_outputs()] == expected
    assert onnx_metadata(onnx_bytes)["feature_names"].startswith("[")
    # Deterministic: the same model converts to the same bytes.
    assert sha256(export_onnx(model, splits.X_train.shape[1], splits.feature_names)) == sha256(onnx_bytes)


def _perturbed(onnx_bytes: bytes) -> bytes:
    """Nudge one linear coefficient (the kind of silent error parity exists to catch)."""
    model = onnx.load_model_from_string(onnx_bytes)
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "coefficients":
                attribute.floats[3] += 0.5
                return bytes(model.SerializeToString())
    for tensor in model.graph.initializer:  # fallback: a weight initializer
        values = numpy_helper.to_array(tensor).copy()
        values.flat[0] += 0.5
        tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
        return bytes(model.SerializeToString())
    raise AssertionError("no coefficient to perturb")


@pytest.mark.parametrize("dataset", ["breast_cancer", "diabetes"])
def test_a_broken_onnx_graph_fails_parity_naming_the_worst_rows(dataset: str) -> None:
    _, config = _prepared(dataset)
    _, model, prepared, config = _fit(dataset, config.candidates[0 if dataset == "breast_cancer" else 1])
    splits = prepared.splits
    broken = _perturbed(export_onnx(model, splits.X_train.shape[1], splits.feature_names))
    report = check_parity(model, broken, splits.X_test, config.parity, row_ids=splits.rows_test)
    assert not report.passed
    assert any(not c.passed for c in report.checks)
    worst = report.worst_rows
    assert len(worst) == 5 and worst[0].diff is not None and worst[0].diff > 1e-4
    assert worst[0].row == int(splits.rows_test[worst[0].index])
    if dataset == "breast_cancer":
        # Rows whose label flipped come first, then the largest probability differences.
        flipped = [w.sklearn["label"] != w.onnx["label"] for w in worst]
        assert flipped == sorted(flipped, reverse=True)
        assert set(worst[0].sklearn) == {"label", "probabilities"} and len(worst[0].onnx["probabilities"]) == 2
    else:
        assert [w.diff for w in worst] == sorted((w.diff or 0.0 for w in worst), reverse=True)
        assert isinstance(worst[0].sklearn, float) and worst[0].sklearn != worst[0].onnx


def test_an_unloadable_onnx_fails_parity_with_the_error() -> None:
    _, model, prepared, _ = _fit("iris", _prepared("iris")[1].candidates[0])
    report = check_parity(model, b"not an onnx model", prepared.splits.X_test, ParityConfig())
    assert not report.passed and report.error


def test_a_candidate_with_an_invalid_param_fails_alone_with_its_reason() -> None:
    prepared, config = _prepared("breast_cancer")
    good = config.candidates[0]
    bad = Candidate(name="bad_forest", estimator="random_forest", params={"max_depth": -3, "n_estimators": 5})
    results = [fit_candidate(c, prepared.splits, config) for c in (good, bad)]
    assert [r.status for r in results] == ["succeeded", "failed"]
    failed = results[1]
    assert failed.error is not None and "max_depth" in failed.error and "-3" in failed.error
    assert failed.model_bytes is None and failed.model_sha256 is None
    assert select([r.to_json() for r in results], config.metric).name == good.name
    with pytest.raises(SelectionError, match=r"bad_forest: InvalidParameterError.*max_depth"):
        select([failed], config.metric)


def test_select_honours_the_metric_direction_and_keeps_config_order_on_ties() -> None:
    def result(name: str, **metrics: float) -> CandidateResult:
        return CandidateResult(name=name, estimator="ridge", status="succeeded", validation_metrics=dict(metrics))

    results = [result("a", rmse=3.0, r2=0.5), result("b", rmse=2.0, r2=0.4), result("c", rmse=2.0, r2=0.5)]
    assert select(results, "rmse").name == "b"  # lower is better; b before c on a tie
    assert select(results, "r2").name == "a"
    with pytest.raises(SelectionError, match="no candidates"):
        select([], "rmse")


def test_a_random_search_is_seeded_and_records_its_trials() -> None:
    prepared, config = _prepared("wine")
    candidate = Candidate(
        name="rf_random",
        estimator="random_forest",
        params={"n_estimators": 10},
        search=Search.model_validate(
            {
                "random": {
                    "n_iter": 4,
                    "params": {
                        "max_depth": {"low": 2, "high": 16, "log": True},
                        "max_features": {"low": 0.3, "high": 1.0},
                        "criterion": ["gini", "entropy"],
                    },
                }
            }
        ),
    )
    first = fit_candidate(candidate, prepared.splits, config)
    again = fit_candidate(candidate, prepared.splits, config)
    assert first.status == "succeeded", first.error
    assert first.search is not None and first.search.kind == "random" and len(first.search.trials) == 4
    assert first.search.trials == (again.search.trials if again.search else None)
    assert first.model_sha256 == again.model_sha256
    assert isinstance(first.best_params["max_depth"], int) and 2 <= first.best_params["max_depth"] <= 16
    best_score = max(t.score for t in first.search.trials if t.score is not None)
    assert first.validation_metrics[config.metric] == pytest.approx(best_score)


def test_load_model_refuses_bytes_that_do_not_match_their_hash() -> None:
    result, _, _, _ = _fit("iris", _prepared("iris")[1].candidates[0])
    assert result.model_bytes is not None
    with pytest.raises(ValueError, match="sha256"):
        load_model(result.model_bytes + b"x", result.model_sha256)


def test_latency_is_measured_with_onnxruntime() -> None:
    _, model, prepared, _ = _fit("iris", _prepared("iris")[1].candidates[0])
    onnx_bytes = export_onnx(model, 4, prepared.splits.feature_names)
    single = measure_latency(onnx_bytes, prepared.splits.X_test, rows=1, repeats=30, warmup=5)
    batch = measure_latency(onnx_bytes, prepared.splits.X_test, rows=64, repeats=10, warmup=2)
    assert 0 < single["p50_ms"] <= single["p99_ms"]
    assert batch["rows"] == 64 and batch["p99_ms_per_row"] == pytest.approx(batch["p99_ms"] / 64)
    assert np.isfinite(list(single.values())).all()


def test_label_flips_between_tied_classes_count_as_agreement_but_real_flips_do_not() -> None:
    """Two fully grown trees that disagree give exactly 0.5; which class wins is a tie-break."""
    prepared, config = _prepared("breast_cancer")
    splits = prepared.splits
    candidate = Candidate(name="tied", estimator="random_forest", params={"n_estimators": 2})
    _, model, _, _ = _fit("breast_cancer", candidate)
    onnx_bytes = export_onnx(model, splits.X_train.shape[1], splits.feature_names)
    proba = model.predict_proba(splits.X_test.astype(np.float32))
    tied_rows = np.isclose(proba[:, 0], 0.5)
    assert tied_rows.any(), "the test needs rows whose two trees disagree"

    class LastArgmax(type(model)):  # type: ignore[misc]
        """Breaks ties toward the last class, where scikit-learn picks the first."""

        def predict(self, x: Any) -> Any:
            p = self.predict_proba(x)
            return p.shape[1] - 1 - np.argmax(p[:, ::-1], axis=1)

    model.__class__ = LastArgmax
    report = check_parity(model, onnx_bytes, splits.X_test, config.parity)
    assert report.passed and report.label_agreement == 1.0

    class Inverted(type(model)):  # type: ignore[misc]
        def predict(self, x: Any) -> Any:
            return 1 - np.argmax(self.predict_proba(x), axis=1)

    model.__class__ = Inverted
    report = check_parity(model, onnx_bytes, splits.X_test, config.parity)
    assert not report.passed
    assert report.label_agreement == pytest.approx(float(tied_rows.mean()))


@pytest.mark.parametrize(
    "candidate",
    [
        Candidate(name="forest", estimator="random_forest", params={"n_estimators": 30, "max_depth": 6}),
        Candidate(name="hist", estimator="hist_gradient_boosting", params={"max_iter": 30}),
    ],
    ids=lambda c: c.estimator,
)
def test_a_fargate_fit_uses_its_tasks_vcpus_and_stores_the_model_a_lambda_fit_would(
    candidate: Candidate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #20: on a 16 vCPU task a fit that used one core got memory, not speed (bench fit_scale:
    the default histogram-gradient-boosting grid at 50M rows, 148 min on one core, about 9 on 16).
    With the task's threads the fit gives the same answers and stores the same model settings as a
    Lambda fit (evaluate and export run in a Lambda, one thread)."""
    from threadpoolctl import threadpool_limits as real

    import mlops.training.candidates as candidates

    seen: list[int] = []

    def recording(*, limits: int) -> Any:
        seen.append(limits)
        return real(limits=limits)

    monkeypatch.setattr(candidates, "threadpool_limits", recording)
    prepared, config = _prepared("breast_cancer")
    one = fit_candidate(candidate, prepared.splits, config)
    many = fit_candidate(candidate, prepared.splits, config, threads=2)
    assert seen == [1, 2]
    assert one.status == many.status == "succeeded", (one.error, many.error)
    assert one.validation_metrics == many.validation_metrics
    assert one.model_bytes is not None and many.model_bytes is not None
    serial = load_model(one.model_bytes, one.model_sha256)
    threaded = load_model(many.model_bytes, many.model_sha256)
    x = prepared.splits.X_test
    np.testing.assert_array_equal(serial.predict_proba(x), threaded.predict_proba(x))
    assert threaded.get_params().get("model__n_jobs", 1) == serial.get_params().get("model__n_jobs", 1) == 1
