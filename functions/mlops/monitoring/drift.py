"""Drift checks: a window of captured traffic against the version's reference profile.

Per feature, the statistic fits the sample size and the type (as Evidently's data-drift preset):

- up to `small_sample_rows` non-missing values, a test at `p_value`: two-sample Kolmogorov-Smirnov
  for numbers (the sketch's CDF against the window's ECDF, p from the Kolmogorov distribution with
  the effective size n·m/(n+m)), Pearson's chi-square test of homogeneity for categories (the
  reference's counts against the window's, rare cells pooled to an expected count of 5);
- above that, a distance with a threshold, since with huge samples every test rejects shifts far
  too small to matter: the Wasserstein-1 distance divided by the reference's standard deviation
  (0.1: the mass moved a tenth of a standard deviation on average) for numbers, the Jensen-Shannon
  distance (natural log, as scipy and Evidently, so 0.1 means the same) for categories. Its cells
  are categories with 50 values expected or seen in the window, the rest pooled: sampling noise
  alone gives a JS distance of about sqrt((k - 1) / 8n) for k cells, and with at most 2n / 50
  cells that stays under 0.071, while a rare category that became common keeps its own cell.

A feature also drifts when its missing rate moved by `missing_rate_threshold` or more (and a
two-proportion test agrees at `p_value`, so a small window's noise does not count), or when more
than `new_category_share` of its values are categories the reference never saw. When the reference
folded its rarest categories into `__other__`, a value outside its list may be one of those: it
counts as `__other__`, never as new.

Rows the serving policy refused (captured without a prediction) count like answered ones in every
feature's distribution, out-of-range and unseen values included: the check sees the same traffic
whatever the policy, and a shift that the policy refuses is exactly the drift to see. They are left
out of prediction drift (there is no prediction) and reported on their own: the refused share (rows
of refused requests / captured rows), by reason and by field, flagged at `refused_share_threshold`.

Prediction drift compares the predicted classes (as a categorical feature) and the score the profile
sketched (as a numeric one). Dataset drift: the share of drifted features (the prediction counted as
one more when `prediction_drift` is on) reaches `dataset_drift_share`. The report's status is
`drift` exactly then: single features drift by chance at about the `p_value` rate each.

The check's parts: `config` (the decision's levels), `window` (the captured rows), `statistics`
(the tests and distances, numpy only: the drift function's layer has no scipy) and `report` (the
result and its page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.config import DriftConfig
from mlops.monitoring.profile import (
    OTHER,
    CategoricalProfile,
    NumericProfile,
    PredictionProfile,
    QuantileSketch,
    ReferenceProfile,
)
from mlops.monitoring.report import (
    DriftReport,
    FeatureDrift,
    PredictionDrift,
    RefusedTraffic,
    TestName,
    by_severity,
)
from mlops.monitoring.statistics import (
    categorical_histogram,
    chi_square_homogeneity,
    chi_square_sf,
    compare_categorical,
    compare_numeric,
    jensen_shannon_distance,
    ks_p_value,
    pooled_cells,
    sketch_moments,
    two_proportion_p_value,
)
from mlops.monitoring.window import CapturedWindow

CHI_SQUARE_MIN_EXPECTED = 5.0  # the textbook rule for the chi-square approximation
JENSEN_SHANNON_MIN_EXPECTED = 50.0  # keeps the JS distance's sampling noise well under the default threshold


# ---------------------------------------------------------------------------------------- one feature


def _missing_rate(
    reference_rate: float, reference_rows: int, missing: int, rows: int, config: DriftConfig
) -> tuple[float, float | None, bool]:
    current = missing / rows if rows else 0.0
    if rows == 0:
        return current, None, False
    p = two_proportion_p_value(reference_rate, max(reference_rows, 1), current, rows)
    drifted = abs(current - reference_rate) >= config.missing_rate_threshold and p < config.p_value
    return current, p, drifted


def _numeric_feature(
    name: str,
    sketch: QuantileSketch,
    std: float | None,
    values: NDArray[Any],
    config: DriftConfig,
    *,
    missing_rate: float,
    reference_rows: int,
    mean: float | None = None,
) -> FeatureDrift:
    comparison = compare_numeric(sketch, std, values, mean=mean)
    rows = int(np.asarray(values).shape[0])
    current_rate, rate_p, rate_drifted = _missing_rate(
        missing_rate, reference_rows, rows - comparison.present, rows, config
    )
    test: TestName | None = None
    statistic, threshold, p_value, drifted = 0.0, config.p_value, None, False
    if comparison.present and sketch.count:
        if comparison.present <= config.small_sample_rows:
            test, statistic = "ks", comparison.ks
            p_value = ks_p_value(statistic, comparison.present, sketch.count)
            drifted = p_value < config.p_value
        else:
            test, statistic, threshold = "wasserstein", comparison.wasserstein, config.wasserstein_threshold
            drifted = statistic >= threshold
    return FeatureDrift(
        name=name,
        kind="numeric",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        distribution_drifted=drifted,
        drifted=drifted or rate_drifted,
        rows=rows,
        present=comparison.present,
        reference_count=sketch.count,
        ks_statistic=comparison.ks if test is not None else None,
        wasserstein=comparison.wasserstein if test is not None else None,
        missing_rate_reference=missing_rate,
        missing_rate_current=current_rate,
        missing_rate_p_value=rate_p,
        missing_rate_drifted=rate_drifted,
        histogram=comparison.histogram,
        note=None if test is not None else "no values to compare",
    )


def _categorical_feature(
    name: str,
    frequencies: Mapping[str, float],
    reference_count: int,
    values: NDArray[Any],
    missing: NDArray[np.bool_],
    config: DriftConfig,
    *,
    missing_rate: float,
    reference_rows: int,
) -> FeatureDrift:
    rows = int(np.asarray(values).shape[0])
    comparison = compare_categorical(frequencies, np.asarray(values)[~missing])
    current_rate, rate_p, rate_drifted = _missing_rate(
        missing_rate, reference_rows, rows - comparison.present, rows, config
    )
    n, m = comparison.present, reference_count
    test: TestName | None = None
    statistic, threshold, p_value, drifted = 0.0, config.p_value, None, False
    if n and m:
        effective = n * m / (n + m)
        if n <= config.small_sample_rows:
            reference, current = pooled_cells(
                comparison.reference, comparison.current, effective, CHI_SQUARE_MIN_EXPECTED
            )
            statistic, dof = chi_square_homogeneity(reference, current, m)
            test, p_value = "chi_square", chi_square_sf(statistic, dof)
            drifted = p_value < config.p_value
        else:
            reference, current = pooled_cells(
                comparison.reference, comparison.current, effective, JENSEN_SHANNON_MIN_EXPECTED, keep_observed=True
            )
            test, threshold = "jensen_shannon", config.jensen_shannon_threshold
            statistic = jensen_shannon_distance(reference, current)
            drifted = statistic >= threshold
    new_drifted = bool(comparison.new_categories) and comparison.new_share > config.new_category_share
    return FeatureDrift(
        name=name,
        kind="categorical",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        distribution_drifted=drifted,
        drifted=drifted or rate_drifted or new_drifted,
        rows=rows,
        present=n,
        reference_count=m,
        missing_rate_reference=missing_rate,
        missing_rate_current=current_rate,
        missing_rate_p_value=rate_p,
        missing_rate_drifted=rate_drifted,
        new_categories=comparison.new_categories,
        new_category_share=comparison.new_share,
        new_categories_drifted=new_drifted,
        histogram=categorical_histogram(comparison) if m else None,
        note=None if test is not None else "no values to compare",
    )


def _as_categories(
    values: NDArray[np.float64], profile: CategoricalProfile
) -> tuple[NDArray[np.str_], NDArray[np.bool_]]:
    """Numbers captured for a categorically profiled field: a bool (captured 1.0 / 0.0, profiled as
    "true" / "false"), or numbers spelled as the dataset spells integers."""
    missing = np.isnan(values)
    if set(profile.frequencies) <= {"true", "false", OTHER}:
        text = np.where(values == 1.0, "true", np.where(values == 0.0, "false", values.astype(str)))
    else:
        integral = np.isfinite(values) & (values == np.round(values))
        text = np.where(integral, np.where(integral, values, 0).astype(np.int64).astype(str), values.astype(str))
    return np.where(missing, "", text).astype(str), missing


def _as_numbers(text: NDArray[np.str_], missing: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Text captured for a numerically profiled field (a schema change): numbers that parse, else missing."""
    values = np.full(text.shape, np.nan)
    for i, value in enumerate(text.tolist()):
        if not missing[i]:
            try:
                values[i] = float(value)
            except ValueError:
                continue
    return values


def _feature_drift(
    name: str,
    profile: NumericProfile | CategoricalProfile,
    window: CapturedWindow,
    config: DriftConfig,
    reference_rows: int,
) -> FeatureDrift:
    captured_as = window.fields.get(name)
    if isinstance(profile, NumericProfile):
        values = (
            window.numeric[name]
            if captured_as == "numeric"
            else _as_numbers(window.categorical[name], window.missing[name])
        )
        return _numeric_feature(
            name,
            profile.sketch,
            profile.std,
            values,
            config,
            missing_rate=profile.missing_rate,
            reference_rows=reference_rows,
            mean=profile.mean,
        )
    if captured_as == "numeric":
        categories, missing = _as_categories(window.numeric[name], profile)
    else:
        categories, missing = window.categorical[name], window.missing[name]
    return _categorical_feature(
        name,
        profile.frequencies,
        profile.count,
        categories,
        missing,
        config,
        missing_rate=profile.missing_rate,
        reference_rows=reference_rows,
    )


# ------------------------------------------------------------------------------------------ predictions


def _scores(profile: PredictionProfile, window: CapturedWindow) -> NDArray[np.float64] | None:
    if profile.score == "prediction":
        if window.predictions is None or window.predictions.dtype.kind not in "fiu":
            return None
        return np.asarray(window.predictions, dtype=np.float64)
    proba = window.probabilities
    if proba is None or proba.ndim != 2 or proba.shape[0] == 0:
        return None
    if profile.score == "positive_probability":
        return np.asarray(proba[:, 1], dtype=np.float64) if proba.shape[1] > 1 else None
    return np.asarray(proba.max(axis=1), dtype=np.float64)


def _prediction_drift(profile: PredictionProfile, window: CapturedWindow, config: DriftConfig) -> PredictionDrift:
    classes: FeatureDrift | None = None
    if profile.class_frequencies is not None and window.predictions is not None and window.predictions.size:
        labels = np.asarray(window.predictions).astype(str)
        classes = _categorical_feature(
            "predicted class",
            profile.class_frequencies,
            profile.count,
            labels,
            np.zeros(labels.shape, dtype=bool),
            config,
            missing_rate=0.0,
            reference_rows=profile.count,
        )
    score: FeatureDrift | None = None
    values = _scores(profile, window)
    if values is not None and values.size:
        _, std = sketch_moments(profile.sketch.values)
        score = _numeric_feature(
            f"score ({profile.score})",
            profile.sketch,
            std,
            values,
            config,
            missing_rate=0.0,
            reference_rows=profile.count,
        )
    drifted = any(f is not None and f.drifted for f in (classes, score))
    return PredictionDrift(kind=profile.kind, score_name=profile.score, classes=classes, score=score, drifted=drifted)


# ---------------------------------------------------------------------------------------------- check


def refused_traffic(window: CapturedWindow, config: DriftConfig) -> RefusedTraffic:
    """The window's refused rows by reason and field; flagged only with enough rows to mean something."""
    share = window.refused_rows / window.rows if window.rows else 0.0
    by_reason: dict[str, int] = {}
    by_field: dict[str, dict[str, int]] = {}
    for (name, why), count in sorted(window.refusals.items()):
        by_reason[why] = by_reason.get(why, 0) + count
        by_field.setdefault(name, {})[why] = count
    return RefusedTraffic(
        rows=window.refused_rows,
        share=share,
        offending_rows=window.offending_rows,
        by_reason=by_reason,
        by_field=by_field,
        threshold=config.refused_share_threshold,
        exceeded=window.rows >= config.min_rows and window.refused_rows > 0 and share >= config.refused_share_threshold,
    )


def check_drift(
    profile: ReferenceProfile,
    window: CapturedWindow,
    config: DriftConfig,
    *,
    model: str,
    version: int,
    checked_at: str,
    window_start: str | None,
    window_end: str | None,
) -> DriftReport:
    """Every profiled feature and the predictions of `window` against `profile`."""
    base: dict[str, Any] = {
        "model": model,
        "version": version,
        "checked_at": checked_at,
        "window_start": window_start,
        "window_end": window_end,
        "rows": window.rows,
        "reference_rows": profile.rows,
        "refused": refused_traffic(window, config),
        "config": config,
    }
    if window.rows < config.min_rows:
        return DriftReport(
            **base,
            status="insufficient_data",
            message=f"insufficient data: {window.rows} rows captured, {config.min_rows} needed; nothing is flagged",
            features=[],
            prediction=None,
            drifted_features=[],
            drift_share=0.0,
            dataset_drift=False,
        )
    features: list[FeatureDrift] = []
    not_captured: list[str] = []
    for name, feature_profile in profile.features.items():
        if name not in window.fields:
            not_captured.append(name)
            continue
        features.append(_feature_drift(name, feature_profile, window, config, profile.rows))
    features = by_severity(features)  # the report and its drifted list, worst first
    prediction = _prediction_drift(profile.prediction, window, config) if profile.prediction is not None else None
    if prediction is not None and prediction.classes is None and prediction.score is None:
        prediction = None
    drifted = [f.name for f in features if f.drifted]
    counted = config.prediction_drift and prediction is not None
    compared = len(features) + int(counted)
    drifted_count = len(drifted) + int(counted and prediction is not None and prediction.drifted)
    share = drifted_count / compared if compared else 0.0
    dataset_drift = compared > 0 and share >= config.dataset_drift_share
    what = f"{drifted_count} of {compared}" + (f" ({len(features)} features and the prediction)" if counted else "")
    if dataset_drift:
        message = f"dataset drift: {what} drifted ({share:.0%}), at least {config.dataset_drift_share:.0%}"
    else:
        message = f"no dataset drift: {what} drifted ({share:.0%}), below {config.dataset_drift_share:.0%}"
    if not_captured:
        message += f"; not captured: {', '.join(not_captured)}"
    return DriftReport(
        **base,
        status="drift" if dataset_drift else "ok",
        message=message,
        features=features,
        prediction=prediction,
        drifted_features=drifted,
        drift_share=share,
        dataset_drift=dataset_drift,
        not_captured=not_captured,
    )
