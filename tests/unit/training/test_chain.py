"""The whole chain, as the pipeline runs it: deterministic end to end (same data, config and seed
give the same metrics and the same ONNX bytes, in this process and in a fresh one), with a mixed
dataset (strings, nulls, segments), a signature serving can use and a self-contained report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops.onnx_checks.parity import no_candidate_matches
from mlops.serving.session import inference_session
from mlops.training.candidates import CandidateResult, rank
from mlops.training.chain import TrainingRun, run_training
from mlops.training.config import TrainingConfig
from mlops.training.features import encode_records
from mlops.training.onnx_export import sha256
from mlops.training.report import training_report_html
from tests.unit.training.support import mixed_dataset, sklearn_dataset, small_config

ROOT = Path(__file__).resolve().parents[3]


def _run_wine() -> TrainingRun:
    arrays, columns = sklearn_dataset("wine")
    config = small_config("multiclass", quality_gates={"absolute": {"accuracy": {"min": 0.8}}})
    return run_training(arrays, columns, config, latency_repeats=20)


def test_the_same_inputs_give_the_same_metrics_and_the_same_onnx_bytes() -> None:
    first, second = _run_wine(), _run_wine()
    assert first.onnx_sha256 == second.onnx_sha256 == sha256(first.onnx_bytes)
    assert first.onnx_bytes == second.onnx_bytes
    assert first.meta == second.meta
    assert first.evaluation == second.evaluation
    assert first.profile == second.profile
    assert [c.validation_metrics for c in first.candidates] == [c.validation_metrics for c in second.candidates]
    assert first.selected.name == second.selected.name and first.registrable and first.gates.passed
    assert first.signature == second.signature


def test_a_fresh_process_exports_the_same_bytes() -> None:
    """Each step runs in its own Lambda: determinism must hold across processes, not only within one."""
    run = _run_wine()
    script = textwrap.dedent(
        """
        import sys
        from mlops.training.candidates import load_model
        from mlops.training.onnx_export import export_onnx, sha256
        import json
        names = json.loads(sys.argv[1])
        model = load_model(sys.stdin.buffer.read())
        print(sha256(export_onnx(model, len(names), names)))
        """
    )
    # A fresh interpreter with its own conversion history and string hashing (skl2onnx once let both
    # leak into the bytes: the order of opset imports).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]), "PYTHONHASHSEED": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(run.signature.feature_names)],
        input=run.model_bytes,
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert out.stdout.decode().strip() == run.onnx_sha256


def test_a_mixed_dataset_runs_end_to_end_and_serving_can_use_the_signature() -> None:
    arrays, columns = mixed_dataset(rows=800)
    config = small_config(
        "binary",
        label="outcome",
        segment_column="region",
        quality_gates={"max_segment_gap": 0.2, "latency_budget_ms_per_row": 50},
    )
    run = run_training(arrays, columns, config, champion_metrics={"roc_auc": 0.5}, latency_repeats=20)
    assert run.parity.passed, run.parity.model_dump()
    assert {s.segment for s in run.evaluation.segments} == {"north", "south", "east"}
    assert run.evaluation.calibration is not None and len(run.evaluation.calibration.bins) == 10
    assert run.evaluation.confusion_matrix is not None and run.evaluation.confusion_matrix.labels == ["churn", "stay"]
    assert run.profile.prediction is not None and run.profile.prediction.score == "positive_probability"
    sig = run.signature
    assert sig.classes == ["churn", "stay"] and [o.name for o in sig.outputs] == ["label", "probabilities"]
    assert sig.onnx_input.shape == [None, len(sig.feature_names)]
    age = next(i for i in sig.inputs if i.name == "age")
    assert age.kind == "numeric" and age.min is not None and age.max is not None and age.min < age.max
    city = next(i for i in sig.inputs if i.name == "city")
    assert city.kind == "categorical" and city.categories == ["Lyon", "Oslo", "Porto", "Quito", "Zanzibar"]
    # What the predict function will do: records -> spec -> ONNX -> class names.
    records: list[dict[str, object]] = [
        {"age": 61, "income": 30000.0, "member": True, "city": "Oslo"},
        {"age": None, "city": "Atlantis"},
    ]
    session = inference_session(run.onnx_bytes)
    labels, probabilities = session.run(None, {sig.onnx_input.name: encode_records(records, sig.feature_spec)})
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert [sig.classes[int(i)] for i in labels] == [sig.classes[int(np.argmax(p))] for p in probabilities]
    # Every step's output is JSON.
    for part in (run.meta, run.profile, run.evaluation, run.parity, run.gates, run.signature, *run.candidates):
        json.dumps(part.model_dump(mode="json"))
    assert {r.name for r in run.gates.results} == {
        "beats_baseline",
        "predicts_more_than_one_class",
        "max_segment_gap",
        "latency_budget_ms_per_row",
    }


def test_the_report_is_self_contained_and_escapes_data() -> None:
    arrays, columns = sklearn_dataset("breast_cancer")
    arrays = dict(arrays)
    arrays["site"] = np.where(np.arange(arrays["target"].size) % 2 == 0, "<b>A&B</b>", "clinic").astype(str)
    from mlops.datasets.versioning import ColumnSchema

    columns = [*columns, ColumnSchema(name="site", type="string", dtype=arrays["site"].dtype.str)]
    config = small_config("binary", segment_column="site", quality_gates={"absolute": {"roc_auc": {"min": 0.99999}}})
    run = run_training(arrays, columns, config, latency_repeats=10)
    page = run.report_html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for external in ("<script", "http://", "https://", "<link", "src="):
        assert external not in page
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in page and "<b>A&B</b>" not in page
    for section in (
        "Candidates",
        "Test metrics",
        "Confusion matrix",
        "Calibration",
        "Segments",
        "Feature importance",
        "ONNX parity",
        "Quality gates",
    ):
        assert section in page
    for candidate in run.candidates:
        assert candidate.name in page
    assert run.onnx_sha256 in page
    importance = run.evaluation.feature_importance
    assert importance is not None and f"<td>{importance.features[0].feature}</td>" in page
    assert not run.registrable and "not registrable" in page and "absolute.roc_auc.min" in page
    # The steps' stored JSON renders the same page as the models.
    as_json = training_report_html(
        config=config,
        meta=run.meta.model_dump(mode="json"),
        candidates=[c.to_json() for c in run.candidates],
        selected=run.selected.to_json(),
        evaluation=run.evaluation.model_dump(mode="json"),
        parity=run.parity.model_dump(mode="json"),
        gates=run.gates.model_dump(mode="json"),
        onnx_sha256=run.onnx_sha256,
        latency=run.latency,
    )
    assert as_json == page


def test_a_model_that_learnt_only_the_class_shares_fails_its_gates() -> None:
    """Skewed classes (4 % positive) and inputs that carry no signal: the fitted model can do no better
    than always answering the majority class, as a trivial model does. It passed every gate before;
    now it fails two, in words a reviewer reads."""
    from mlops.training.search_space import Candidate
    from tests.unit.training.support import _column, stored

    rng = np.random.default_rng(7)
    n = 2000
    arrays = {f"noise_{i}": rng.normal(size=n) for i in range(4)}
    arrays["churned"] = (rng.random(n) < 0.04).astype(np.int64)
    columns = [_column(name, values, "float" if name != "churned" else "int") for name, values in arrays.items()]
    config = small_config(
        "binary",
        label="churned",
        selection_metric="accuracy",
        candidates=[Candidate(name="logreg", estimator="logistic_regression")],
    )
    run = run_training(stored(arrays), columns, config, latency_repeats=10)
    results = {r.name: r for r in run.gates.results}
    assert not results["predicts_more_than_one_class"].passed
    assert "predicts the same class for every test row" in results["predicts_more_than_one_class"].message
    assert not results["beats_baseline"].passed
    assert "for a trivial model (class prior / mean): no better" in results["beats_baseline"].message
    assert not run.registrable
    breast_cancer = run_training(*sklearn_dataset("breast_cancer"), small_config("binary"), latency_repeats=10)
    beaten = {r.name: r for r in breast_cancer.gates.results}["beats_baseline"]
    assert beaten.passed and beaten.threshold == 0.5, beaten  # roc_auc of the class prior


def _exact_and_inexact(**parity: float) -> tuple[Any, Any, TrainingConfig]:
    """Breast cancer with a logistic regression (the better model; float noise after ONNX export)
    and one fully grown tree (leaf probabilities 0 or 1, which ONNX reproduces exactly)."""
    arrays, columns = sklearn_dataset("breast_cancer")
    config = TrainingConfig.model_validate(
        {
            "dataset": "test",
            "problem_type": "binary",
            "label": "target",
            "selection_metric": "roc_auc",
            "candidates": [
                {"name": "logreg", "estimator": "logistic_regression"},
                {
                    "name": "one-tree",
                    "estimator": "random_forest",
                    "params": {"n_estimators": 1, "bootstrap": False, "max_features": None},
                },
            ],
            "parity": parity,
        }
    )
    return arrays, columns, config


def test_a_parity_failure_falls_back_to_the_next_ranked_candidate_and_says_so() -> None:
    arrays, columns, config = _exact_and_inexact(max_abs_probability_diff=0.0, min_label_agreement=1.0)
    run = run_training(arrays, columns, config, latency_repeats=5)
    ranked = sorted(run.candidates, key=lambda c: -(c.validation_metrics["roc_auc"] or 0))
    assert [c.name for c in ranked] == ["logreg", "one-tree"], "the failing candidate is the better one"
    assert [(a.rank, a.candidate, a.passed) for a in run.parity_attempts] == [
        (1, "logreg", False),
        (2, "one-tree", True),
    ]
    assert run.selected.name == "one-tree" and run.parity.passed and run.registrable
    # The evaluation is the tree's: a fully grown tree's probabilities are 0 or 1, so its Brier score
    # is its error rate.
    accuracy = run.evaluation.metrics["accuracy"]
    assert accuracy is not None and run.evaluation.metrics["brier"] == pytest.approx(1 - accuracy)
    failed = run.parity_attempts[0].summary()
    assert "max_abs_probability_diff" in failed and "parity.max_abs_probability_diff" in failed
    assert "Candidates tried, best first" in run.report_html and "parity.max_abs_probability_diff" in run.report_html


def test_a_run_fails_parity_only_when_no_candidate_matches_naming_each() -> None:
    arrays, columns, config = _exact_and_inexact(max_abs_probability_diff=0.0, min_label_agreement=1.0)
    config = config.model_copy(update={"candidates": config.candidates[:1]})
    run = run_training(arrays, columns, config, latency_repeats=5)
    assert not run.parity.passed and not run.registrable
    message = no_candidate_matches(run.parity_attempts)
    assert "1 tried" in message and "logreg (logistic_regression)" in message
    assert "parity.max_abs_probability_diff" in message


def test_candidates_are_ranked_best_first_with_ties_in_config_order() -> None:
    results = [
        CandidateResult(name="a", estimator="x", status="succeeded", validation_metrics={"rmse": 2.0}),
        CandidateResult(name="b", estimator="x", status="failed", error="boom"),
        CandidateResult(name="c", estimator="x", status="succeeded", validation_metrics={"rmse": 1.0}),
        CandidateResult(name="d", estimator="x", status="succeeded", validation_metrics={"rmse": 2.0}),
    ]
    assert [r.name for r in rank(results, "rmse")] == ["c", "a", "d"]
    results = [
        r.model_copy(update={"validation_metrics": {"roc_auc": r.validation_metrics.get("rmse")}}) for r in results
    ]
    assert [r.name for r in rank(results, "roc_auc")] == ["a", "d", "c"]


def test_a_candidate_skl2onnx_cannot_convert_is_passed_over_like_a_parity_failure() -> None:
    """The export step answers {"error": ...} instead of failing the run; the parity step records the
    candidate as failed with that reason and hands over to the next-ranked one."""
    from mlops.onnx_checks.parity import PARITY_ATTEMPTS
    from mlops.onnx_checks.steps import parity_step

    class Artifacts:
        def __init__(self) -> None:
            self.objects: dict[str, bytes] = {}

        def put(self, key: str, body: bytes, content_type: str) -> None:
            self.objects[key] = body

        def get(self, key: str) -> bytes:
            return self.objects[key]

    artifacts = Artifacts()
    evaluation = {"selected": "custom", "estimator": "random_forest", "attempt": 0, "ranked": ["custom", "logreg"]}
    export = {"onnx_sha256": None, "error": "MissingShapeCalculator: no converter for CustomForest"}
    answer = parity_step({"prefix": "runs/r1/"}, evaluation, artifacts, export)  # type: ignore[arg-type]
    assert answer["parity_passed"] is False and answer["try_next"] is True and answer["next_attempt"] == 1
    (attempt,) = json.loads(artifacts.objects[f"runs/r1/{PARITY_ATTEMPTS}"])
    assert attempt["candidate"] == "custom" and "skl2onnx could not convert it" in attempt["error"]
    assert "custom (random_forest): skl2onnx could not convert it: MissingShapeCalculator" in answer["parity_message"]


def test_a_model_no_better_than_noise_does_not_beat_the_baseline_by_luck() -> None:
    """Found by a newcomer: a feature independent of the label gave roc_auc 0.51 against the trivial
    model's 0.5 and passed. The gain must hold at quality_gates.baseline_confidence (a paired
    bootstrap over the test rows); here it is +0.05 by chance and fails."""
    from mlops.datasets.versioning import ColumnSchema

    rng = np.random.default_rng(1)
    arrays = {"x1": rng.normal(size=1000), "x2": rng.normal(size=1000), "y": (rng.random(1000) < 0.3).astype(np.int64)}
    columns = [ColumnSchema(name=k, type="int" if k == "y" else "float", dtype=v.dtype.str) for k, v in arrays.items()]
    config = TrainingConfig.model_validate(
        {
            "dataset": "noise",
            "problem_type": "binary",
            "label": "y",
            "selection_metric": "roc_auc",
            "candidates": [{"name": "lr", "estimator": "logistic_regression"}],
            "quality_gates": {"allow_single_class_predictions": True},
        }
    )
    run = run_training(arrays, columns, config, latency_repeats=3)
    (gate,) = [g for g in run.gates.results if g.name == "beats_baseline"]
    gain = run.evaluation.baseline_gain
    assert gain is not None and gain.gain is not None and gain.gain > 0.04 and gain.resamples == 200
    assert not gate.passed and "lower bound is -0.02" in gate.message and "within noise" in gate.message
    relaxed = config.model_copy(
        update={"quality_gates": config.quality_gates.model_copy(update={"baseline_confidence": None})}
    )
    assert run_training(arrays, columns, relaxed, latency_repeats=3).gates.passed, "the observed gain alone decides"
    # A real signal passes at 95 % and says by how much at least.
    wine = _run_wine()
    (real,) = [g for g in wine.gates.results if g.name == "beats_baseline"]
    assert real.passed and "at 95% confidence better by at least" in real.message
