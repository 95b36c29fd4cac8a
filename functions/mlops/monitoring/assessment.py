"""Performance over time, per version and segment (issue #19, item 3): one check of a model's
labelled predictions over a window, as a typed record.

`assess_performance` is pure (numpy and pydantic, the inference layer): the scheduled function
reads the window's joined hours (`mlops.monitoring.joined.combine`), the answering versions'
test-split figures (`VersionBaseline.from_version`) and the model's `monitoring.performance`
config, and stores what comes back: the JSON report (`PerformanceAssessment.model_dump_json`),
its page (`mlops.monitoring.performance_report`) and the registry's summary row
(`PerformanceAssessment.summary().attributes()`, numbers as DynamoDB takes them).

Champion, challenger and shadow rows are scored apart, per version: each has the training gates'
metrics (`performance_metrics`, classes mapped to their index in the window's `classes`) with a
bootstrap interval (`mlops.monitoring.bootstrap`), the test-split figure beside it, a status
(`insufficient_labels` below `min_labels`, else `below_floor` when a metric is past its floor,
else `ok`), label delay, calibration (classifiers) and a breakdown by the configured segments.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.bootstrap import DEFAULT_RESAMPLES, MAX_RESAMPLES, bootstrap_intervals, max_resample_rows
from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.joined import JoinedHour, select
from mlops.monitoring.performance import Metrics, ProblemType, performance_metrics
from mlops.monitoring.performance_record import (
    MISSING,
    OTHER,
    TOP_CATEGORIES,
    Calibration,
    CalibrationBin,
    LabelDelay,
    MetricFigure,
    PerformanceAssessment,
    Segment,
    SegmentField,
    Status,
    VariantPerformance,
    VersionPerformance,
)
from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.versions import ModelVersion
from mlops.training.metric_names import higher_is_better

VARIANT_ORDER = (CHAMPION, CHALLENGER)  # then the others (shadow) by name
CALIBRATION_BINS = 10
QUARTILES = (0.0, 0.25, 0.5, 0.75, 1.0)  # a numeric segment field's bins
MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class VersionBaseline:
    """What a version scored on its test split when it was trained: the figures live ones are compared with."""

    version: int
    metrics: Mapping[str, float]

    @classmethod
    def from_version(cls, record: ModelVersion) -> VersionBaseline:
        """The registry's record of the version: its `metrics`, the numbers only."""
        numbers = {
            str(name): float(value)
            for name, value in (record.metrics or {}).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        return cls(record.version, numbers)


def problem_type_of(classes: Sequence[str] | None) -> ProblemType:
    """A model's problem type by what it answers (a joined window's `classes`): no classes is a
    regressor, two a binary classifier, more a multiclass one, as training encoded its target."""
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


@dataclass(frozen=True)
class _Rows:
    """Labelled rows in the form the metrics take: classes as indices, probabilities as float64."""

    y: NDArray[Any]
    predictions: NDArray[Any]
    proba: NDArray[np.float64] | None
    k: int | None

    def take(self, mask: NDArray[np.bool_]) -> _Rows:
        return _Rows(self.y[mask], self.predictions[mask], self.proba[mask] if self.proba is not None else None, self.k)


def assess_performance(
    window: JoinedHour | None,
    *,
    model: str,
    problem_type: ProblemType,
    config: PerformanceConfig,
    versions: Mapping[int, VersionBaseline],
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    seed: int,
    resamples: int = DEFAULT_RESAMPLES,
) -> PerformanceAssessment:
    """The check of `window` (the combined joined hours; None: no hour had a label). Every version
    that answered in it is reported (`versions` may name more; a version it lacks has no test
    figures). Deterministic for a given seed."""
    if window is not None and window.model != model:
        raise ValueError(f"the window holds {window.model!r}'s predictions, not {model!r}'s")
    if seed < 0 or not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"seed must be >= 0 and resamples within 1..{MAX_RESAMPLES}")
    notes: list[str] = []
    classes = list(window.classes) if window is not None and window.classes is not None else None
    unscored = 0
    rows: _Rows | None = None
    # Labels about predictions never captured join into an hour with no rows and no classes: nothing
    # to score, and the labels are counted as unmatched below.
    if window is not None and (window.size or window.classes is not None or problem_type == "regression"):
        window, rows, unscored = _scored(window, problem_type)
        if unscored:
            notes.append(f"{unscored} labelled rows left out: a label or prediction not among the model's classes")
    applicable = set(performance_metrics(problem_type, *_probe(problem_type)))
    for name in config.floor:
        if name not in applicable:
            notes.append(f"floor on {name} ignored: a {problem_type} model has no {name}")
    segment_fields, codes = _segment_fields(window, config.segments)
    versions_seen: list[VersionPerformance] = []
    if window is not None and rows is not None:
        answering = sorted({int(v) for v in window.versions.tolist()} | set(window.predicted))
        for version in answering:
            versions_seen.append(
                _version(window, rows, codes, segment_fields, version, problem_type, config, versions, seed, resamples)
            )
    variants = [v for version in versions_seen for v in version.variants]
    status, message = _overall(variants, config)
    return PerformanceAssessment(
        model=model,
        problem_type=problem_type,
        classes=classes,
        checked_at=now.isoformat(),
        window_start=window_start.isoformat(),
        window_end=window_end.isoformat(),
        status=status,
        message=message,
        labelled=window.size if window is not None else 0,
        unscored=unscored,
        label_rows=window.label_rows if window is not None else 0,
        unmatched_labels=window.unmatched_labels if window is not None else 0,
        superseded_labels=window.superseded_labels if window is not None else 0,
        label_delay=_label_delay(window) if window is not None else LabelDelay(),
        versions=versions_seen,
        segment_fields=segment_fields,
        notes=notes,
        method=_method(config.confidence, resamples, seed),
        seed=seed,
        config=config,
    )


def _method(confidence: float, resamples: int, seed: int) -> str:
    most = max_resample_rows(resamples)
    return (
        f"Percentile bootstrap per version and variant: {resamples} resamples of the labelled rows drawn with "
        f"replacement (numpy PCG64 seeded by the check's seed {seed}, the version and the variant); each interval "
        f"holds the central {confidence:.0%} of the resampled figures. Above {most:,} labelled rows the resamples "
        f"are drawn from a random subsample of {most:,} rows and their spread scaled by sqrt(subsample / rows), "
        "centred on the figure of every row (an m-out-of-n bootstrap)."
    )


def _probe(problem_type: ProblemType) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, int | None]:
    """Two rows, to ask performance_metrics which metrics a problem type has."""
    if problem_type == "regression":
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), None, None
    return np.array([0, 1]), np.array([0, 1]), np.array([[0.9, 0.1], [0.1, 0.9]]), 2


def _scored(window: JoinedHour, problem_type: ProblemType) -> tuple[JoinedHour, _Rows, int]:
    """The window's rows that can be scored, as metrics take them, and how many could not."""
    if problem_type == "regression":
        y = np.asarray(window.labels, dtype=np.float64)
        predictions = np.asarray(window.predictions, dtype=np.float64)
        keep = np.isfinite(y) & np.isfinite(predictions)
        kept = select(window, keep)
        return kept, _Rows(y[keep], predictions[keep], None, None), int(np.count_nonzero(~keep))
    if window.classes is None or window.probabilities is None:
        raise ValueError(f"a {problem_type} model's joined rows need its classes and probabilities")
    k = len(window.classes)
    if window.probabilities.shape[1:] != (k,):
        raise ValueError(f"probabilities have {window.probabilities.shape[1:]} columns for {k} classes")
    labels, predicted = _class_index(window.labels, window.classes), _class_index(window.predictions, window.classes)
    proba = window.probabilities.astype(np.float64)
    keep = (labels >= 0) & (predicted >= 0) & np.isfinite(proba).all(axis=1)
    kept = select(window, keep)
    return kept, _Rows(labels[keep], predicted[keep], proba[keep], k), int(np.count_nonzero(~keep))


def _class_index(values: NDArray[Any], classes: Sequence[str]) -> NDArray[np.int64]:
    """Each value's index in `classes` (as training encoded them), -1 for a value not among them."""
    index = {str(c): i for i, c in enumerate(classes)}
    distinct, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    lookup = np.array([index.get(str(d), -1) for d in distinct], dtype=np.int64)
    return lookup[inverse.reshape(-1)] if distinct.size else np.zeros(0, dtype=np.int64)


def _variant_order(variant: str) -> tuple[int, str]:
    return (VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else len(VARIANT_ORDER), variant)


def _version(
    window: JoinedHour,
    rows: _Rows,
    codes: Mapping[str, NDArray[np.int64]],
    segment_fields: Sequence[SegmentField],
    version: int,
    problem_type: ProblemType,
    config: PerformanceConfig,
    baselines: Mapping[int, VersionBaseline],
    seed: int,
    resamples: int,
) -> VersionPerformance:
    baseline = baselines.get(version)
    test = dict(baseline.metrics) if baseline is not None else {}
    of_version = window.versions == version
    variants = []
    for variant in sorted({str(v) for v in window.variants[of_version].tolist()}, key=_variant_order):
        mask = of_version & (window.variants == variant)
        rng = np.random.default_rng([seed, version, zlib.crc32(variant.encode())])
        variants.append(
            _variant(
                window, rows, mask, codes, segment_fields, version, variant, problem_type, config, test, rng, resamples
            )
        )
    labelled = int(np.count_nonzero(of_version))
    predicted = window.predicted.get(version)
    statuses = {v.status for v in variants}
    status: Status = "below_floor" if "below_floor" in statuses else "ok" if "ok" in statuses else "insufficient_labels"
    return VersionPerformance(
        version=version,
        status=status,
        labelled=labelled,
        predicted=predicted,
        coverage=labelled / predicted if predicted else None,
        test_metrics=test,
        variants=variants,
    )


def _variant(
    window: JoinedHour,
    rows: _Rows,
    mask: NDArray[np.bool_],
    codes: Mapping[str, NDArray[np.int64]],
    segment_fields: Sequence[SegmentField],
    version: int,
    variant: str,
    problem_type: ProblemType,
    config: PerformanceConfig,
    test: Mapping[str, float],
    rng: np.random.Generator,
    resamples: int,
) -> VariantPerformance:
    mine = rows.take(mask)
    labelled = int(mine.y.size)
    point = performance_metrics(problem_type, mine.y, mine.predictions, mine.proba, mine.k)
    drawn = bootstrap_intervals(
        problem_type,
        mine.y,
        mine.predictions,
        mine.proba,
        mine.k,
        point,
        confidence=config.confidence,
        resamples=resamples,
        rng=rng,
    )
    floors = {str(metric): value for metric, value in config.floor.items()}
    figures = []
    for name, value in point.items():
        interval = drawn.intervals.get(name)
        floor = floors.get(name)
        better = higher_is_better(name)
        before = test.get(name)
        past = value is not None and floor is not None and (value < floor if better else value > floor)
        figures.append(
            MetricFigure(
                name=name,
                value=value,
                low=interval.low if interval else None,
                high=interval.high if interval else None,
                test=before,
                difference=value - before if value is not None and before is not None else None,
                floor=floor,
                higher_is_better=better,
                past_floor=past,
            )
        )
    status, message = _status(figures, labelled, config.min_labels, version, variant)
    return VariantPerformance(
        version=version,
        variant=variant,
        labelled=labelled,
        status=status,
        message=message,
        metrics=figures,
        resamples=drawn.resamples,
        resample_rows=drawn.rows,
        label_delay=_label_delay(select(window, mask)),
        calibration=_calibration(mine) if mine.proba is not None else None,
        segments=_segments(mine, {name: c[mask] for name, c in codes.items()}, segment_fields, problem_type),
    )


def _status(
    figures: Sequence[MetricFigure], labelled: int, min_labels: int, version: int, variant: str
) -> tuple[Status, str]:
    past = "; ".join(_past_floor(f) for f in figures if f.past_floor)
    who = f"v{version} ({variant})"
    if labelled < min_labels:
        unsure = f" (on these rows {past})" if past else ""
        return "insufficient_labels", f"{who}: {labelled} labelled rows, {min_labels} needed{unsure}"
    if past:
        return "below_floor", f"{who}, {labelled} labelled rows: {past}"
    return "ok", f"{who}, {labelled} labelled rows: within its floors"


def _past_floor(figure: MetricFigure) -> str:
    """'accuracy 0.812 below the floor 0.85', 'log_loss 0.61 above the ceiling 0.5'."""
    side = "below the floor" if figure.higher_is_better else "above the ceiling"
    return f"{figure.name} {_text(figure.value)} {side} {_text(figure.floor)}"


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _overall(variants: Sequence[VariantPerformance], config: PerformanceConfig) -> tuple[Status, str]:
    below = [v for v in variants if v.status == "below_floor"]
    if below:
        return "below_floor", "; ".join(v.message for v in below)
    scored = [v for v in variants if v.status == "ok"]
    if scored:
        return "ok", f"{len(scored)} of {len(variants)} versions and variants scored, all within their floors"
    most = max((v.labelled for v in variants), default=0)
    return "insufficient_labels", (
        f"too few labels: at most {most} labelled rows for a version and variant, {config.min_labels} needed"
    )


def _label_delay(window: JoinedHour) -> LabelDelay:
    if window.size == 0:
        return LabelDelay()
    hours = (window.labelled_ms - window.answered_ms).astype(np.float64) / MS_PER_HOUR
    median, p90 = np.quantile(hours, [0.5, 0.9])
    return LabelDelay(median_hours=float(median), p90_hours=float(p90))


def _calibration(rows: _Rows) -> Calibration:
    """Ten bins of the predicted class's probability: how often the prediction was right in each."""
    assert rows.proba is not None
    n = rows.y.size
    confidence = rows.proba[np.arange(n), rows.predictions]
    right = (rows.y == rows.predictions).astype(np.float64)
    which = np.clip((confidence * CALIBRATION_BINS).astype(np.int64), 0, CALIBRATION_BINS - 1)
    counts = np.bincount(which, minlength=CALIBRATION_BINS)
    predicted = np.bincount(which, weights=confidence, minlength=CALIBRATION_BINS)
    observed = np.bincount(which, weights=right, minlength=CALIBRATION_BINS)
    bins = [
        CalibrationBin(
            low=i / CALIBRATION_BINS,
            high=(i + 1) / CALIBRATION_BINS,
            rows=int(counts[i]),
            mean_predicted=float(predicted[i] / counts[i]) if counts[i] else None,
            observed=float(observed[i] / counts[i]) if counts[i] else None,
        )
        for i in range(CALIBRATION_BINS)
    ]
    error = float(np.abs(predicted - observed).sum() / n) if n else None
    return Calibration(bins=bins, error=error)


def _segment_fields(
    window: JoinedHour | None, names: Sequence[str]
) -> tuple[list[SegmentField], dict[str, NDArray[np.int64]]]:
    """Each configured field's segments over the whole window (so versions compare segment by
    segment), and each row's segment index in it."""
    fields: list[SegmentField] = []
    codes: dict[str, NDArray[np.int64]] = {}
    for name in names:
        kind = window.fields.get(name) if window is not None else None
        if window is None or kind is None:
            note = "no labelled rows" if window is None else "not among the captured inputs"
            fields.append(SegmentField(name=name, kind=None, segments=[], note=note))
            continue
        if kind == "numeric":
            field, codes[name] = _quartiles(name, np.asarray(window.inputs[name], dtype=np.float64))
        else:
            field, codes[name] = _categories(name, window.inputs[name], window.missing[name])
        fields.append(field)
    return fields, codes


def _categories(name: str, values: NDArray[Any], missing: NDArray[np.bool_]) -> tuple[SegmentField, NDArray[np.int64]]:
    present = ~missing
    distinct, inverse, counts = np.unique(values[present].astype(str), return_inverse=True, return_counts=True)
    ranked = sorted(range(distinct.size), key=lambda i: (-int(counts[i]), str(distinct[i])))
    top = ranked[:TOP_CATEGORIES]
    labels = [str(distinct[i]) for i in top]
    place = np.full(distinct.size, len(top), dtype=np.int64)  # the rest: "other"
    place[top] = np.arange(len(top))
    if distinct.size > len(top):
        labels.append(OTHER)
    codes = np.full(values.size, -1, dtype=np.int64)
    codes[present] = place[inverse.reshape(-1)]
    if missing.any():
        codes[missing] = len(labels)
        labels.append(MISSING)
    return SegmentField(name=name, kind="categorical", segments=labels), codes


def _quartiles(name: str, values: NDArray[np.float64]) -> tuple[SegmentField, NDArray[np.int64]]:
    present = np.isfinite(values)
    codes = np.full(values.size, -1, dtype=np.int64)
    labels: list[str] = []
    edges: list[float] = []
    if present.any():
        edges = [float(e) for e in np.unique(np.quantile(values[present], QUARTILES))]
        if len(edges) == 1:
            labels = [f"= {edges[0]:.4g}"]
            codes[present] = 0
        else:
            labels = [
                f"[{low:.4g}, {high:.4g}{']' if i == len(edges) - 2 else ')'}"
                for i, (low, high) in enumerate(itertools.pairwise(edges))
            ]
            codes[present] = np.searchsorted(np.asarray(edges[1:-1]), values[present], side="right")
    if (~present).any():
        codes[~present] = len(labels)
        labels.append(MISSING)
    return SegmentField(name=name, kind="numeric", segments=labels, edges=edges or None), codes


def _segments(
    rows: _Rows, codes: Mapping[str, NDArray[np.int64]], fields: Sequence[SegmentField], problem_type: ProblemType
) -> list[Segment]:
    found = []
    for field in fields:
        if field.name not in codes:
            continue
        mine = codes[field.name]
        for index, label in enumerate(field.segments):
            inside = mine == index
            count = int(np.count_nonzero(inside))
            if count == 0:
                continue
            part = rows.take(inside)
            metrics: Metrics = performance_metrics(problem_type, part.y, part.predictions, part.proba, part.k)
            found.append(Segment(field=field.name, value=label, rows=count, metrics=metrics))
    return found
