"""Drift checks on generated traffic (fixed seeds): fresh samples of the training distribution raise
no more false alarms than the tests' level allows and none at all at large sizes; real shifts are
caught by the right statistic on the right feature; too few rows flag nothing; the survival
functions and the sketch's KS agree with scipy; the report page escapes what it shows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from mlops.monitoring.config import DriftConfig
from mlops.monitoring.drift import check_drift
from mlops.monitoring.drift_score import drift_score
from mlops.monitoring.profile import OTHER, ReferenceProfile, column_profile, ks_statistic, prediction_profile
from mlops.monitoring.report import (
    DriftReport,
    FeatureDrift,
    by_severity,
    drift_report_html,
    drift_summary_text,
)
from mlops.monitoring.statistics import (
    chi_square_homogeneity,
    chi_square_sf,
    jensen_shannon_distance,
    kolmogorov_sf,
    ks_p_value,
)
from mlops.monitoring.window import CapturedWindow
from mlops.serving.capture import CaptureBuffer, read_capture

COLORS = np.array(["red", "green", "blue", "black", "white", "silver"])
COLOR_SHARES = [0.35, 0.25, 0.15, 0.12, 0.08, 0.05]
FIELDS = {
    "income": "numeric",
    "age": "numeric",
    "score": "numeric",
    "visits": "numeric",
    "color": "categorical",
    "member": "numeric",  # a bool: served and captured as 1.0 / 0.0, profiled as "true" / "false"
}
TYPES = {"income": "float", "age": "float", "score": "float", "visits": "int", "color": "str", "member": "bool"}
CLASSES = ["no", "yes"]
REFERENCE_ROWS = 100_000
CONFIG = DriftConfig()


@dataclass(frozen=True)
class Traffic:
    """Generated rows: raw columns, missing masks, and the model's answers."""

    columns: dict[str, NDArray[Any]]
    missing: dict[str, NDArray[np.bool_]]
    labels: NDArray[np.str_]
    positive: NDArray[np.float64]

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def draw(
    seed: int,
    n: int,
    *,
    age_shift: float = 0.0,
    age_scale: float = 1.0,
    income_missing: float = 0.05,
    new_color: float = 0.0,
    member_rate: float = 0.3,
    logit_shift: float = 0.0,
    score_shift: float = 0.0,
    visits_rate: float = 2.5,
) -> Traffic:
    """The training distribution, or a changed one: a lognormal with missing values, a normal, a
    uniform, a Poisson count (atoms), six colours with missing values, a bool, and a logistic model."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.0, 0.6, n)
    income_null = rng.random(n) < income_missing
    income[income_null] = np.nan
    age = 40.0 + age_shift + 12.0 * age_scale * rng.standard_normal(n)
    score = rng.random(n) + score_shift
    visits = rng.poisson(visits_rate, n).astype(np.float64)
    color = COLORS[rng.choice(COLORS.size, size=n, p=COLOR_SHARES)]
    if new_color:
        color = np.where(rng.random(n) < new_color, "purple", color)
    color_null = rng.random(n) < 0.03
    member = rng.random(n) < member_rate
    logit = 0.05 * (age - 40.0) + 1.2 * (score - 0.5) + 0.3 * (visits - 2.5) + logit_shift
    positive = 1.0 / (1.0 + np.exp(-logit))
    return Traffic(
        columns={"income": income, "age": age, "score": score, "visits": visits, "color": color, "member": member},
        missing={
            "income": income_null,
            "age": np.zeros(n, dtype=bool),
            "score": np.zeros(n, dtype=bool),
            "visits": np.zeros(n, dtype=bool),
            "color": color_null,
            "member": np.zeros(n, dtype=bool),
        },
        labels=np.where(positive > 0.5, "yes", "no"),
        positive=positive,
    )


def capture_batches(traffic: Traffic, pieces: int = 3, variant: str = "champion") -> list[tuple[dict[str, Any], Any]]:
    """The rows as the predict function captures them (`batch_npz` layout), in a few batches."""
    batches = []
    for number, rows in enumerate(np.array_split(np.arange(traffic.rows), pieces)):
        arrays: dict[str, NDArray[Any]] = {}
        for name, kind in FIELDS.items():
            values = traffic.columns[name][rows]
            missing = traffic.missing[name][rows]
            if kind == "numeric":
                arrays[f"input:{name}"] = np.where(missing, np.nan, values.astype(np.float64))
            else:
                arrays[f"input:{name}"] = np.where(missing, "", values.astype(str))
                arrays[f"null:{name}"] = missing
        p = traffic.positive[rows]
        arrays["prediction"] = traffic.labels[rows]
        arrays["probabilities"] = np.column_stack((1.0 - p, p)).astype(np.float32)
        arrays["variant"] = np.full(rows.size, variant)
        arrays["time_ms"] = np.full(rows.size, 1_700_000_000_000 + number, dtype=np.int64)
        meta = {"format": 1, "model": "churn", "version": 3, "fields": FIELDS, "classes": CLASSES, "rows": rows.size}
        batches.append((meta, arrays))
    return batches


def window_of(traffic: Traffic) -> CapturedWindow:
    return CapturedWindow.from_batches(capture_batches(traffic))


@dataclass(frozen=True)
class Reference:
    profile: ReferenceProfile
    traffic: Traffic


@pytest.fixture(scope="module")
def reference() -> Reference:
    """100,000 training rows profiled as training profiles them, and a 20,000-row test split's predictions."""
    training = draw(0, REFERENCE_ROWS)
    features = {name: column_profile(training.columns[name], training.missing[name], TYPES[name]) for name in FIELDS}
    test = draw(1, 20_000)
    prediction = prediction_profile(test.labels, test.positive, classes=CLASSES, score="positive_probability")
    return Reference(ReferenceProfile(rows=REFERENCE_ROWS, features=features, prediction=prediction), training)


def check(reference: Reference, window: CapturedWindow, config: DriftConfig = CONFIG) -> DriftReport:
    return check_drift(
        reference.profile,
        window,
        config,
        model="churn",
        version=3,
        checked_at="2026-11-23T12:00:00+00:00",
        window_start="2026-11-22T12:00:00+00:00",
        window_end="2026-11-23T12:00:00+00:00",
    )


def entries(report: DriftReport) -> Iterator[FeatureDrift]:
    """Every judged entry: the features and the prediction's two parts."""
    yield from report.features
    assert report.prediction is not None
    for part in (report.prediction.classes, report.prediction.score):
        assert part is not None
        yield part


def feature(report: DriftReport, name: str) -> FeatureDrift:
    [found] = [f for f in report.features if f.name == name]
    return found


# -- (a) false alarms ------------------------------------------------------------------------------


def binomial_allowance(trials: int, p: float, tail: float = 1e-3) -> int:
    """The largest count a Binomial(trials, p) exceeds with probability below `tail`."""
    cumulative = 0.0
    for k in range(trials + 1):
        cumulative += math.comb(trials, k) * p**k * (1 - p) ** (trials - k)
        if 1 - cumulative < tail:
            return k
    return trials


@pytest.mark.parametrize(("rows", "seeds"), [(200, 50), (1_000, 50), (5_000, 50)])
def test_fresh_samples_of_the_reference_raise_few_false_alarms(reference: Reference, rows: int, seeds: int) -> None:
    alarms: dict[str, int] = {}
    tests: set[str] = set()
    dataset_drift = 0
    for seed in range(seeds):
        report = check(reference, window_of(draw(1000 + seed, rows)))
        assert report.status != "insufficient_data" and report.rows == rows
        dataset_drift += report.dataset_drift
        for entry in entries(report):
            alarms[entry.name] = alarms.get(entry.name, 0) + entry.drifted
            tests.add(str(entry.test))
    allowed = binomial_allowance(seeds, CONFIG.p_value)
    assert all(count <= allowed for count in alarms.values()), (alarms, allowed)
    judged = seeds * len(alarms)
    pooled = sum(alarms.values()) / judged
    assert pooled <= CONFIG.p_value + 3 * math.sqrt(CONFIG.p_value * (1 - CONFIG.p_value) / judged), alarms
    assert dataset_drift == 0
    if rows <= CONFIG.small_sample_rows:
        assert tests == {"ks", "chi_square"}
    else:
        assert tests == {"wasserstein", "jensen_shannon"}
        assert sum(alarms.values()) == 0, alarms  # distances: sampling noise is far below the thresholds


@pytest.mark.parametrize(("rows", "seeds"), [(100_000, 5), (1_000_000, 3)])
def test_huge_samples_of_the_reference_flag_nothing(reference: Reference, rows: int, seeds: int) -> None:
    for seed in range(seeds):
        report = check(reference, window_of(draw(2000 + seed, rows)))
        assert report.status == "ok" and not report.dataset_drift
        assert report.drifted_features == []
        for entry in entries(report):
            assert not entry.drifted, entry
            assert entry.test in ("wasserstein", "jensen_shannon")
            assert entry.statistic < entry.threshold / 3, entry


# -- (b) detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "numeric_test"), [(500, "ks"), (5_000, "wasserstein")])
def test_a_mean_shift_and_a_scale_change_are_caught(reference: Reference, rows: int, numeric_test: str) -> None:
    shifted = check(reference, window_of(draw(11, rows, age_shift=6.0)))  # half a standard deviation
    age = feature(shifted, "age")
    assert age.drifted and age.distribution_drifted and age.test == numeric_test
    if numeric_test == "wasserstein":
        assert age.statistic == pytest.approx(0.5, abs=0.05)
        assert [f.name for f in shifted.features if f.drifted] == ["age"]
    else:
        assert age.p_value is not None and age.p_value < 1e-4
    scaled = feature(check(reference, window_of(draw(12, rows, age_scale=1.6))), "age")
    assert scaled.drifted and scaled.test == numeric_test
    assert scaled.ks_statistic is not None and scaled.ks_statistic > 0.08


@pytest.mark.parametrize("rows", [500, 5_000])
def test_a_new_category_is_named(reference: Reference, rows: int) -> None:
    report = check(reference, window_of(draw(13, rows, new_color=0.05)))
    color = feature(report, "color")
    assert color.drifted and color.new_categories_drifted
    assert color.new_categories == ["purple"]
    assert color.new_category_share == pytest.approx(0.05, abs=0.025)
    assert color.test == ("chi_square" if rows <= CONFIG.small_sample_rows else "jensen_shannon")
    assert color.histogram is not None and "(new)" in color.histogram.labels


def test_one_unseen_value_is_no_distribution_drift(reference: Reference) -> None:
    """Its cell (no expected values) joins the smallest colour's instead of blowing up the chi-square."""
    traffic = draw(24, 400)
    traffic.columns["color"][0], traffic.missing["color"][0] = "purple", False
    color = feature(check(reference, window_of(traffic)), "color")
    assert color.test == "chi_square" and color.p_value is not None and color.p_value > 0.01
    assert color.new_categories == ["purple"] and color.new_category_share == pytest.approx(1 / 400, rel=0.05)
    assert not color.new_categories_drifted and not color.drifted


@pytest.mark.parametrize("rows", [500, 5_000])
def test_a_jump_in_missing_values_is_caught(reference: Reference, rows: int) -> None:
    report = check(reference, window_of(draw(14, rows, income_missing=0.3)))
    income = feature(report, "income")
    assert income.drifted and income.missing_rate_drifted
    assert income.missing_rate_reference == pytest.approx(0.05, abs=0.005)
    assert income.missing_rate_current == pytest.approx(0.3, abs=0.07)
    assert income.missing_rate_p_value is not None and income.missing_rate_p_value < 1e-6


@pytest.mark.parametrize(("rows", "score_test"), [(500, "ks"), (5_000, "wasserstein")])
def test_prediction_drift_is_caught(reference: Reference, rows: int, score_test: str) -> None:
    report = check(reference, window_of(draw(15, rows, logit_shift=1.5)))
    assert report.prediction is not None and report.prediction.drifted
    assert report.prediction.score is not None and report.prediction.classes is not None
    assert report.prediction.score.drifted and report.prediction.score.test == score_test
    assert report.prediction.classes.drifted
    assert report.prediction.classes.test == ("chi_square" if rows <= CONFIG.small_sample_rows else "jensen_shannon")
    if rows > CONFIG.small_sample_rows:
        assert report.drifted_features == []  # the inputs did not move
        counted = 1 / (len(FIELDS) + 1)
        assert report.drift_share == pytest.approx(counted)
        uncounted = check(reference, window_of(draw(15, rows, logit_shift=1.5)), DriftConfig(prediction_drift=False))
        assert uncounted.drift_share == 0.0 and uncounted.prediction is not None and uncounted.prediction.drifted


def _categorical_window(values: NDArray[np.str_]) -> CapturedWindow:
    return CapturedWindow(
        fields={"city": "categorical"},
        numeric={},
        categorical={"city": values},
        missing={"city": np.zeros(values.size, dtype=bool)},
        predictions=None,
        probabilities=None,
        classes=None,
        rows=int(values.size),
    )


def test_many_rare_categories_neither_raise_false_alarms_nor_hide_a_surge() -> None:
    """180 categories with a long tail: pooling keeps the tests and the JS distance quiet on fresh
    samples, and a rare category that became common keeps its own cell."""
    cities = np.array([f"city{i:03d}" for i in range(180)])
    shares = np.random.default_rng(5).dirichlet(np.full(180, 0.5))
    training = cities[np.random.default_rng(6).choice(180, 100_000, p=shares)]
    profile = ReferenceProfile(
        rows=100_000, features={"city": column_profile(training, np.zeros(100_000, dtype=bool), "str")}
    )
    assert OTHER not in profile.features["city"].frequencies  # type: ignore[union-attr]
    rare = cities[int(np.argsort(shares)[90])]  # a median category, about 0.2 %

    def city(values: NDArray[np.str_]) -> FeatureDrift:
        report = check_drift(
            profile, _categorical_window(values), CONFIG, model="m", version=1, checked_at="x", window_start=None,
            window_end=None,
        )  # fmt: skip
        return report.features[0]

    for rows in (300, 1_001, 5_000):
        alarms = sum(
            city(cities[np.random.default_rng(100 + s).choice(180, rows, p=shares)]).drifted for s in range(30)
        )
        assert alarms <= 1, (rows, alarms)
    for rows in (1_001, 5_000):
        fresh = cities[np.random.default_rng(7).choice(180, rows, p=shares)]
        surged = np.where(np.random.default_rng(8).random(rows) < 0.3, rare, fresh)
        found = city(surged)
        assert found.drifted and found.distribution_drifted and found.test == "jensen_shannon"
        assert found.statistic > 0.2
    lone = np.concatenate((["never-seen"], cities[np.random.default_rng(9).choice(180, 399, p=shares)]))
    found = city(lone)  # one unseen value is no distribution drift: its cell is pooled
    assert found.new_categories == ["never-seen"] and not found.new_categories_drifted and not found.drifted


def test_dataset_drift_when_half_the_features_drift(reference: Reference) -> None:
    report = check(reference, window_of(draw(16, 5_000, age_shift=8.0, score_shift=0.2, visits_rate=3.5)))
    assert set(report.drifted_features) == {"age", "score", "visits"}
    assert report.prediction is not None and report.prediction.drifted
    assert report.drift_share == pytest.approx(4 / 7)
    assert report.dataset_drift and report.status == "drift"
    assert "dataset drift" in report.message
    stricter = check(reference, window_of(draw(16, 5_000, age_shift=8.0)), DriftConfig(dataset_drift_share=0.9))
    assert stricter.status == "ok" and not stricter.dataset_drift and stricter.drifted_features == ["age"]


# -- (c) too few rows ------------------------------------------------------------------------------


def test_too_few_rows_flag_nothing(reference: Reference) -> None:
    report = check(reference, window_of(draw(17, 150, age_shift=30.0, new_color=0.5)))
    assert report.status == "insufficient_data"
    assert report.rows == 150 and "insufficient data: 150 rows captured, 200 needed" in report.message
    assert report.features == [] and report.drifted_features == [] and not report.dataset_drift
    assert report.prediction is None
    empty = check(reference, CapturedWindow.empty(reference.profile))
    assert empty.status == "insufficient_data" and empty.rows == 0
    assert "insufficient data" in drift_report_html(empty)
    assert drift_summary_text(empty).count("\n") <= 3


# -- (d) the survival functions against scipy -----------------------------------------------------


def test_kolmogorov_survival_function_matches_scipy() -> None:
    grid = np.concatenate((np.linspace(0.0, 3.5, 701), [0.05, 0.2, 0.82, 0.999, 1.0, 1.001, 1.63, 5.0, 8.0]))
    worst = max(abs(kolmogorov_sf(float(x)) - float(special.kolmogorov(x))) for x in grid)
    assert worst < 1e-6
    for n, m, d in [(200, 100_000, 0.12), (1000, 5000, 0.05), (50, 60, 0.3), (1, 1, 1.0)]:
        expected = float(stats.kstwobign.sf(math.sqrt(n * m / (n + m)) * d))
        assert ks_p_value(d, n, m) == pytest.approx(expected, abs=1e-6)


def test_chi_square_survival_function_matches_scipy() -> None:
    worst = 0.0
    for dof in (1, 2, 3, 4, 5, 7, 10, 20, 50, 100, 199, 500):
        top = float(stats.chi2.ppf(1 - 1e-10, dof))
        for x in np.concatenate((np.linspace(0.0, top, 200), [dof - 1e-9, float(dof), dof + 1.0, dof + 2.0])):
            worst = max(worst, abs(chi_square_sf(float(x), dof) - float(stats.chi2.sf(x, dof))))
    assert worst < 1e-6
    assert chi_square_sf(3.0, 0) == 1.0


def test_homogeneity_and_jensen_shannon_match_scipy() -> None:
    rng = np.random.default_rng(3)
    for k in (2, 3, 6, 12):
        reference_counts = rng.integers(50, 500, k).astype(np.float64)
        current = rng.integers(5, 80, k).astype(np.float64)
        m = int(reference_counts.sum())
        statistic, dof = chi_square_homogeneity(reference_counts / m, current, m)
        expected = stats.chi2_contingency(np.vstack((reference_counts, current)), correction=False)
        assert statistic == pytest.approx(expected.statistic, rel=1e-9)
        assert dof == expected.dof
        assert jensen_shannon_distance(reference_counts, current) == pytest.approx(
            float(jensenshannon(reference_counts, current)), abs=1e-12
        )


# -- (e) the sketch's KS against the exact two-sample statistic -----------------------------------


@pytest.mark.parametrize("rows", [300, 5_000, 200_000])
def test_sketch_ks_is_within_0_002_of_scipy(reference: Reference, rows: int) -> None:
    training = reference.traffic
    for seed, changes in enumerate(
        [{}, {"age_shift": 1.0, "visits_rate": 2.7}, {"age_scale": 1.2, "score_shift": 0.05}]
    ):
        traffic = draw(30 + seed, rows, **changes)
        report = check(reference, window_of(traffic))
        for name in ("income", "age", "score", "visits"):
            entry = feature(report, name)
            current = traffic.columns[name][~traffic.missing[name]]
            trained = training.columns[name][~training.missing[name]]
            exact = float(stats.ks_2samp(trained, current).statistic)
            assert entry.ks_statistic is not None
            assert abs(entry.ks_statistic - exact) <= 0.002, (name, rows, changes, entry.ks_statistic, exact)
            sketch = reference.profile.features[name].sketch  # type: ignore[union-attr]
            assert entry.ks_statistic == pytest.approx(ks_statistic(sketch, current), abs=1e-12)
            exact_w = stats.wasserstein_distance(trained, current) / trained.std()
            assert entry.wasserstein == pytest.approx(exact_w, abs=0.005), (name, rows, changes)


@pytest.mark.parametrize(
    "sample",
    [
        lambda rng, n, s: rng.lognormal(s, 1.5, n),
        lambda rng, n, s: (rng.pareto(2.5, n) + 1.0) * (1.0 + s),
        lambda rng, n, s: rng.standard_t(3, n) + s,
        lambda rng, n, s: -rng.lognormal(s, 1.0, n),
    ],
    ids=["lognormal", "pareto", "student_t", "left_tail"],
)
def test_heavy_tails_keep_the_wasserstein_distance_close_to_scipy(sample: Any) -> None:
    """The sketch's extreme levels are shaped to the exact mean and std; straight lines there were
    off by up to 0.025 standard deviations for these tails."""
    rng = np.random.default_rng(26)
    training = sample(rng, 100_000, 0.0)
    profile = ReferenceProfile(
        rows=training.size, features={"x": column_profile(training, np.zeros(training.size, dtype=bool), "float")}
    )
    for shift in (0.0, 0.2):
        current = sample(rng, 50_000, shift)
        window = CapturedWindow(
            fields={"x": "numeric"},
            numeric={"x": current},
            categorical={},
            missing={},
            predictions=None,
            probabilities=None,
            classes=None,
            rows=current.size,
        )
        [entry] = check_drift(
            profile, window, CONFIG, model="m", version=1, checked_at="x", window_start=None, window_end=None
        ).features
        exact = stats.wasserstein_distance(training, current) / training.std()
        assert entry.wasserstein == pytest.approx(exact, abs=0.006), shift


# -- (f) the report page and the notification ------------------------------------------------------


def test_the_page_shows_every_feature_and_escapes_names() -> None:
    hostile = "<script>alert('x')</script>&\""
    rng = np.random.default_rng(4)
    training = rng.normal(size=5_000)
    labels = rng.choice(np.array(["a<b", "c&d"]), 5_000)
    profile = ReferenceProfile(
        rows=5_000,
        features={
            hostile: column_profile(training, np.zeros(5_000, dtype=bool), "float"),
            "plain": column_profile(labels, np.zeros(5_000, dtype=bool), "str"),
        },
    )
    fields = {hostile: "numeric", "plain": "categorical"}
    arrays = {
        f"input:{hostile}": rng.normal(1.0, 1.0, 2_000),
        "input:plain": np.where(rng.random(2_000) < 0.1, "<img src=x>", rng.choice(np.array(["a<b", "c&d"]), 2_000)),
        "null:plain": np.zeros(2_000, dtype=bool),
        "prediction": rng.normal(size=2_000),
        "variant": np.full(2_000, "champion"),
        "time_ms": np.zeros(2_000, dtype=np.int64),
    }
    window = CapturedWindow.from_batches([({"fields": fields, "classes": None, "rows": 2_000}, arrays)])
    report = check_drift(
        profile, window, CONFIG, model="m<1>", version=2, checked_at="now", window_start=None, window_end=None
    )
    assert {f.name for f in report.features} == {hostile, "plain"}
    assert report.dataset_drift and set(report.drifted_features) == {hostile, "plain"}
    page = drift_report_html(report)
    assert "<script" not in page and "<img" not in page and "m<1>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;" in page
    assert "&lt;img src=x&gt;" in page and "a&lt;b" in page and "m&lt;1&gt;" in page
    assert page.count("<svg") == 2 and page.count("<tr") == 3
    assert "src=" not in page.replace("&lt;img src=x&gt;", "") and "href" not in page and "<link" not in page
    text = drift_summary_text(report)
    assert "m<1>" in text and "version 2" in text and "2,000 rows" in text
    assert f"- {hostile}: wasserstein" in text and "new categories" in text


def test_the_page_of_a_full_report(reference: Reference) -> None:
    report = check(reference, window_of(draw(18, 3_000, age_shift=6.0, income_missing=0.3, new_color=0.05)))
    page = drift_report_html(report)
    for name in FIELDS:
        assert f"<td>{name}" in page
    assert "prediction: predicted class" in page and "prediction: score (positive_probability)" in page
    assert page.count("<svg") == len(FIELDS) + 2
    text = drift_summary_text(report)
    assert "- age: wasserstein" in text and ">= 0.1" in text
    assert "- income: missing rate 4.9 % -> 31.0 %" in text  # the distribution of the values did not move
    assert "- color: jensen_shannon" in text and "new categories 5.1 % (purple)" in text


def _judged(
    name: str, test: Any, statistic: float, threshold: float, p_value: float | None, **drift: bool
) -> FeatureDrift:
    """A feature's verdict as a check writes it, with only what ordering reads filled in."""
    distribution = drift.get("distribution", False)
    return FeatureDrift(
        name=name,
        kind="numeric" if test in ("ks", "wasserstein") else "categorical",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        distribution_drifted=distribution,
        drifted=distribution or drift.get("missing", False),
        missing_rate_drifted=drift.get("missing", False),
        rows=1_000,
        present=1_000,
        reference_count=5_000,
        missing_rate_reference=0.0,
        missing_rate_current=0.0,
    )


def test_features_are_ordered_drifted_first_then_by_how_far_past_their_threshold() -> None:
    features = [
        _judged("calm", "ks", 0.01, 0.01, 0.9),  # log 0.9 / log 0.01: 0.02
        _judged("uncompared", None, 0.0, 0.01, None),  # 0
        _judged("missing", "ks", 0.02, 0.01, 0.5, missing=True),  # 0.15, drifted though its distribution held
        _judged("wide", "wasserstein", 0.5, 0.1, None, distribution=True),  # 5 times its threshold
        _judged("near", "jensen_shannon", 0.09, 0.1, None),  # 0.9: below, but the closest of the calm
        _judged("certain", "chi_square", 90.0, 0.01, 0.0, distribution=True),  # p 0, read as 1e-300: 150
        _judged("small", "ks", 0.2, 0.01, 0.001, distribution=True),  # 1.5
    ]
    assert [round(drift_score(f), 2) for f in features] == [0.02, 0.0, 0.15, 5.0, 0.9, 150.0, 1.5]
    ordered = [f.name for f in by_severity(features)]
    assert ordered == ["certain", "wide", "small", "missing", "near", "calm", "uncompared"]


def test_a_report_lists_the_refused_share_first_then_features_worst_first(reference: Reference) -> None:
    report = check(reference, window_of(draw(18, 3_000, age_shift=6.0, income_missing=0.3, new_color=0.05)))
    drifted = [f for f in report.features if f.drifted]
    calm = [f for f in report.features if not f.drifted]
    assert report.features == drifted + calm and len(drifted) >= 3 and calm
    for group in (drifted, calm):
        assert [drift_score(f) for f in group] == sorted((drift_score(f) for f in group), reverse=True)
    assert report.drifted_features == [f.name for f in drifted]
    page = drift_report_html(report)
    table = page[page.index("<h2>Features</h2>") :]
    assert page.index("refused by the serving policy") < page.index("drift share") < page.index("<h2>Features")
    assert sorted(report.features, key=lambda f: table.index(f"<td>{f.name}<")) == report.features
    text = drift_summary_text(report).splitlines()
    listed = [line[2:].split(":")[0] for line in text[text.index("Drifted features:") + 1 :] if line.startswith("- ")]
    assert listed == report.drifted_features
    stored = list(json.loads(report.model_dump_json()))
    assert stored.index("refused") < stored.index("features")


# -- (g) bools ---------------------------------------------------------------------------------------


def test_bools_captured_as_numbers_compare_with_the_true_false_profile(reference: Reference) -> None:
    assert set(reference.profile.features["member"].frequencies) == {"true", "false"}  # type: ignore[union-attr]
    same = feature(check(reference, window_of(draw(19, 800))), "member")
    assert same.kind == "categorical" and same.test == "chi_square" and not same.drifted
    assert same.new_categories == [] and same.new_category_share == 0.0
    assert same.histogram is not None and set(same.histogram.labels) == {"true", "false"}
    moved = feature(check(reference, window_of(draw(19, 800, member_rate=0.45))), "member")
    assert moved.drifted and moved.p_value is not None and moved.p_value < 1e-6 and moved.new_categories == []


def test_a_field_captured_as_the_other_kind_is_still_compared() -> None:
    """After a schema change: numbers captured as text are parsed; category codes captured as
    numbers are spelled as the dataset spells them ("3", not "3.0")."""
    rng = np.random.default_rng(25)
    amount = rng.normal(50, 10, 20_000)
    level = rng.integers(1, 4, 20_000).astype(str)
    none = np.zeros(20_000, dtype=bool)
    profile = ReferenceProfile(
        rows=20_000,
        features={"amount": column_profile(amount, none, "float"), "level": column_profile(level, none, "str")},
    )
    text = rng.normal(50, 10, 600).round(3).astype(str)
    text[:30] = "n/a"
    window = CapturedWindow(
        fields={"amount": "categorical", "level": "numeric"},
        numeric={"level": rng.integers(1, 4, 600).astype(np.float64)},
        categorical={"amount": text},
        missing={"amount": np.zeros(600, dtype=bool)},
        predictions=None,
        probabilities=None,
        classes=None,
        rows=600,
    )
    report = check_drift(
        profile, window, CONFIG, model="m", version=1, checked_at="x", window_start=None, window_end=None
    )
    amount_drift, level_drift = report.features
    assert amount_drift.kind == "numeric" and amount_drift.present == 570 and not amount_drift.distribution_drifted
    assert level_drift.kind == "categorical" and level_drift.new_categories == [] and not level_drift.drifted


# -- the window ----------------------------------------------------------------------------------------


def test_the_window_leaves_out_shadow_rows_and_follows_the_newest_fields(reference: Reference) -> None:
    served = capture_batches(draw(20, 600), pieces=2)
    shadow = capture_batches(draw(21, 300), pieces=1, variant="shadow")
    older_meta, older_arrays = capture_batches(draw(22, 400), pieces=1, variant="challenger")[0]
    older_meta = {**older_meta, "fields": {k: v for k, v in FIELDS.items() if k != "visits"}, "classes": ["n", "y"]}
    older_arrays = {k: v for k, v in older_arrays.items() if k != "input:visits"}
    older_arrays["time_ms"] = np.zeros(400, dtype=np.int64)
    window = CapturedWindow.from_batches([(older_meta, older_arrays), *served, *shadow])
    assert window.rows == 1_000 and window.fields == FIELDS
    assert window.numeric["visits"].size == 600 and window.numeric["age"].size == 1_000
    assert window.categorical["color"].size == window.missing["color"].size == 1_000
    assert window.predictions is not None and window.predictions.size == 1_000
    assert window.probabilities is not None and window.probabilities.shape == (600, 2)  # other classes left out
    assert window.classes == CLASSES and window.first_ms == 0
    report = check(reference, window)
    assert feature(report, "visits").rows == 600 and feature(report, "age").rows == 1_000
    everything = CapturedWindow.from_batches([*served, *shadow], exclude_variants=())
    assert everything.rows == 900


def _captured(buffer: CaptureBuffer, traffic: Traffic, start: int, rows: int) -> None:
    """Rows start..start+rows of `traffic` as the predict function hands them to capture."""
    span = range(start, start + rows)
    values = {
        name: [
            None
            if traffic.missing[name][i]
            else (bool(traffic.columns[name][i]) if name == "member" else traffic.columns[name][i].item())
            for i in span
        ]
        for name in FIELDS
    }
    p = traffic.positive[start : start + rows]
    buffer.add(
        model="churn",
        version=3,
        fields=FIELDS,
        classes=CLASSES,
        values=values,
        predictions=[str(label) for label in traffic.labels[start : start + rows]],
        probabilities=np.column_stack((1 - p, p)).astype(np.float32),
        variant="champion",
        request_id=f"r{start}",
    )


def test_capture_round_trip_and_a_json_report(reference: Reference) -> None:
    """Rows written by the serving capture buffer come back through read_capture into a check."""
    stored: dict[str, bytes] = {}
    buffer = CaptureBuffer(write=stored.__setitem__, default_sample_rate=1.0, max_rows=250)
    traffic = draw(23, 600)
    for start in range(0, 600, 50):
        _captured(buffer, traffic, start, 50)
    buffer.flush()
    window = CapturedWindow.from_batches([read_capture(data) for data in stored.values()])
    assert window.rows == 600
    assert np.array_equal(np.isnan(window.numeric["income"]), traffic.missing["income"])
    report = check(reference, window)
    assert report.status == "ok" and sorted(f.name for f in report.features) == sorted(
        FIELDS
    )  # worst first, not by profile
    assert feature(report, "member").kind == "categorical" and feature(report, "member").new_categories == []
    again = DriftReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert json.loads(report.model_dump_json())["config"] == CONFIG.model_dump()


def test_the_config_is_strict() -> None:
    with pytest.raises(ValueError, match="extra"):
        DriftConfig.model_validate({"p_value": 0.05, "pvalue": 0.05})
    with pytest.raises(ValueError):
        DriftConfig(p_value=1.5)
    assert DriftConfig.model_validate({}).min_rows == 200


class _Bucket:
    """The two calls captured_window makes of the artifacts bucket, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def get(self, key: str) -> bytes:
        return self.objects[key]


def test_rows_answered_before_a_check_but_written_after_it_are_counted_once_by_the_next() -> None:
    """A tester saw shifted rows counted by no check: the check windowed on request times, and the
    batch holding them landed after the check that covered those times."""
    from datetime import UTC, datetime, timedelta

    from mlops.monitoring.checks import captured_window

    bucket = _Bucket()
    moment = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]
    buffer = CaptureBuffer(
        write=bucket.objects.__setitem__, default_sample_rate=1.0, max_rows=10_000, now=lambda: moment[0]
    )
    traffic = draw(29, 700)
    _captured(buffer, traffic, 0, 300)  # answered at 12:00:00, still in the container's buffer
    first_end = moment[0] + timedelta(seconds=8)
    window, _ = captured_window(bucket, "churn", [3], first_end - timedelta(hours=24), first_end)  # type: ignore[arg-type]
    assert window is None, "nothing written yet: the check sees no rows"
    moment[0] = first_end + timedelta(seconds=2)  # the batch lands after that check
    buffer.flush()
    _captured(buffer, traffic, 300, 400)
    moment[0] = first_end + timedelta(minutes=30)
    buffer.flush()
    second_end = first_end + timedelta(hours=1)
    window, objects = captured_window(bucket, "churn", [3], first_end, second_end)  # type: ignore[arg-type]
    assert window is not None and (window.rows, objects) == (700, 2), "each row once, the late batch included"
    third, _ = captured_window(bucket, "churn", [3], second_end, second_end + timedelta(hours=1))  # type: ignore[arg-type]
    assert third is None, "the next window reads none of them again"


def test_a_batch_written_exactly_at_a_window_boundary_belongs_to_the_earlier_window() -> None:
    from datetime import UTC, datetime, timedelta

    from mlops.monitoring.checks import captured_window
    from mlops.serving.capture import capture_key, written_at

    boundary = datetime(2026, 11, 23, 12, 59, 59, 999000, tzinfo=UTC)
    bucket = _Bucket()
    buffer = CaptureBuffer(write=bucket.objects.__setitem__, default_sample_rate=1.0, now=lambda: boundary)
    _captured(buffer, draw(31, 250), 0, 250)
    buffer.flush()
    [key] = bucket.objects
    assert written_at(key) == boundary and "/hour=12/" in key
    before, _ = captured_window(bucket, "churn", [3], boundary - timedelta(hours=1), boundary)  # type: ignore[arg-type]
    after, _ = captured_window(bucket, "churn", [3], boundary, boundary + timedelta(hours=1))  # type: ignore[arg-type]
    assert before is not None and before.rows == 250 and after is None
    # Keys written before milliseconds were in the name still read, as the start of their second.
    old = capture_key("churn", 3, boundary, "abc").replace("T125959999-", "T125959-")
    assert written_at(old) == boundary.replace(microsecond=0)
    assert written_at("capture/churn/version=3/notes.txt") is None


# -- refused traffic (issue #16, item 3) -------------------------------------------------------------


def _refused(buffer: CaptureBuffer, traffic: Traffic, start: int, rows: int, refusals: list[dict[str, str]]) -> None:
    """Rows of a request the serving policy refused, as the predict function hands them to capture."""
    values = {
        name: [
            None
            if traffic.missing[name][i]
            else (bool(traffic.columns[name][i]) if name == "member" else traffic.columns[name][i].item())
            for i in range(start, start + rows)
        ]
        for name in FIELDS
    }
    buffer.add_refused(
        model="churn",
        version=3,
        fields=FIELDS,
        classes=CLASSES,
        values=values,
        refusals=refusals,
        variant="champion",
        request_id=f"refused{start}",
    )


def test_refused_rows_are_counted_by_reason_and_field_and_feed_the_features_not_the_prediction(
    reference: Reference,
) -> None:
    stored: dict[str, bytes] = {}
    buffer = CaptureBuffer(write=stored.__setitem__, default_sample_rate=1.0, max_rows=10_000)
    calm, shifted = draw(31, 600), draw(32, 400, age_shift=40.0)
    for start in range(0, 600, 50):
        _captured(buffer, calm, start, 50)
    for start in range(0, 400, 40):  # each refused request: 10 rows out of range, 30 that fitted
        refusals = [{"age": "out_of_range"} if i < 10 else {} for i in range(40)]
        refusals[0] = {"age": "out_of_range", "color": "unseen_category"}
        _refused(buffer, shifted, start, 40, refusals)
    buffer.flush()
    meta, arrays = read_capture(next(iter(stored.values())))
    assert meta["format"] == 2 and int((~arrays["answered"]).sum()) == 400
    assert set(arrays["refused:age"].tolist()) == {"", "out_of_range"}

    window = CapturedWindow.from_batches([read_capture(data) for data in stored.values()])
    assert (window.rows, window.refused_rows, window.offending_rows) == (1_000, 400, 100)
    assert window.refusals == {("age", "out_of_range"): 100, ("color", "unseen_category"): 10}
    assert window.numeric["age"].size == 1_000  # refused rows' values count in the distributions
    assert window.predictions is not None and window.predictions.size == 600  # only answered rows predict
    assert window.probabilities is not None and not np.isnan(window.probabilities).any()

    report = check(reference, window)
    assert "age" in report.drifted_features  # the shift the policy refused is seen
    refused = report.refused
    assert (refused.rows, refused.offending_rows, refused.share, refused.exceeded) == (400, 100, 0.4, True)
    assert refused.by_reason == {"out_of_range": 100, "unseen_category": 10}
    assert refused.by_field == {"age": {"out_of_range": 100}, "color": {"unseen_category": 10}}
    text = drift_summary_text(report)
    assert "refused 40.0 % of rows (400; alarm at 5.0 %, reached): out_of_range 100 (age 100)" in text
    assert "refused by the serving policy" in drift_report_html(report)
    assert DriftReport.model_validate_json(report.model_dump_json()) == report


def test_the_refused_share_flags_only_at_its_threshold_and_with_enough_rows(reference: Reference) -> None:
    def window(answered: int, refused: int) -> CapturedWindow:
        stored: dict[str, bytes] = {}
        buffer = CaptureBuffer(write=stored.__setitem__, default_sample_rate=1.0, max_rows=10_000)
        traffic = draw(41, answered + refused)
        if answered:
            _captured(buffer, traffic, 0, answered)
        if refused:
            _refused(buffer, traffic, answered, refused, [{"score": "out_of_range"}] * refused)
        buffer.flush()
        return CapturedWindow.from_batches([read_capture(data) for data in stored.values()])

    assert not check(reference, window(960, 40)).refused.exceeded  # 4 % < 5 %
    assert check(reference, window(950, 50)).refused.exceeded  # 5 %: reached
    strict = DriftConfig(refused_share_threshold=0.5)
    assert not check(reference, window(950, 50), strict).refused.exceeded
    small = check(reference, window(0, 50))  # every row refused, but 50 rows say little
    assert small.status == "insufficient_data" and small.refused.share == 1.0 and not small.refused.exceeded
    assert check(reference, window(300, 0)).refused == check(reference, window_of(draw(42, 300))).refused


def test_batches_written_before_refused_rows_were_captured_read_as_all_answered(reference: Reference) -> None:
    window = window_of(draw(43, 300))  # format 1: no `answered`, no `refused:` arrays
    assert (window.rows, window.refused_rows, window.refusals) == (300, 0, {})
    assert window.predictions is not None and window.predictions.size == 300


def test_a_refused_share_past_its_threshold_mails_the_model_and_fields_even_without_drift(
    reference: Reference,
) -> None:
    """Found by a newcomer: the RefusedShare alarm is stack-wide, so its mail named no model; the
    check's own mail does, with the fields and what to do."""
    from mlops.monitoring.checks import check_notification

    stored: dict[str, bytes] = {}
    buffer = CaptureBuffer(write=stored.__setitem__, default_sample_rate=1.0, max_rows=10_000)
    traffic = draw(51, 1_000)
    _captured(buffer, traffic, 0, 900)
    _refused(buffer, traffic, 900, 100, [{"score": "out_of_range"}] * 100)
    buffer.flush()
    report = check(reference, CapturedWindow.from_batches([read_capture(data) for data in stored.values()]))
    assert not report.dataset_drift and report.refused.exceeded
    mail = check_notification(report, "churn", 3, "s3://reports/x.html", "No retraining: -")
    assert mail is not None
    subject, text = mail
    assert subject == "Refused traffic: churn v3"
    assert "refused 10.0 % of rows (100; alarm at 5.0 %, reached): out_of_range 100 (score 100)" in text
    assert "serving.out_of_range / serving.unseen_category to warn" in text and "s3://reports/x.html" in text
    calm = check(reference, window_of(draw(52, 600)))
    assert check_notification(calm, "churn", 3, "p", "r") is None
