"""The A/B test of a canary on outcomes: the right rows counted, the right test per metric with the
p-values and intervals scipy computes (the function itself has no scipy), a worse challenger found
at a modest label count, identical models flagged at about alpha's rate, and the labels-needed
figure borne out by simulation."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from scipy import special, stats
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss, mean_absolute_error, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlops.monitoring.ab_test import ABComparison, compare_canary, labels_for_proportions
from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour
from mlops.monitoring.performance import ProblemType, performance_metrics
from mlops.monitoring.resampling import bootstrap, weighted_auc
from mlops.monitoring.significance import (
    regularized_incomplete_beta,
    student_t_cdf,
    student_t_quantile,
    student_t_sf,
    two_proportion_test,
    welch_test,
)
from mlops.serving.rollout import key_share
from tests.unit.monitoring.ab_support import (
    CLASSES,
    accuracy_window,
    answers_window,
    regression_window,
    scored_window,
)

SEED = 20261219


def _compare(
    window: JoinedHour,
    metric: ABTestMetric | None = None,
    *,
    problem: ProblemType = "binary",
    seed: int = SEED,
    resamples: int = 1000,
    **config: Any,
) -> ABComparison:
    classes = CLASSES if problem != "regression" else None
    return compare_canary(
        window,
        champion=1,
        challenger=2,
        problem_type=problem,
        classes=window.classes or classes,
        config=ABTestConfig(metric=metric, **config),
        seed=seed,
        resamples=resamples,
    )


# -------------------------------------------------------------------- the t distribution, no scipy
@pytest.mark.parametrize("df", [1, 2.5, 7, 29.3, 120, 4_000, 250_000])
def test_the_student_t_distribution_equals_scipys(df: float) -> None:
    for t in (-40.0, -6.0, -2.1, -0.3, 0.0, 0.7, 1.96, 3.5, 12.0):
        assert student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-9, abs=1e-15)
        assert student_t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-15)
    for p in (1e-6, 0.01, 0.025, 0.3, 0.5, 0.8, 0.975, 0.995, 1 - 1e-6):
        assert student_t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_the_incomplete_beta_equals_scipys_across_its_range() -> None:
    for a in (0.5, 1.0, 3.7, 40.0, 900.0):
        for b in (0.5, 2.0, 15.0, 600.0):
            for x in (0.0, 1e-8, 0.05, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9, 1.0):
                assert regularized_incomplete_beta(a, b, x) == pytest.approx(
                    special.betainc(a, b, x), rel=1e-9, abs=1e-14
                ), (a, b, x)


# ------------------------------------------------------------- each test's figures against scipy
def test_the_two_proportion_test_matches_the_formulas_computed_with_scipy() -> None:
    for x1, n1, x2, n2 in ((56, 70, 48, 80), (180, 200, 150, 200), (9, 10, 3, 10), (50, 50, 45, 50)):
        difference, (low, high), p_value = two_proportion_test(x1, n1, x2, n2, alpha=0.05)
        pooled = (x1 + x2) / (n1 + n2)
        z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        assert p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
        # Newcombe's hybrid score interval from scipy's Wilson intervals of each proportion.
        w1 = stats.binomtest(x1, n1).proportion_ci(0.95, method="wilson")
        w2 = stats.binomtest(x2, n2).proportion_ci(0.95, method="wilson")
        p1, p2 = x1 / n1, x2 / n2
        assert difference == pytest.approx(p2 - p1)
        assert low == pytest.approx(p2 - p1 - math.hypot(p2 - w2.low, w1.high - p1), rel=1e-9)
        assert high == pytest.approx(p2 - p1 + math.hypot(w2.high - p2, p1 - w1.low), rel=1e-9)
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 - 48/80 by
    # method 10 is 0.0524 to 0.3339.
    difference, (low, high), _ = two_proportion_test(48, 80, 56, 70, alpha=0.05)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_welchs_test_on_absolute_errors_is_scipys() -> None:
    window = regression_window(np.random.default_rng(SEED), (120, 90), (4.0, 5.5))
    result = _compare(window, "mae", problem="regression")
    champion = np.abs(window.labels[:120] - window.predictions[:120])
    challenger = np.abs(window.labels[120:] - window.predictions[120:])
    expected = stats.ttest_ind(challenger, champion, equal_var=False)
    interval = expected.confidence_interval(0.95)
    assert result.test == "welch_t" and result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.champion.value == pytest.approx(mean_absolute_error(window.labels[:120], window.predictions[:120]))
    # mae: lower is better, so the effect is champion minus challenger and the interval flips.
    assert result.difference == pytest.approx(challenger.mean() - champion.mean())
    assert result.effect == pytest.approx(-(challenger.mean() - champion.mean()))
    assert result.interval == pytest.approx((-interval.high, -interval.low), rel=1e-9)


def test_rmse_tests_the_squared_errors_and_reports_the_rmse_difference() -> None:
    window = regression_window(np.random.default_rng(SEED), (200, 200), (4.0, 6.0))
    result = _compare(window, "rmse", problem="regression")
    squared = (window.labels - window.predictions) ** 2
    expected = stats.ttest_ind(squared[200:], squared[:200], equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    rmse = (math.sqrt(squared[:200].mean()), math.sqrt(squared[200:].mean()))
    assert (result.champion.value, result.challenger.value) == pytest.approx(rmse)
    assert result.effect == pytest.approx(rmse[0] - rmse[1]) and result.verdict == "challenger_worse"
    assert result.effect is not None and result.interval is not None
    assert result.interval[0] < result.effect < result.interval[1] < 0
    # The delta method's interval is about a bootstrap's of the RMSE difference.
    rng = np.random.default_rng(SEED)
    draws = [rng.integers(0, 200, (4000, 200)) for _ in range(2)]
    replicates = np.sqrt(squared[:200][draws[0]].mean(axis=1)) - np.sqrt(squared[200:][draws[1]].mean(axis=1))
    assert result.interval == pytest.approx(tuple(np.quantile(replicates, [0.025, 0.975])), rel=0.1)


def test_welch_without_variation_decides_on_the_difference_alone() -> None:
    same = welch_test(np.ones(5), np.ones(7), alpha=0.05)
    apart = welch_test(np.ones(5), np.full(7, 2.0), alpha=0.05)
    assert same[2] == 1.0 and apart[2] == 0.0 and apart[1] == (1.0, 1.0)


# ---------------------------------------------------------------------------- which rows count
def test_only_the_rows_each_version_answered_count_not_the_shadows() -> None:
    rng = np.random.default_rng(SEED)
    window = accuracy_window(rng, champion=(300, 0.9), challenger=(80, 0.9), shadow=500)
    result = _compare(window)
    assert (result.champion.labels, result.challenger.labels) == (300, 80)
    # The challenger version's shadow rows were all right; counted, they would lift it to ~0.98.
    assert result.challenger.value == pytest.approx(
        float(np.mean(window.predictions[300:380] == window.labels[300:380]))
    )
    # Rows of another version under the champion variant (before a promotion) are not the champion's.
    other = compare_canary(
        window, champion=7, challenger=2, problem_type="binary", classes=CLASSES, config=ABTestConfig(), seed=1
    )
    assert other.champion.labels == 0 and other.verdict == "insufficient_labels" and other.p_value is None


def test_rows_answered_before_the_canary_started_are_left_out() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(300, 0.9), challenger=(100, 0.9))
    result = compare_canary(
        window,
        champion=1,
        challenger=2,
        problem_type="binary",
        classes=CLASSES,
        config=ABTestConfig(),
        seed=1,
        since_ms=250,  # answered_ms counts rows in order: 50 champion rows and every challenger row after it
    )
    assert (result.champion.labels, result.challenger.labels) == (50, 100)


def test_too_few_labels_on_either_side_is_no_decision_however_large_the_gap() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(400, 0.95), challenger=(30, 0.3))
    result = _compare(window, min_labels=50)
    assert result.verdict == "insufficient_labels" and not result.decided
    assert result.p_value is not None and result.p_value < 1e-6  # the figures are reported all the same
    assert "challenger has 30 labelled rows" in result.reason and "each needs 50" in result.reason
    # To detect 0.02 with power 0.8 takes far more than the minimum: that is what is still needed.
    assert result.labels_needed is not None and result.labels_needed > 1000
    assert result.challenger.still_needed == result.labels_needed - 30


# -------------------------------------------------------------------------- deciding, and not
def test_a_challenger_ten_points_worse_in_accuracy_is_found_worse_at_a_modest_label_count() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(300, 0.9), challenger=(300, 0.8))
    result = _compare(window)
    assert result.verdict == "challenger_worse" and result.test == "two_proportion_z"
    assert result.effect is not None and result.interval is not None and result.p_value is not None
    assert -0.16 < result.effect < -0.04 and result.interval[1] < 0 and result.p_value < 0.05
    found = [
        _compare(accuracy_window(np.random.default_rng(seed), champion=(300, 0.9), challenger=(300, 0.8))).verdict
        for seed in range(100)
    ]
    assert found.count("challenger_worse") >= 85 and "challenger_better" not in found  # power about 0.93


def test_a_better_challenger_is_found_better_with_the_effect_positive() -> None:
    window = regression_window(np.random.default_rng(SEED), (250, 250), (6.0, 4.0))
    result = _compare(window, "mae", problem="regression")
    assert result.verdict == "challenger_better" and result.effect is not None and result.effect > 0
    assert result.difference is not None and result.difference < 0  # its errors are smaller


@pytest.mark.parametrize(
    ("metric", "make"),
    [
        ("accuracy", lambda rng: accuracy_window(rng, champion=(250, 0.85), challenger=(150, 0.85))),
        ("mae", lambda rng: regression_window(rng, (250, 150), (5.0, 5.0))),
        ("roc_auc", lambda rng: scored_window(rng, (250, 150), (2.0, 2.0))),
        ("log_loss", lambda rng: scored_window(rng, (250, 150), (2.0, 2.0))),
    ],
)
def test_identical_models_are_flagged_at_about_alphas_rate(metric: ABTestMetric, make: Any) -> None:
    problem: ProblemType = "regression" if metric == "mae" else "binary"
    verdicts = [
        _compare(make(np.random.default_rng(seed)), metric, problem=problem, seed=seed, resamples=500).verdict
        for seed in range(200)
    ]
    decided = sum(v in ("challenger_better", "challenger_worse") for v in verdicts)
    # alpha 0.05: 10 of 200 expected; the binomial's 99.9 % range is about 2 to 22.
    assert 1 <= decided <= 22, decided
    assert verdicts.count("no_difference_yet") == 200 - decided


# ---------------------------------------------------------------------------- labels needed
def test_the_labels_needed_for_two_proportions_give_the_power_asked_for() -> None:
    config = ABTestConfig(min_effect=0.05, alpha=0.05, power=0.8)
    n = labels_for_proportions(0.9, config)
    assert 650 < n < 720  # 0.90 against 0.85: 686 by Fleiss's formula
    rng = np.random.default_rng(SEED)
    found = 0
    simulations = 2000
    for x1, x2 in zip(rng.binomial(n, 0.9, simulations), rng.binomial(n, 0.85, simulations), strict=True):
        found += two_proportion_test(float(x1), n, float(x2), n, alpha=0.05)[2] < 0.05
    assert found / simulations == pytest.approx(0.8, abs=0.035)


def test_the_labels_needed_for_two_means_give_the_power_asked_for() -> None:
    rng = np.random.default_rng(SEED)
    # Absolute errors of normal noise: the challenger's mae is 0.5 worse with noise of scale
    # 5 + 0.5 sqrt(pi / 2). The formula reads the variances from the rows so far (a large pilot here).
    worse = 5.0 + 0.5 * math.sqrt(math.pi / 2)
    pilot = regression_window(rng, (2000, 2000), (5.0, worse))
    result = _compare(pilot, "mae", problem="regression", min_effect=0.5)
    assert result.labels_needed is not None and result.labels_needed_method == "closed form"
    n = result.labels_needed
    found = sum(
        welch_test(np.abs(rng.normal(0, 5.0, n)), np.abs(rng.normal(0, worse, n)), alpha=0.05)[2] < 0.05
        for _ in range(1000)
    )
    assert found / 1000 == pytest.approx(0.8, abs=0.045)


def test_the_bootstraps_labels_needed_approximation_agrees_with_the_closed_form_for_a_mean() -> None:
    window = scored_window(np.random.default_rng(SEED), (400, 300), (2.0, 1.5))
    result = _compare(window, "log_loss", resamples=2000, min_effect=0.05)
    clipped = np.clip(window.probabilities[np.arange(700), (window.labels == CLASSES[1]).astype(int)], 1e-16, 1)  # type: ignore[index]
    losses = -np.log(clipped.astype(np.float64))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    closed = z**2 * (losses[:400].var(ddof=1) + losses[400:].var(ddof=1)) / 0.05**2
    assert result.labels_needed_method.startswith("approximation") and result.labels_needed is not None
    assert result.labels_needed == pytest.approx(closed, rel=0.15)
    assert result.challenger.still_needed == max(0, result.labels_needed - 300)


# -------------------------------------------------------------------- the bootstrap's metrics
def test_weighted_auc_is_the_auc_of_the_rows_repeated() -> None:
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300), 1)  # many ties
    proba = np.c_[1 - score, score]
    draws = rng.integers(0, 300, size=(5, 300))
    counts = np.stack([np.bincount(d, minlength=300) for d in draws]).astype(float)
    expected = [roc_auc_score(y[d], score[d]) for d in draws]
    assert weighted_auc(y, proba, counts) == pytest.approx(expected, rel=1e-12)
    k3 = rng.dirichlet(np.ones(3), 200)
    y3 = rng.integers(0, 3, 200)
    assert weighted_auc(y3, k3, np.ones((1, 200)))[0] == pytest.approx(roc_auc_score(y3, k3, multi_class="ovr"))


def test_the_bootstrap_is_seeded_and_chunked_without_changing_its_answer() -> None:
    losses = np.random.default_rng(SEED).exponential(size=50_000)
    first = bootstrap(losses.size, lambda w: w @ losses / losses.size, np.random.default_rng(3), 200)
    again = bootstrap(losses.size, lambda w: w @ losses / losses.size, np.random.default_rng(3), 200)
    assert first.shape == (200,) and np.array_equal(first, again)
    assert first.std() == pytest.approx(losses.std() / math.sqrt(losses.size), rel=0.15)


def test_roc_auc_and_log_loss_figures_are_the_performance_checks() -> None:
    window = scored_window(np.random.default_rng(SEED), (300, 200), (2.5, 1.0))
    for metric in ("roc_auc", "log_loss"):
        result = _compare(window, metric)  # type: ignore[arg-type]
        assert result.test == "bootstrap" and result.resamples == 1000
        for side, rows in ((result.champion, slice(0, 300)), (result.challenger, slice(300, 500))):
            y = (window.labels[rows] == CLASSES[1]).astype(np.int64)
            predicted = (window.predictions[rows] == CLASSES[1]).astype(np.int64)
            expected = performance_metrics("binary", y, predicted, window.probabilities[rows], 2)  # type: ignore[index]
            assert side.value == pytest.approx(expected[metric], rel=1e-9)
        assert result.verdict == "challenger_worse" and result.interval is not None and result.interval[1] < 0
    assert _compare(window, "roc_auc").as_dict() == _compare(window, "roc_auc").as_dict()  # seeded


def test_an_auc_undefined_on_one_side_is_no_decision_not_an_error() -> None:
    window = scored_window(np.random.default_rng(SEED), (100, 100), (2.0, 2.0))
    labels = window.labels.copy()
    labels[100:] = CLASSES[0]  # the challenger's labelled rows are all one class
    result = _compare(
        answers_window(
            window.variants, window.versions, window.predictions, labels, window.probabilities, classes=CLASSES
        ),
        "roc_auc",
    )
    assert result.verdict == "insufficient_labels" and result.challenger.value is None
    assert "undefined" in result.reason


def test_a_metric_the_problem_does_not_have_is_refused_by_name() -> None:
    window = regression_window(np.random.default_rng(SEED), (60, 60), (1.0, 1.0))
    with pytest.raises(ValueError, match="'accuracy' does not apply to a regression"):
        _compare(window, "accuracy", problem="regression")
    labelled = accuracy_window(np.random.default_rng(SEED), champion=(60, 0.9), challenger=(60, 0.9))
    with pytest.raises(ValueError, match="needs the predictions' probabilities"):
        _compare(labelled, "log_loss")


# ------------------------------------------------------------------------------- the records
def test_the_summary_is_dynamodb_safe_and_the_dict_is_json() -> None:
    window = scored_window(np.random.default_rng(SEED), (300, 200), (2.5, 1.0))
    result = _compare(window, "roc_auc")
    summary = result.as_summary()

    def floats(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert floats(summary) == [] and isinstance(summary["p_value"], Decimal)
    assert summary["champion"]["labels"] == 300 and summary["verdict"] == "challenger_worse"
    assert json.loads(json.dumps(result.as_dict()))["interval"] == list(result.interval or ())
    assert "roc_auc of challenger v2" in result.text() and "p = " in result.text()


# ------------------------------------------------------------------------------- on real data
def _split_by_canary(weight: float, rows: int, seed: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which of `rows` requests the canary answers: serving's sticky assignment of a request key."""
    return np.array([key_share(f"patient-{seed}-{i}") < weight for i in range(rows)])


def _real_window(champion: tuple[Any, Any], challenger: tuple[Any, Any], y: Any, to_canary: Any) -> JoinedHour:
    """Each request answered by one model, as the canary split it: (predictions, probabilities) each."""
    names = np.array(CLASSES)
    predictions = np.where(to_canary, challenger[0], champion[0])
    proba = np.where(to_canary[:, None], challenger[1], champion[1])
    return answers_window(
        np.where(to_canary, "challenger", "champion"),
        np.where(to_canary, 2, 1),
        names[predictions],
        names[y],
        proba,
        classes=CLASSES,
    )


def test_on_breast_cancer_a_weak_canary_is_found_worse_and_a_strong_one_better() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    y = 1 - y  # scikit-learn's 1 is benign; CLASSES[1] is malignant
    strong = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    stump = DecisionTreeClassifier(max_depth=1, random_state=0)
    answers = {}
    for name, model in (("strong", strong), ("stump", stump)):
        proba = cross_val_predict(model, x, y, cv=5, method="predict_proba")  # each row answered unseen
        answers[name] = (proba.argmax(axis=1), proba)
    to_canary = _split_by_canary(0.4, y.size, SEED)
    worse = _real_window(answers["strong"], answers["stump"], y, to_canary)
    for metric in ("accuracy", "roc_auc"):
        result = _compare(worse, metric)  # type: ignore[arg-type]
        assert result.verdict == "challenger_worse", result.text()
        canary = to_canary
        expected = (
            roc_auc_score(y[canary], answers["stump"][1][canary, 1])
            if metric == "roc_auc"
            else float(np.mean(answers["stump"][0][canary] == y[canary]))
        )
        assert result.challenger.value == pytest.approx(expected)
    better = _real_window(answers["stump"], answers["strong"], y, to_canary)
    assert _compare(better).verdict == "challenger_better"
    assert _compare(better, "log_loss").challenger.value == pytest.approx(
        log_loss(y[to_canary], answers["strong"][1][to_canary])
    )


def test_on_wine_the_multiclass_auc_of_each_side_is_scikit_learns() -> None:
    x, y = load_wine(return_X_y=True)
    classes = ["barolo", "grignolino", "barbera"]
    proba = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), x, y, cv=5, method="predict_proba"
    )
    to_canary = _split_by_canary(0.5, y.size, SEED)
    names = np.array(classes)
    window = answers_window(
        np.where(to_canary, "challenger", "champion"),
        np.where(to_canary, 2, 1),
        names[proba.argmax(axis=1)],
        names[y],
        proba,
        classes=classes,
    )
    result = compare_canary(
        window,
        champion=1,
        challenger=2,
        problem_type="multiclass",
        classes=classes,
        config=ABTestConfig(metric="roc_auc"),
        seed=1,
    )
    assert result.champion.value == pytest.approx(roc_auc_score(y[~to_canary], proba[~to_canary], multi_class="ovr"))
    assert result.verdict in ("no_difference_yet", "insufficient_labels")  # the same model on both sides


def test_on_diabetes_a_regression_canary_is_compared_on_absolute_errors() -> None:
    x, y = load_diabetes(return_X_y=True)
    good = cross_val_predict(LinearRegression(), x, y, cv=5)
    weak = cross_val_predict(LinearRegression(), x[:, :1], y, cv=5)  # age alone
    to_canary = _split_by_canary(0.5, y.size, SEED)
    window = answers_window(
        np.where(to_canary, "challenger", "champion"), np.where(to_canary, 2, 1), np.where(to_canary, weak, good), y
    )
    result = _compare(window, problem="regression")
    assert result.metric == "mae" and result.verdict == "challenger_worse"
    assert result.challenger.value == pytest.approx(mean_absolute_error(y[to_canary], weak[to_canary]))
