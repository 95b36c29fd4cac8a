"""Fair gates: the champion's ONNX model is scored on the challenger's test rows, through serving's
own request encoding, and max_regression compares the two models on those same rows."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pytest

from mlops.datasets.versioning import read_npz
from mlops.onnx_checks.champion_scores import ChampionScores
from mlops.onnx_checks.steps import score_champion
from mlops.registry.versions import ModelVersion
from mlops.serving.models import ServedVersion, load_version
from mlops.training.candidates import load_model
from mlops.training.chain import TrainingRun, run_training
from mlops.training.config import TrainingConfig
from mlops.training.evaluation import compute_metrics, evaluate, predict
from mlops.training.gates import gate_evaluation
from mlops.training.prepare import prepare
from mlops.training.signature import signature_json
from tests.unit.training.support import mixed_dataset, sklearn_dataset, small_config


def _served(run: TrainingRun, version: int = 1) -> ServedVersion:
    store = {"m.onnx": run.onnx_bytes, "s.json": json.dumps(signature_json(run.signature)).encode()}
    record = ModelVersion(
        model="m",
        version=version,
        status="registered",
        artifacts={"model.onnx": {"key": "m.onnx"}},
        onnx_sha256=hashlib.sha256(run.onnx_bytes).hexdigest(),
        signature_key="s.json",
    )
    return load_version("m", record, store.__getitem__)


def _config(problem_type: Any, seed: int, candidates: list[dict[str, Any]], **extra: Any) -> TrainingConfig:
    base = small_config(problem_type).model_dump()
    return TrainingConfig.model_validate(
        {**base, "split": {**base["split"], "seed": seed}, "candidates": candidates, **extra}
    )


def test_the_champion_scored_here_answers_as_it_would_in_serving_and_the_record_round_trips() -> None:
    arrays, columns = mixed_dataset(rows=500)
    forest = [{"name": "rf", "estimator": "random_forest", "params": {"n_estimators": 10, "max_depth": 5}}]
    champion = run_training(arrays, columns, _config("binary", 7, forest, label="outcome"), latency_repeats=5)
    challenger = prepare(arrays, columns, _config("binary", 7, forest, label="outcome"))
    test_rows = read_npz(challenger.test_rows_bytes)
    fitted = challenger.fitted_rows_bytes  # the champion's run prepared the same rows the same way
    scores = ChampionScores.from_bytes(score_champion(_served(champion), test_rows, fitted).to_bytes())
    assert scores.version == 1 and scores.test_rows == challenger.meta.rows["test"]
    # The same data, config and seed: the same test split, so the champion scores exactly the rows
    # its own evaluation used, and must reproduce its own test metrics.
    model = load_model(champion.model_bytes)
    x_test = challenger.splits.X_test
    assert scores.rows == x_test.shape[0], scores.unscored
    sk_labels, sk_proba = predict(model, x_test, "binary")
    assert np.array_equal(np.asarray(scores.labels), sk_labels)
    assert np.abs(np.asarray(scores.probabilities) - sk_proba).max() < 1e-4
    comparison = evaluate(model, challenger.splits, challenger.meta, champion=scores).champion
    assert comparison is not None and comparison.rows == scores.rows
    assert comparison.champion_metrics["roc_auc"] == pytest.approx(champion.evaluation.metrics["roc_auc"], abs=1e-6)


def test_a_regressed_challenger_fails_on_the_same_rows_where_stored_figures_would_pass_it() -> None:
    """The digits case from the issue, on breast cancer: a weak model on its own split against the
    champion's stored figure from another split. On the same rows (those the champion was neither
    fitted nor selected on) the regression shows."""
    arrays, columns = sklearn_dataset("breast_cancer")
    strong = [{"name": "logreg", "estimator": "logistic_regression", "params": {"C": 1.0}}]
    weak = [{"name": "stump", "estimator": "random_forest", "params": {"n_estimators": 1, "max_depth": 1}}]
    gates = {"max_regression": {"roc_auc": 0.02}, "min_segment_rows": 10}
    champion_config = _config("binary", 3, strong, quality_gates=gates)
    champion = run_training(arrays, columns, champion_config, latency_repeats=5)
    fitted = prepare(arrays, columns, champion_config).fitted_rows_bytes
    config = _config("binary", 11, weak, quality_gates=gates)
    prepared = prepare(arrays, columns, config)
    scores = score_champion(_served(champion), read_npz(prepared.test_rows_bytes), fitted)
    # A different seed puts rows the champion trained on into this test split: those are left out.
    test_rows = prepared.meta.rows["test"]
    left_out = scores.unscored["the champion was fitted or selected on them"]
    assert 0 < left_out < test_rows and scores.rows == test_rows - left_out
    challenger = run_training(arrays, columns, config, latency_repeats=5)
    evaluation = evaluate(load_model(challenger.model_bytes), prepared.splits, prepared.meta, champion=scores)
    comparison = evaluation.champion
    assert comparison is not None and comparison.rows == scores.rows
    assert f"{left_out} not scored: the champion was fitted or selected on them" in comparison.basis
    fair = gate_evaluation(evaluation, None, config, champion.evaluation.metrics, champion_version=1)
    (regression,) = [r for r in fair.results if r.name == "max_regression.roc_auc"]
    assert not regression.passed
    assert f"champion v1 on {scores.rows} of this run's {test_rows} test rows" in regression.message
    assert "own test split" not in regression.message, "the comparison on the same rows decided"
    champion_auc = comparison.champion_metrics["roc_auc"]
    assert champion_auc is not None and regression.threshold == pytest.approx(champion_auc - 0.02)
    assert regression.observed == comparison.metrics["roc_auc"] != evaluation.metrics["roc_auc"]
    # Without the comparison the gate falls back to the stored figures and says whose split they are from.
    evaluation_alone = evaluation.model_copy(update={"champion": None})
    stored = gate_evaluation(evaluation_alone, None, config, {"roc_auc": 0.5}, champion_version=1)
    (fallback,) = [r for r in stored.results if r.name == "max_regression.roc_auc"]
    assert fallback.passed and "its own test split" in fallback.message


def test_equal_rows_have_equal_fingerprints_whatever_their_stored_types() -> None:
    from mlops.datasets.versioning import NULL_MASK_PREFIX, row_fingerprints

    first = {
        "n": np.array([1.0, 2.0, np.nan, 1.0, -0.0]),
        "s": np.array(["a", "b", "c", "a", "a"], dtype="<U4"),
        "t": np.array(["2024-01-01", "2024-02-29", "NaT", "2024-01-01", "2024-01-01"], dtype="datetime64[ns]"),
    }
    second = {
        "n": np.array([1, 2, 3, 1, 0]),  # ints now, and row 2 has a value where the first had none
        f"{NULL_MASK_PREFIX}n": np.array([False, False, True, False, False]),
        "s": np.array(["a", "b", "c", "a", "a"], dtype="<U12"),
        "t": first["t"].astype("datetime64[s]"),
    }
    a, b = row_fingerprints(first, ["n", "s", "t"]), row_fingerprints(second, ["n", "s", "t"])
    assert a[0] == a[3] and a[0] != a[1]
    assert list(a) == list(b), "the same values, stored as other dtypes or widths, give the same fingerprints"
    assert row_fingerprints(first, ["s", "n", "t"])[0] != a[0], "column order is part of the fingerprint"


def test_rows_the_champion_cannot_read_are_counted_by_reason_and_left_out_of_both_figures() -> None:
    arrays, columns = mixed_dataset(rows=400)
    forest = [{"name": "rf", "estimator": "random_forest", "params": {"n_estimators": 5, "max_depth": 4}}]
    champion = run_training(arrays, columns, _config("binary", 7, forest, label="outcome"), latency_repeats=5)
    prepared = prepare(arrays, columns, _config("binary", 7, forest, label="outcome"))
    rows = dict(read_npz(prepared.test_rows_bytes))
    field = champion.signature.inputs[0].name
    without = {k: v for k, v in rows.items() if not k.endswith(field)}
    missing = score_champion(_served(champion), without)
    assert missing.rows == 0 and any(repr(field) in reason for reason in missing.unscored)
    evaluation = evaluate(load_model(champion.model_bytes), prepared.splits, prepared.meta, champion=missing)
    assert evaluation.champion is not None and evaluation.champion.rows == 0
    config = _config("binary", 7, forest, label="outcome", quality_gates={"max_regression": {"roc_auc": 0.0}})
    gates = gate_evaluation(evaluation, None, config, {"roc_auc": 0.1}, champion_version=1)
    (fallback,) = [r for r in gates.results if r.name == "max_regression.roc_auc"]
    assert "not used" in fallback.message and repr(field) in fallback.message


def test_a_class_only_the_champion_knows_counts_as_a_wrong_answer() -> None:
    from mlops.training.evaluation import compare_with_champion

    scores = ChampionScores(
        version=2,
        test_rows=3,
        kind="classification",
        scored=np.array([True, True, True]),
        classes=["a", "b", "c"],
        labels=np.array([0, 2, 1]),
        probabilities=np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]], dtype=np.float32),
    )
    y = np.array([0, 1, 1])
    ours = np.array([0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    comparison = compare_with_champion(scores, "binary", y, ours, proba, ["a", "b"])
    assert comparison is not None
    assert comparison.champion_metrics["accuracy"] == pytest.approx(2 / 3)
    assert comparison.metrics == compute_metrics("binary", y, ours, proba, 2)


def test_the_gate_does_not_trust_a_comparison_it_cannot_vouch_for() -> None:
    """Found in review: a champion without fingerprints is scored on rows it trained on; three rows
    of one class leave roc_auc undefined; a regression champion against a classifier crashed. Each
    falls back to the stored figures, saying why."""
    from mlops.training.evaluation import compare_with_champion

    config = TrainingConfig.model_validate(
        {**small_config("binary").model_dump(), "quality_gates": {"max_regression": {"roc_auc": 0.01}}}
    )
    y = np.array([0, 1] * 50)
    proba = np.column_stack([1 - y * 0.8, y * 0.8])
    ours = (proba[:, 1] > 0.5).astype(np.int64)

    def scores(**changes: Any) -> ChampionScores:
        base: dict[str, Any] = {
            "version": 4,
            "test_rows": y.size,
            "kind": "classification",
            "scored": np.ones(y.size, dtype=bool),
            "classes": ["0", "1"],
            "labels": ours,
            "probabilities": proba.astype(np.float32),
        }
        return ChampionScores(**{**base, **changes})

    def regression_gate(champion: ChampionScores) -> str:
        comparison = compare_with_champion(champion, "binary", y, ours, proba, [0, 1])
        evaluation = type("E", (), {})()
        evaluation.metrics, evaluation.segments, evaluation.baseline_metrics = {"roc_auc": 0.9}, [], None
        evaluation.predicted_classes, evaluation.champion = 2, comparison
        report = gate_evaluation(evaluation, None, config, {"roc_auc": 0.5}, champion_version=4)
        (gate,) = [r for r in report.results if r.name == "max_regression.roc_auc"]
        return gate.message

    assert "champion v4 on 100 of this run's 100 test rows" in regression_gate(scores())
    no_fingerprints = scores(caveat="rows it was fitted on cannot be told apart: its run kept no fingerprints")
    assert "its own test split" in regression_gate(no_fingerprints)
    assert "kept no fingerprints" in regression_gate(no_fingerprints)
    few = np.zeros(y.size, dtype=bool)
    few[:3] = True
    assert "fewer than 30 rows" in regression_gate(scores(scored=few, labels=ours[:3], probabilities=proba[:3]))
    one_class = np.zeros(y.size, dtype=bool)
    one_class[::2] = True  # only class 0 rows: roc_auc undefined on both sides
    message = regression_gate(scores(scored=one_class, labels=ours[::2], probabilities=proba[::2]))
    assert "roc_auc undefined on the 50 rows compared" in message
    regression = scores(kind="regression", classes=None, labels=None, probabilities=None, values=np.zeros(y.size))
    assert "a regression model and this one a classification model" in regression_gate(regression)
    relabelled = scores(classes=["0.0", "1.0"])  # a label column stored as float by an older version
    assert "champion v4 on 100" in regression_gate(relabelled)
