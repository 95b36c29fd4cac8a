"""The A/B test of a canary on outcomes: the right rows counted, the right test per metric with the
p-values and intervals scipy computes (the function itself has no scipy), a decision only at the
planned size and always on the same rows there, a worse challenger found about as often as the
plan's power says, identical models flagged at about alpha's rate, and the planned size's power
borne out by simulation."""

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

from mlops.monitoring.ab_test import ABComparison, VariantOutcome, compare_canary
from mlops.monitoring.config import ABTestConfig, ABTestMetric
from mlops.monitoring.joined import JoinedHour, select
from mlops.monitoring.performance import ProblemType, performance_metrics
from mlops.monitoring.resampling import bootstrap, weighted_auc
from mlops.monitoring.sample_size import (
    labels_for_means,
    labels_for_proportions,
    power_for_means,
    power_for_proportions,
)
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


def _tested(side: VariantOutcome, values: Any) -> Any:
    """The side's values the comparison's figures are on, from all of that side's rows in label order."""
    return values[side.tested_from : side.tested_from + side.tested]


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
    assert result.verdict == "collecting"  # its figures are on every row so far, for information
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
    window = regression_window(np.random.default_rng(SEED), (250, 200), (4.0, 6.0))
    # Planned at the cap, 200 per side: the champion's rows 51 to 250 against the challenger's 200.
    result = _compare(window, "rmse", problem="regression", max_labels=200)
    assert result.plan is not None and result.plan.capped and result.plan.labels == 200
    squared = (window.labels - window.predictions) ** 2
    champion, challenger = squared[50:250], squared[250:]
    expected = stats.ttest_ind(challenger, champion, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    rmse = (math.sqrt(champion.mean()), math.sqrt(challenger.mean()))
    assert (result.champion.value, result.challenger.value) == pytest.approx(rmse)
    assert result.effect == pytest.approx(rmse[0] - rmse[1]) and result.verdict == "challenger_worse"
    assert result.effect is not None and result.interval is not None
    assert result.interval[0] < result.effect < result.interval[1] < 0
    # The delta method's interval is about a bootstrap's of the RMSE difference.
    rng = np.random.default_rng(SEED)
    draws = [rng.integers(0, 200, (4000, 200)) for _ in range(2)]
    replicates = np.sqrt(champion[draws[0]].mean(axis=1)) - np.sqrt(challenger[draws[1]].mean(axis=1))
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
    window = accuracy_window(np.random.default_rng(SEED), champion=(400, 0.9), challenger=(30, 0.3))
    result = _compare(window, min_labels=50)
    assert result.verdict == "insufficient_labels" and not result.decided and not result.final
    assert result.p_value is not None and result.p_value < 1e-6  # the figures are reported all the same
    assert "challenger has 30 labelled rows" in result.reason and "each needs 50" in result.reason
    # To detect 0.02 with power 0.8 takes far more than the minimum: that is what is still needed.
    assert result.plan is not None and result.plan.labels > 1000
    assert result.challenger.still_needed == result.plan.labels - 30
    assert result.champion.still_needed == result.plan.labels + 50 - 400  # after its 50 baseline rows
    # The champion short of its minimum: no plan yet, so nothing known still needed.
    early = _compare(accuracy_window(np.random.default_rng(SEED), champion=(40, 0.9), challenger=(300, 0.3)))
    assert early.verdict == "insufficient_labels" and early.plan is None
    assert early.champion.still_needed is None and "champion's first 50" in early.reason


# -------------------------------------------------------------------------- deciding, and not
def test_a_challenger_ten_points_worse_is_found_worse_about_as_often_as_the_plan_says() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(500, 0.9), challenger=(400, 0.8))
    result = _compare(window, min_effect=0.1)
    assert result.verdict == "challenger_worse" and result.test == "two_proportion_z" and result.decided
    assert result.effect is not None and result.interval is not None and result.p_value is not None
    assert -0.2 < result.effect < -0.04 and result.interval[1] < 0 and result.p_value < 0.05
    # About 200 rows per side detect 0.9 against 0.8 with power 0.8 (Fleiss: 199).
    assert result.plan is not None and 120 < result.plan.labels < 300 and result.challenger.tested == result.plan.labels
    results = [
        _compare(
            accuracy_window(np.random.default_rng(seed), champion=(500, 0.9), challenger=(400, 0.8)), min_effect=0.1
        )
        for seed in range(200)
    ]
    found = sum(r.verdict == "challenger_worse" for r in results)
    # Each plan comes from 50 champion rows, so its power varies around 0.8; on average it is borne out.
    expected = sum(r.plan.power or 0 for r in results if r.plan)
    assert abs(found - expected) < 3 * math.sqrt(expected * (1 - expected / 200)), (found, expected)
    assert all(r.final for r in results) and not any(r.verdict == "challenger_better" for r in results)


def test_a_better_challenger_is_found_better_with_the_effect_positive() -> None:
    window = regression_window(np.random.default_rng(SEED), (250, 250), (6.0, 4.0))
    result = _compare(window, "mae", problem="regression", min_effect=1.5)
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
        _compare(
            make(np.random.default_rng(seed)), metric, problem=problem, seed=seed, resamples=500, max_labels=100
        ).verdict
        for seed in range(200)
    ]
    decided = sum(v in ("challenger_better", "challenger_worse") for v in verdicts)
    # alpha 0.05: 10 of 200 expected; the binomial's 99.9 % range is about 2 to 22.
    assert 1 <= decided <= 22, decided
    assert verdicts.count("no_difference") == 200 - decided  # each one decided, at its plan


# ---------------------------------------------------------------------- one decision, at the plan
def _interleaved(window: JoinedHour, seed: int, label_delay: float = 0.0) -> JoinedHour:
    """The window's rows answered in a random interleaving of the two sides, one a millisecond, each
    labelled after an exponential delay of mean `label_delay` (0: at once, in answer order)."""
    rng = np.random.default_rng(seed)
    answered = rng.permutation(window.size).astype(np.int64)
    delay = rng.exponential(label_delay, window.size) if label_delay else np.zeros(window.size)
    return answers_window(
        window.variants,
        window.versions,
        window.predictions,
        window.labels,
        window.probabilities,
        classes=window.classes,
        answered_ms=answered,
        labelled_ms=answered + np.round(delay).astype(np.int64),
    )


def _reordered(window: JoinedHour, order: np.ndarray[Any, np.dtype[np.int64]]) -> JoinedHour:
    """The same rows (ids, answer times and all) stored in another order, as combined hours may be."""
    return JoinedHour(
        **{
            **window.__dict__,
            **{
                name: getattr(window, name)[order]
                for name in ("request_ids", "rows", "versions", "variants", "predictions", "labels")
            },
            "probabilities": None if window.probabilities is None else window.probabilities[order],
            "answered_ms": window.answered_ms[order],
            "labelled_ms": window.labelled_ms[order],
        }
    )


def test_before_the_plan_even_a_huge_gap_is_only_reported_with_what_is_still_needed() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(1000, 0.9), challenger=(150, 0.5))
    result = _compare(window, min_effect=0.1)
    assert result.verdict == "collecting" and not result.decided and not result.final
    assert result.p_value is not None and result.p_value < 1e-12  # information only
    assert result.plan is not None and result.plan.labels > 150
    assert result.challenger.still_needed == result.plan.labels - 150 and result.champion.still_needed == 0
    assert result.challenger.tested == 150 and "information only" in result.reason
    assert f"decision is at {result.plan.labels} per variant" in result.reason


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc", "mae"])
def test_every_check_after_the_plan_computes_the_same_test(metric: ABTestMetric) -> None:
    rng = np.random.default_rng(SEED)
    if metric == "mae":
        window = regression_window(rng, (900, 600), (5.0, 5.5))
    else:
        window = scored_window(rng, (900, 600), (2.0, 1.6))
    # Labels arrive late and out of order: a mean delay of 300 rows' time, the plan about 200 per side.
    window = _interleaved(window, SEED, label_delay=300)
    problem: ProblemType = "regression" if metric == "mae" else "binary"
    checks = [
        _compare(
            select(window, window.labelled_ms < hour),  # what the join holds by then
            metric,
            problem=problem,
            min_effect=1.0 if metric == "mae" else 0.1,
            resamples=500,
        )
        for hour in range(100, int(window.labelled_ms.max()) + 101, 100)  # an hourly check
    ]
    assert all(c.plan == checks[-1].plan for c in checks if c.plan)  # the plan never moved
    early = [c for c in checks if not c.final]
    late = [c for c in checks if c.final]
    assert early and late and checks.index(late[0]) == len(early)  # undecided until the plan, then final
    assert {c.verdict for c in early} <= {"insufficient_labels", "collecting"}

    def test_figures(c: ABComparison) -> tuple[Any, ...]:
        return (c.verdict, c.p_value, c.effect, c.interval, c.champion.value, c.challenger.value)

    assert len({test_figures(c) for c in late}) == 1  # one look: the same rows, the same p-value
    assert late[-1].challenger.labels > late[0].challenger.labels  # though labels kept arriving


def test_rows_answered_early_but_labelled_after_the_plan_are_not_tested() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(500, 0.9), challenger=(400, 0.8))
    result = _compare(window, min_effect=0.1)
    assert result.final and result.challenger.tested < 400
    # 30 challenger rows answered before every other, their labels arriving after every other; all
    # wrong: were they tested, the challenger's accuracy would drop by about 0.15.
    late = answers_window(
        np.r_[window.variants, np.full(30, "challenger")],
        np.r_[window.versions, np.full(30, 2)],
        np.r_[window.predictions, np.full(30, CLASSES[0])],
        np.r_[window.labels, np.full(30, CLASSES[1])],
        classes=CLASSES,
        answered_ms=np.r_[window.answered_ms, np.arange(-30, 0)],
        labelled_ms=np.r_[window.labelled_ms, np.full(30, 10_000)],
    )
    again = _compare(late, min_effect=0.1)
    assert again.challenger.labels == 430
    assert (again.verdict, again.p_value, again.challenger.value) == (
        result.verdict,
        result.p_value,
        result.challenger.value,
    )


def test_a_corrected_label_moves_its_row_to_when_the_correction_arrived() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(500, 0.9), challenger=(400, 0.8))
    result = _compare(window, min_effect=0.1)
    n = result.challenger.tested
    correct = (window.predictions == window.labels)[500:]
    flipped = {CLASSES[0]: CLASSES[1], CLASSES[1]: CLASSES[0]}
    for row in (0, n):  # the challenger's first tested row, and its first row after the tested ones
        labels, labelled = window.labels.copy(), window.labelled_ms.copy()
        labels[500 + row] = flipped[str(labels[500 + row])]
        labelled[500 + row] = labelled.max() + 1  # the latest label wins, and its time with it
        again = _compare(
            answers_window(
                window.variants, window.versions, window.predictions, labels, classes=CLASSES, labelled_ms=labelled
            ),
            min_effect=0.1,
        )
        # The corrected row now comes last: the test is on the first n of the others.
        expected = np.delete(correct, row)[:n].mean() if row < n else correct[:n].mean()
        assert again.challenger.value == pytest.approx(expected) and again.challenger.tested == n


def test_rows_are_tested_in_label_order_however_they_are_stored() -> None:
    window = _interleaved(scored_window(np.random.default_rng(SEED), (500, 400), (2.0, 1.0)), SEED)
    shuffled = _reordered(window, np.random.default_rng(1).permutation(window.size))
    for metric in ("accuracy", "roc_auc"):
        expected = _compare(window, metric, min_effect=0.1).as_dict()  # type: ignore[arg-type]
        assert expected["verdict"] != "collecting"
        assert _compare(shuffled, metric, min_effect=0.1).as_dict() == expected  # type: ignore[arg-type]
    # Answered and labelled in the same millisecond: the request id, then the row in the request, decide.
    tied = answers_window(
        window.variants,
        window.versions,
        window.predictions,
        window.labels,
        window.probabilities,
        classes=CLASSES,
        answered_ms=np.zeros(window.size, dtype=np.int64),
    )
    tied_shuffled = _reordered(tied, np.random.default_rng(2).permutation(window.size))
    assert _compare(tied_shuffled, min_effect=0.1).as_dict() == _compare(tied, min_effect=0.1).as_dict()


def test_a_tiny_min_effect_is_decided_at_the_cap_and_says_the_power_there() -> None:
    window = accuracy_window(np.random.default_rng(SEED), champion=(1000, 0.9), challenger=(800, 0.75))
    result = _compare(window, min_effect=0.001, max_labels=300)
    plan = result.plan
    assert plan is not None and plan.capped and plan.labels == 300 and plan.labels_needed is not None
    assert plan.labels_needed > 1_000_000  # 0.001 would take millions of labelled rows
    assert plan.baseline is not None and plan.power == pytest.approx(
        power_for_proportions(plan.baseline, 300, ABTestConfig(min_effect=0.001))
    )
    assert plan.power is not None and plan.power < 0.1
    assert result.verdict == "challenger_worse" and result.challenger.tested == 300  # a large gap shows anyway
    assert f"capped at max_labels 300: power {plan.power:.2g}" in result.reason


def test_the_cap_cannot_be_below_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"max_labels \(40\) must be at least min_labels \(50\)"):
        ABTestConfig(min_labels=50, max_labels=40)


# ---------------------------------------------------------------------------- labels needed
def test_the_labels_needed_for_two_proportions_give_the_power_asked_for() -> None:
    config = ABTestConfig(min_effect=0.05, alpha=0.05, power=0.8)
    n = labels_for_proportions(0.9, config)
    assert 650 < n < 720  # 0.90 against 0.85: 686 by Fleiss's formula
    assert power_for_proportions(0.9, n, config) == pytest.approx(0.8, abs=0.002)
    rng = np.random.default_rng(SEED)
    simulations = 2000
    for rows, power in ((n, 0.8), (n // 3, power_for_proportions(0.9, n // 3, config))):
        found = 0
        for x1, x2 in zip(rng.binomial(rows, 0.9, simulations), rng.binomial(rows, 0.85, simulations), strict=True):
            found += two_proportion_test(float(x1), rows, float(x2), rows, alpha=0.05)[2] < 0.05
        assert found / simulations == pytest.approx(power, abs=0.035), rows


def test_the_labels_needed_for_two_means_give_the_power_asked_for() -> None:
    config = ABTestConfig(min_effect=0.5, alpha=0.05, power=0.8)
    n = labels_for_means(4.0, 0.5, config)  # each side's rows vary with a standard deviation of 2
    assert n == 252  # 2 (1.96 + 0.84)^2 4 / 0.25
    rng = np.random.default_rng(SEED)
    for rows in (n, n // 4):
        found = sum(
            welch_test(rng.normal(0, 2, rows), rng.normal(0.5, 2, rows), alpha=0.05)[2] < 0.05 for _ in range(1000)
        )
        assert found / 1000 == pytest.approx(power_for_means(4.0, 0.5, rows, config), abs=0.045), rows


def test_the_plan_comes_from_the_champions_first_rows_and_does_not_move() -> None:
    rng = np.random.default_rng(SEED)
    window = regression_window(rng, (3000, 300), (5.0, 5.0))
    first = _compare(window, "mae", problem="regression", min_effect=0.5)
    # The plan: Welch's rows for 0.5 from the variance of the champion's first 50 absolute errors.
    errors = np.abs(window.labels[:50] - window.predictions[:50])
    assert first.plan is not None and first.plan.baseline == pytest.approx(errors.mean())
    assert first.plan.labels_needed == labels_for_means(float(errors.var(ddof=1)), 0.5, ABTestConfig(min_effect=0.5))
    # Later champion rows (here twice as wrong) change the figures, never the plan.
    worse = regression_window(np.random.default_rng(SEED), (3000, 300), (5.0, 5.0))
    worse.labels[50:3000] += np.random.default_rng(1).normal(0, 10, 2950)
    assert _compare(worse, "mae", problem="regression", min_effect=0.5).plan == first.plan


def test_the_bootstraps_labels_needed_approximation_agrees_with_the_closed_form_for_a_mean() -> None:
    window = scored_window(np.random.default_rng(SEED), (400, 300), (2.0, 1.5))
    result = _compare(window, "log_loss", resamples=2000, min_effect=0.05)
    clipped = np.clip(window.probabilities[np.arange(50), (window.labels[:50] == CLASSES[1]).astype(int)], 1e-16, 1)  # type: ignore[index]
    losses = -np.log(clipped.astype(np.float64))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    closed = z**2 * 2 * losses.var(ddof=1) / 0.05**2  # from the champion's first 50 rows, as planned
    assert result.plan is not None and result.plan.method.startswith("approximation")
    assert result.plan.labels_needed == pytest.approx(closed, rel=0.15)
    assert result.challenger.still_needed == max(0, result.plan.labels - 300)


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
        for max_labels in (5000, 150):  # collecting (every row so far), then at a plan of 150 per side
            result = _compare(window, metric, max_labels=max_labels)  # type: ignore[arg-type]
            assert result.test == "bootstrap" and result.resamples == 1000
            for side, start in ((result.champion, 0), (result.challenger, 300)):
                rows = slice(start + side.tested_from, start + side.tested_from + side.tested)
                y = (window.labels[rows] == CLASSES[1]).astype(np.int64)
                predicted = (window.predictions[rows] == CLASSES[1]).astype(np.int64)
                expected = performance_metrics("binary", y, predicted, window.probabilities[rows], 2)  # type: ignore[index]
                assert side.value == pytest.approx(expected[metric], rel=1e-9)
        assert result.verdict == "challenger_worse" and result.interval is not None and result.interval[1] < 0
        assert (result.champion.tested, result.champion.tested_from, result.challenger.tested) == (150, 50, 150)
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
        max_labels=50,  # at the plan: the champion's rows 51 to 100, the challenger's first 50
    )
    assert result.verdict == "insufficient_labels" and result.challenger.value is None and not result.final
    assert "undefined" in result.reason and "a person decides" in result.reason


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
    result = _compare(window, "roc_auc", max_labels=150)
    summary = result.as_summary()

    def floats(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert floats(summary) == [] and isinstance(summary["p_value"], Decimal)
    assert summary["champion"]["labels"] == 300 and summary["verdict"] == "challenger_worse"
    assert summary["plan"]["labels"] == 150 and summary["plan"]["capped"] is True
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
    # The stump is about 0.06 less accurate: a plan for 0.05 takes about 400 rows per side, so each of
    # the 569 patients comes three times (a request of its own each time), half of them to the canary.
    visits = np.tile(np.arange(y.size), 3)
    y = y[visits]
    answers = {name: (predicted[visits], proba[visits]) for name, (predicted, proba) in answers.items()}
    to_canary = _split_by_canary(0.5, y.size, SEED)
    worse = _real_window(answers["strong"], answers["stump"], y, to_canary)
    for metric in ("accuracy", "roc_auc"):
        result = _compare(worse, metric, min_effect=0.05)  # type: ignore[arg-type]
        assert result.verdict == "challenger_worse", result.text()
        y_tested = _tested(result.challenger, y[to_canary])
        predicted, proba = (_tested(result.challenger, a[to_canary]) for a in answers["stump"])
        expected = (
            roc_auc_score(y_tested, proba[:, 1]) if metric == "roc_auc" else float(np.mean(predicted == y_tested))
        )
        assert result.challenger.value == pytest.approx(expected)
    better = _real_window(answers["stump"], answers["strong"], y, to_canary)
    # Against the stump (about 0.9 right) a difference of 0.05 takes over 1000 rows; 0.1 under 300.
    assert _compare(better, min_effect=0.1).verdict == "challenger_better"
    assert _compare(better).verdict == "collecting"  # 0.02 would take thousands of patients
    result = _compare(better, "log_loss", min_effect=0.1)
    assert result.challenger.value == pytest.approx(
        log_loss(_tested(result.challenger, y[to_canary]), _tested(result.challenger, answers["strong"][1][to_canary]))
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
        config=ABTestConfig(metric="roc_auc", min_effect=0.05),
        seed=1,
    )
    champion = result.champion
    assert champion.value == pytest.approx(
        roc_auc_score(_tested(champion, y[~to_canary]), _tested(champion, proba[~to_canary]), multi_class="ovr")
    )
    assert result.verdict in ("no_difference", "collecting")  # the same model on both sides


def test_on_diabetes_a_regression_canary_is_compared_on_absolute_errors() -> None:
    x, y = load_diabetes(return_X_y=True)
    good = cross_val_predict(LinearRegression(), x, y, cv=5)
    weak = cross_val_predict(LinearRegression(), x[:, :1], y, cv=5)  # age alone
    to_canary = _split_by_canary(0.5, y.size, SEED)
    window = answers_window(
        np.where(to_canary, "challenger", "champion"), np.where(to_canary, 2, 1), np.where(to_canary, weak, good), y
    )
    result = _compare(window, problem="regression", min_effect=15.0)  # 15 of a target from 25 to 346
    assert result.metric == "mae" and result.verdict == "challenger_worse"
    challenger = result.challenger
    assert challenger.value == pytest.approx(
        mean_absolute_error(_tested(challenger, y[to_canary]), _tested(challenger, weak[to_canary]))
    )
