"""A performance check says what a user needs from labelled traffic: each version's figures as
scikit-learn computes them, how sure they are, how they compare with the test split and the floor,
per segment, with the delay and coverage of the labels, in a row DynamoDB stores as it is."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops.monitoring import bootstrap
from mlops.monitoring.assessment import VersionBaseline, problem_type_of
from mlops.monitoring.join import join_hour
from mlops.monitoring.joined import combine
from mlops.monitoring.label_store import LabelBatch
from mlops.monitoring.performance import ProblemType
from mlops.monitoring.performance_record import OTHER, PerformanceAssessment, PerformanceSummary
from mlops.registry.versions import ModelVersion
from tests.unit.monitoring.performance_support import (
    BENIGN_MALIGNANT,
    HOUR_MS,
    SEED,
    assess,
    cancer_answers,
    labelled_window,
    named,
    served,
)

ROOT = Path(__file__).resolve().parents[3]


def _figures(assessment: PerformanceAssessment, version: int = 1, variant: str = "champion") -> dict[str, Any]:
    [found] = [v for v in assessment.variants() if v.version == version and v.variant == variant]
    return {m.name: m for m in found.metrics}


# ---------------------------------------------------------------------------------- the figures


def test_a_classifiers_figures_are_scikit_learns_with_its_classes_named_as_served() -> None:
    y, predicted, proba, _ = cancer_answers()
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    figures = _figures(assess(window))
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro"),
        "log_loss": log_loss(y, proba),
        "brier": brier_score_loss(y, proba[:, 1]),
        "roc_auc": roc_auc_score(y, proba[:, 1]),
    }
    assert {name: figures[name].value for name in expected} == pytest.approx(expected, abs=1e-9, rel=1e-9)
    for figure in figures.values():  # each with its interval around it
        assert figure.low is not None and figure.high is not None and figure.low <= figure.value <= figure.high


def test_a_multiclass_models_figures_are_scikit_learns() -> None:
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=2, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_train, y_train)
    proba = served(model.predict_proba(x_test))
    predicted = proba.argmax(axis=1)
    classes = ["barolo", "grignolino", "barbera"]
    window = labelled_window(named(y_test, classes), named(predicted, classes), proba, classes=classes)
    figures = _figures(assess(window, "multiclass"))
    assert figures["accuracy"].value == pytest.approx(accuracy_score(y_test, predicted), abs=1e-9)
    assert figures["f1_macro"].value == pytest.approx(f1_score(y_test, predicted, average="macro"), abs=1e-9)
    auc = roc_auc_score(y_test, proba, multi_class="ovr", average="macro")
    assert figures["roc_auc"].value == pytest.approx(auc, abs=1e-9)
    assert figures["log_loss"].value == pytest.approx(log_loss(y_test, proba), abs=1e-9)


def test_a_regressors_figures_are_scikit_learns_beside_its_test_split() -> None:
    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x[:250], y[:250])
    predicted = model.predict(x[250:])
    test_split = {"rmse": 53.0, "mae": 43.0, "r2": 0.5}
    assessment = assess(
        labelled_window(y[250:], predicted, None), "regression", versions={1: VersionBaseline(1, test_split)}
    )
    figures = _figures(assessment)
    expected = {
        "rmse": mean_squared_error(y[250:], predicted) ** 0.5,
        "mae": mean_absolute_error(y[250:], predicted),
        "r2": r2_score(y[250:], predicted),
    }
    assert {name: figures[name].value for name in expected} == pytest.approx(expected, abs=1e-9, rel=1e-9)
    for name, before in test_split.items():
        assert figures[name].test == before
        assert figures[name].difference == pytest.approx(expected[name] - before)
    assert assessment.variants()[0].calibration is None, "no calibration for a regressor"


def test_the_problem_type_follows_from_what_the_model_answers() -> None:
    assert problem_type_of(None) == "regression"
    assert problem_type_of(BENIGN_MALIGNANT) == "binary"
    assert problem_type_of(["barolo", "grignolino", "barbera"]) == "multiclass"


def test_the_test_split_figures_come_from_the_versions_registry_record() -> None:
    record = ModelVersion.from_item(
        {
            "model": "cancer",
            "version": Decimal(3),
            "status": "registered",
            "metrics": {"roc_auc": Decimal("0.991"), "accuracy": Decimal(1), "note": "held out"},
        }
    )
    assert VersionBaseline.from_version(record) == VersionBaseline(3, {"roc_auc": 0.991, "accuracy": 1.0})


@pytest.mark.parametrize("problem", ["binary", "regression"])
def test_the_interval_covers_the_true_figure_about_as_often_as_it_says(problem: ProblemType) -> None:
    """The population: a model's answers on held-out real data, with the figure on all of it; 100
    seeded samples of 150 labelled rows, each checked with a 90 % interval."""
    if problem == "binary":
        y, predicted, proba, _ = cancer_answers(columns=[0, 1])  # two features: an honest model, AUC about 0.96
        classes: list[str] | None = BENIGN_MALIGNANT
        labels, answers = named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT)
    else:
        x, y = load_diabetes(return_X_y=True)
        predicted = LinearRegression().fit(x[:200], y[:200]).predict(x[200:])
        y, proba, classes, labels, answers = y[200:], None, None, y[200:], predicted
    truth = _figures(assess(labelled_window(labels, answers, proba, classes=classes), problem, resamples=1))
    rng = np.random.default_rng(SEED)
    covered = dict.fromkeys(truth, 0)
    trials = 100
    for trial in range(trials):
        rows = rng.integers(0, len(labels), 150)
        sample = labelled_window(
            labels[rows], answers[rows], proba[rows] if proba is not None else None, classes=classes
        )
        assessment = assess(sample, problem, config={"confidence": 0.9}, seed=trial)
        for name, figure in _figures(assessment).items():
            covered[name] += figure.low <= truth[name].value <= figure.high
    assert min(covered.values()) >= 0.8 * trials, covered
    assert max(covered.values()) <= trials, covered


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others() -> None:
    y, predicted, proba, _ = cancer_answers()
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    first, again, other = assess(window, seed=1), assess(window, seed=1), assess(window, seed=2)
    assert first == again
    assert _figures(first)["log_loss"].low != _figures(other)["log_loss"].low


def test_many_labelled_rows_are_bootstrapped_on_a_subsample_with_the_spread_scaled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More rows than the budget allows (here shrunk to 4M cells, 10,000 rows per resample for 400
    resamples; 20M in production): resamples of a subsample, their spread scaled by sqrt(1/3). The
    accuracy's interval is then about as wide as the binomial one, p ± 1.645 sqrt(p (1 - p) / n) at 90 %."""
    monkeypatch.setattr(bootstrap, "CELL_BUDGET", 4_000_000)
    rng = np.random.default_rng(SEED)
    n = 30_000
    y = rng.integers(0, 2, n)
    right = rng.random(n) < 0.8
    predicted = np.where(right, y, 1 - y)
    confidence = np.where(right, 0.8, 0.2)
    proba = np.c_[1 - np.where(y == 1, confidence, 1 - confidence), np.where(y == 1, confidence, 1 - confidence)]
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    assessment = assess(window, config={"confidence": 0.9}, resamples=400)
    [variant] = assessment.variants()
    assert (variant.resamples, variant.resample_rows) == (400, 10_000)
    accuracy = variant.metric("accuracy")
    assert accuracy is not None and accuracy.value is not None
    assert accuracy.low is not None and accuracy.high is not None
    half_width = 1.645 * (accuracy.value * (1 - accuracy.value) / n) ** 0.5
    assert (accuracy.high - accuracy.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert "m-out-of-n" in assessment.method


# ---------------------------------------------------------------------------------- the status


def test_a_version_past_a_floor_or_a_ceiling_is_below_floor_and_one_within_them_ok() -> None:
    y, predicted, proba, _ = cancer_answers()
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    accuracy = accuracy_score(y, predicted)
    within = assess(window, config={"floor": {"accuracy": accuracy - 0.05, "log_loss": 1.0}})
    assert within.status == "ok" and within.versions[0].status == "ok" and not within.below_floor()
    below = assess(window, config={"floor": {"accuracy": accuracy + 0.01}})
    [variant] = below.below_floor()
    assert below.status == "below_floor" and below.versions[0].status == "below_floor"
    assert variant.message == (
        f"v1 (champion), {len(y)} labelled rows: accuracy {accuracy:.4g} below the floor {accuracy + 0.01:.4g}"
    )
    ceiling = assess(window, config={"floor": {"log_loss": 0.01}})  # a loss: the floor is a ceiling
    assert ceiling.status == "below_floor" and _figures(ceiling)["log_loss"].past_floor
    assert "log_loss" in ceiling.message and "above the ceiling 0.01" in ceiling.message
    assert ceiling.summary().variants[0].past_floor == ["log_loss"]


def test_too_few_labels_is_insufficient_labels_and_never_below_floor() -> None:
    y, predicted, proba, _ = cancer_answers()
    rows = slice(0, 20)
    window = labelled_window(
        named(y[rows], BENIGN_MALIGNANT),
        named(predicted[rows], BENIGN_MALIGNANT),
        proba[rows],
        classes=BENIGN_MALIGNANT,
        predicted={1: 500},
    )
    assessment = assess(window, config={"floor": {"accuracy": 0.999}, "min_labels": 100})
    assert assessment.status == "insufficient_labels" and assessment.below_floor() == []
    [version] = assessment.versions
    assert version.status == "insufficient_labels" and version.coverage == pytest.approx(20 / 500)
    assert "20 labelled rows, 100 needed" in version.variants[0].message
    nothing = assess(None)
    assert (nothing.status, nothing.labelled, nothing.versions) == ("insufficient_labels", 0, [])


def test_champion_challenger_and_shadow_rows_are_scored_apart_with_coverage_per_version() -> None:
    y, predicted, proba, _ = cancer_answers()
    n = len(y)
    versions = np.where(np.arange(n) % 3 == 0, 2, 1)
    variants = np.where(versions == 2, "challenger", "champion")
    variants[:30] = np.where(versions[:30] == 1, "shadow", "challenger")  # v1 also answered as a shadow
    window = labelled_window(
        named(y, BENIGN_MALIGNANT),
        named(predicted, BENIGN_MALIGNANT),
        proba,
        classes=BENIGN_MALIGNANT,
        versions=versions,
        variants=variants,
        predicted={1: 1000, 2: 500, 3: 40},
    )
    assessment = assess(window, config={"min_labels": 10})
    assert [(v.version, v.variant) for v in assessment.variants()] == [
        (1, "champion"),
        (1, "shadow"),
        (2, "challenger"),
    ]
    for variant in assessment.variants():
        rows = (versions == variant.version) & (variants == variant.variant)
        assert variant.labelled == rows.sum()
        assert variant.metric("accuracy").value == pytest.approx(accuracy_score(y[rows], predicted[rows]))  # type: ignore[union-attr]
    coverage = {v.version: (v.labelled, v.predicted, v.coverage) for v in assessment.versions}
    first = int((versions == 1).sum())
    assert coverage[1] == (first, 1000, first / 1000)
    assert coverage[3] == (0, 40, 0.0), "a version that answered with no label yet is reported"
    assert assessment.versions[2].status == "insufficient_labels"


def test_labels_outside_the_classes_are_left_out_and_counted() -> None:
    y, predicted, proba, _ = cancer_answers()
    labels = named(y, BENIGN_MALIGNANT)
    labels[:5] = "unsure"
    assessment = assess(labelled_window(labels, named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT))
    assert (assessment.labelled, assessment.unscored) == (len(y) - 5, 5)
    assert _figures(assessment)["accuracy"].value == pytest.approx(accuracy_score(y[5:], predicted[5:]))
    assert any("5 labelled rows left out" in note for note in assessment.notes)


def test_a_floor_the_problem_type_lacks_is_named_in_the_notes() -> None:
    y, predicted, proba, _ = cancer_answers()
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    assessment = assess(window, config={"floor": {"rmse": 3.0}})
    assert assessment.status == "ok" and "floor on rmse ignored: a binary model has no rmse" in assessment.notes


# ----------------------------------------------------------------- segments, calibration, labels


def test_segments_split_a_categorical_field_top_ten_and_other_and_a_numeric_one_by_quartiles() -> None:
    y, predicted, proba, x = cancer_answers()
    n = len(y)
    rng = np.random.default_rng(SEED)
    city = np.array([f"city{i:02d}" for i in range(13)])[rng.integers(0, 13, n)]
    missing = rng.random(n) < 0.05
    radius = x[:, 0].copy()
    radius[:7] = np.nan
    window = labelled_window(
        named(y, BENIGN_MALIGNANT),
        named(predicted, BENIGN_MALIGNANT),
        proba,
        classes=BENIGN_MALIGNANT,
        inputs={"city": np.where(missing, "", city), "radius": radius},
        missing={"city": missing},
    )
    assessment = assess(window, config={"segments": ["city", "radius", "absent"]})
    fields = {f.name: f for f in assessment.segment_fields}
    assert len(fields["city"].segments) == 12 and fields["city"].segments[-2:] == [OTHER, "(missing)"]
    assert fields["radius"].edges == pytest.approx(list(np.quantile(radius[7:], [0, 0.25, 0.5, 0.75, 1])))
    assert fields["absent"].note == "not among the captured inputs"
    segments = _variant_segments(assessment)
    for field in ("city", "radius"):
        assert sum(s.rows for s in segments if s.field == field) == n, "every row in one segment"
    top = fields["city"].segments[0]
    inside = (city == top) & ~missing
    [segment] = [s for s in segments if s.field == "city" and s.value == top]
    assert segment.rows == inside.sum() == max((city[~missing] == c).sum() for c in set(city)), "the most frequent"
    assert segment.metrics["accuracy"] == pytest.approx(accuracy_score(y[inside], predicted[inside]), abs=1e-9)
    quartile_rows = [s.rows for s in segments if s.field == "radius" and s.value != "(missing)"]
    assert len(quartile_rows) == 4 and max(quartile_rows) - min(quartile_rows) <= 2
    assert next(s.rows for s in segments if s.field == "radius" and s.value == "(missing)") == 7


def _variant_segments(assessment: PerformanceAssessment) -> list[Any]:
    [variant] = assessment.variants()
    return variant.segments


def test_calibration_compares_the_predicted_classs_probability_with_how_often_it_was_right() -> None:
    """Generated so that a prediction made with probability q is right with chance q: every bin's
    observed share is near its mean probability, and the expected calibration error is small."""
    rng = np.random.default_rng(SEED)
    n = 20_000
    q = rng.uniform(0.5, 1.0, n)
    predicted = rng.integers(0, 2, n)
    y = np.where(rng.random(n) < q, predicted, 1 - predicted)
    proba = np.where(predicted[:, None] == 1, np.column_stack([1 - q, q]), np.column_stack([q, 1 - q]))
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    [variant] = assess(window, resamples=10).variants()
    calibration = variant.calibration
    assert calibration is not None and len(calibration.bins) == 10 and sum(b.rows for b in calibration.bins) == n
    assert [b.rows for b in calibration.bins[:5]] == [0] * 5, "the predicted class has probability >= 0.5"
    for calibration_bin in calibration.bins[5:]:
        assert calibration_bin.low <= calibration_bin.mean_predicted <= calibration_bin.high  # type: ignore[operator]
        assert calibration_bin.observed == pytest.approx(calibration_bin.mean_predicted, abs=0.03)
    assert calibration.error is not None and calibration.error < 0.02
    overconfident = labelled_window(
        named(y, BENIGN_MALIGNANT),
        named(predicted, BENIGN_MALIGNANT),
        np.where(predicted[:, None] == 1, np.array([[0.01, 0.99]]), np.array([[0.99, 0.01]])),
        classes=BENIGN_MALIGNANT,
    )
    [sure] = assess(overconfident, resamples=10).variants()
    assert sure.calibration is not None and sure.calibration.error == pytest.approx(0.99 - (y == predicted).mean())


def test_label_delay_is_the_median_and_90th_percentile_hours_from_answer_to_label() -> None:
    y, predicted, proba, _ = cancer_answers()
    n = len(y)
    delays = (np.arange(n) % 100 + 1) * HOUR_MS  # 1..100 hours, evenly
    window = labelled_window(
        named(y, BENIGN_MALIGNANT),
        named(predicted, BENIGN_MALIGNANT),
        proba,
        classes=BENIGN_MALIGNANT,
        delays_ms=delays,
    )
    assessment = assess(window)
    hours = delays / HOUR_MS
    assert assessment.label_delay.median_hours == pytest.approx(np.median(hours))
    assert assessment.label_delay.p90_hours == pytest.approx(np.quantile(hours, 0.9))
    assert assessment.variants()[0].label_delay == assessment.label_delay


def test_a_window_of_several_hours_is_assessed_as_one() -> None:
    y, predicted, proba, _ = cancer_answers()
    halves = [slice(0, 140), slice(140, None)]
    hours = [
        labelled_window(
            named(y[h], BENIGN_MALIGNANT), named(predicted[h], BENIGN_MALIGNANT), proba[h], classes=BENIGN_MALIGNANT
        )
        for h in halves
    ]
    window = combine(hours)
    assessment = assess(window)
    assert assessment.labelled == len(y) and assessment.versions[0].predicted == len(y)
    assert _figures(assessment)["accuracy"].value == pytest.approx(accuracy_score(y, predicted))


# ---------------------------------------------------------------------------------- the summary


def test_the_summary_holds_no_float_and_reads_back_as_it_was() -> None:
    y, predicted, proba, _ = cancer_answers()
    window = labelled_window(
        named(y, BENIGN_MALIGNANT), named(predicted, BENIGN_MALIGNANT), proba, classes=BENIGN_MALIGNANT
    )
    assessment = assess(
        window,
        config={"floor": {"accuracy": 0.9}},
        versions={1: VersionBaseline(1, {"accuracy": 0.95, "roc_auc": 0.99})},
    )
    summary = assessment.summary(report_key="reports/performance/cancer/x.json", report_page="x.html")
    attributes = summary.attributes()

    def floats(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert floats(attributes) == []
    assert attributes["variants"][0]["metrics"]["accuracy"]["test"] == Decimal("0.95")
    assert PerformanceSummary.from_item({"pk": "MODEL#cancer", "sk": "PERFORMANCE#x", **attributes}) == summary
    accuracy = summary.variants[0].metrics["accuracy"]
    assert accuracy.value == round(accuracy_score(y, predicted), 6)


def test_the_check_loads_nothing_the_inference_layer_lacks() -> None:
    """The performance function runs on the inference layer: no scikit-learn, scipy or pandas, and
    of the training package only its metric names (plain data: which way each metric is better)."""
    code = (
        "import sys; import mlops.monitoring.assessment, mlops.monitoring.performance_report;"
        "heavy = ('sklearn', 'scipy', 'pandas', 'pyarrow', 'onnxruntime', 'yaml', 'boto3');"
        "print(sorted({m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('mlops.training.')}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env=env, timeout=120)
    assert ast.literal_eval(out.stdout.decode()) == ["mlops.training.metric_names"]


@pytest.mark.parametrize("problem", ["binary", "multiclass"])
def test_labels_about_predictions_never_captured_are_counted_not_a_failed_check(problem: ProblemType) -> None:
    """A label naming a request id whose capture never landed joins into an hour with no rows and no
    classes; the check says there are too few labels and counts it unmatched (a crash here failed
    every check of the model until the hour left the window)."""
    hour = datetime(2026, 12, 3, 13, tzinfo=UTC)
    label = LabelBatch(
        model="cancer",
        hour=hour,
        request_ids=np.array(["01a24668-934e-7e4b-ae62-fff177ec0433"]),
        rows=np.array([0], dtype=np.int64),
        values=np.array(["0"]),
        received_at=hour + timedelta(hours=3),
        source="api key-1",
    )
    empty = join_hour("cancer", hour, [label], [])
    assert empty.size == 0 and empty.classes is None and empty.unmatched_labels == 1
    for window, unmatched in ((empty, 1), (combine([empty, empty]), 2)):
        checked = assess(window, problem)
        assert checked.status == "insufficient_labels" and checked.labelled == 0
        assert checked.unmatched_labels == unmatched
