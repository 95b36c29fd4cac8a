"""The quality gate: what a trained model must achieve before it is registered (and, with
`promotion: auto`, promoted). Pure: figures in, one verdict per gate out, no I/O.

Gates:
- `absolute.<metric>.min|max`: a test metric's bound.
- `max_regression.<metric>`: no worse than the current champion by more than the tolerance (in the
  metric's units, direction-aware), both scored on the same rows of this run's test split (the
  champion's ONNX model, in the score-champion step). No champion yet: passes, with a note.
- `max_segment_gap`: the worst segment's selection metric is no worse than the overall one by more
  than the tolerance; segments under `min_segment_rows` test rows are too noisy to gate and are named
  in the message instead.
- `latency_budget_ms_per_row`: onnxruntime p99 per row within the budget.
A metric that could not be computed fails its gate: unknown is not good enough.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from mlops.training.config import QualityGates, TrainingConfig, higher_is_better


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    passed: bool
    observed: float | None
    threshold: float | None
    message: str


class GateReport(BaseModel):
    """evaluate_gates' JSON output."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    results: list[GateResult]

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _segments(segment_metrics: Sequence[Any]) -> list[tuple[str, int, Mapping[str, float | None]]]:
    table = []
    for entry in segment_metrics:
        data = entry.model_dump() if isinstance(entry, BaseModel) else entry
        table.append((str(data["segment"]), int(data["rows"]), data["metrics"]))
    return table


def _baseline_gate(
    observed: float | None,
    baseline: float | None,
    margin: float,
    metric: str,
    *,
    lower: float | None = None,
    confidence: float | None = None,
) -> GateResult:
    name = "beats_baseline"
    if observed is None or baseline is None:
        missing = "the model's" if observed is None else "the baseline's"
        return GateResult(
            name=name,
            passed=False,
            observed=observed,
            threshold=baseline,
            message=f"{missing} {metric} was not computed",
        )
    gain = observed - baseline if higher_is_better(metric) else baseline - observed
    ok = gain > 0 and gain >= margin
    sure = confidence is None or lower is None or lower > margin
    threshold = baseline + margin if higher_is_better(metric) else baseline - margin
    message = (
        f"{metric} {_fmt(observed)} vs {_fmt(baseline)} for a trivial model (class prior / mean): "
        + (f"better by {_fmt(gain)}" if gain > 0 else f"no better (by {_fmt(-gain)})")
        + (f", margin {_fmt(margin)}" if margin else "")
    )
    if ok and confidence is not None and lower is not None:
        message += (
            f"; at {confidence:.0%} confidence better by at least {_fmt(lower)}"
            if sure
            else f", but the gain's {confidence:.0%} lower bound is {_fmt(lower)}: within noise of a trivial model "
            "(more test rows, a better model, or quality_gates.baseline_confidence)"
        )
    return GateResult(name=name, passed=ok and sure, observed=observed, threshold=threshold, message=message)


def evaluate_gates(
    metrics: Mapping[str, float | None],
    segment_metrics: Sequence[Any],
    latency: Mapping[str, float] | None,
    gates: QualityGates,
    champion_metrics: Mapping[str, float | None] | None,
    *,
    selection_metric: str,
    baseline_metrics: Mapping[str, float | None] | None = None,
    predicted_classes: int | None = None,
    metrics_vs_champion: Mapping[str, float | None] | None = None,
    champion_basis: str | None = None,
    baseline_lower: float | None = None,
) -> GateReport:
    """One GateResult per configured gate; `passed` when all pass (vacuously, with none configured).
    `metrics_vs_champion`: this model's figures on the rows `champion_metrics` were measured on (see
    `champion_basis`), when the champion was scored on this run's test split."""
    results: list[GateResult] = []

    if gates.min_improvement_over_baseline is not None and baseline_metrics is not None:
        results.append(
            _baseline_gate(
                metrics.get(selection_metric),
                baseline_metrics.get(selection_metric),
                gates.min_improvement_over_baseline,
                selection_metric,
                lower=baseline_lower,
                confidence=gates.baseline_confidence,
            )
        )
    if not gates.allow_single_class_predictions and predicted_classes is not None:
        one = predicted_classes <= 1
        results.append(
            GateResult(
                name="predicts_more_than_one_class",
                passed=not one,
                observed=float(predicted_classes),
                threshold=2.0,
                message=(
                    "predicts the same class for every test row, so its labels say nothing"
                    + (
                        f" (its {selection_metric} is {_fmt(metrics.get(selection_metric))})"
                        if metrics.get(selection_metric) is not None
                        else ""
                    )
                    + "; with skewed classes, weigh the rare class (class_weight) or, if you use only its "
                    "probabilities, set quality_gates.allow_single_class_predictions"
                    if one
                    else f"predicts {predicted_classes} classes on the test rows"
                ),
            )
        )

    for metric, bound in gates.absolute.items():
        observed = metrics.get(metric)
        for side, limit in (("min", bound.min), ("max", bound.max)):
            if limit is None:
                continue
            name = f"absolute.{metric}.{side}"
            if observed is None:
                results.append(
                    GateResult(
                        name=name, passed=False, observed=None, threshold=limit, message=f"{metric} was not computed"
                    )
                )
                continue
            ok = observed >= limit if side == "min" else observed <= limit
            relation = (">=" if side == "min" else "<=") if ok else ("<" if side == "min" else ">")
            results.append(
                GateResult(
                    name=name,
                    passed=ok,
                    observed=observed,
                    threshold=limit,
                    message=f"{metric} {_fmt(observed)} {relation} {_fmt(limit)}",
                )
            )

    basis = f" ({champion_basis})" if champion_basis else ""
    for metric, tolerance in gates.max_regression.items():
        name = f"max_regression.{metric}"
        observed = (metrics_vs_champion if metrics_vs_champion is not None else metrics).get(metric)
        champion = champion_metrics.get(metric) if champion_metrics is not None else None
        if champion_metrics is None:
            results.append(
                GateResult(
                    name=name,
                    passed=True,
                    observed=observed,
                    threshold=None,
                    message="no champion yet: nothing to regress against",
                )
            )
            continue
        if champion is None:
            results.append(
                GateResult(
                    name=name,
                    passed=True,
                    observed=observed,
                    threshold=None,
                    message=f"the champion has no {metric}: not compared{basis}",
                )
            )
            continue
        if observed is None:
            results.append(
                GateResult(name=name, passed=False, observed=None, threshold=None, message=f"{metric} was not computed")
            )
            continue
        better_up = higher_is_better(metric)
        threshold = champion - tolerance if better_up else champion + tolerance
        ok = observed >= threshold if better_up else observed <= threshold
        worse_by = (champion - observed) if better_up else (observed - champion)
        results.append(
            GateResult(
                name=name,
                passed=ok,
                observed=observed,
                threshold=threshold,
                message=(
                    f"{metric} {_fmt(observed)} vs champion {_fmt(champion)}{basis}: "
                    + (
                        f"worse by {_fmt(worse_by)}"
                        if worse_by > 0
                        else f"better by {_fmt(-worse_by)}"
                        if worse_by < 0
                        else "the same"
                    )
                    + f" (tolerance {_fmt(tolerance)})"
                ),
            )
        )

    if gates.max_segment_gap is not None:
        name = "max_segment_gap"
        overall = metrics.get(selection_metric)
        table = _segments(segment_metrics)
        gated = [(s, rows, m.get(selection_metric)) for s, rows, m in table if rows >= gates.min_segment_rows]
        small = [s for s, rows, _ in table if rows < gates.min_segment_rows]
        unknown = [s for s, _, v in gated if v is None]
        known = [(s, v) for s, _, v in gated if v is not None]
        note = f"; not gated (< {gates.min_segment_rows} rows): {', '.join(small)}" if small else ""
        if overall is None:
            results.append(
                GateResult(
                    name=name,
                    passed=False,
                    observed=None,
                    threshold=gates.max_segment_gap,
                    message=f"{selection_metric} was not computed",
                )
            )
        elif unknown:
            results.append(
                GateResult(
                    name=name,
                    passed=False,
                    observed=None,
                    threshold=gates.max_segment_gap,
                    message=f"{selection_metric} undefined for segment(s) {', '.join(unknown)}{note}",
                )
            )
        elif not known:
            message = "no segment column" if not table else "no segment large enough to gate"
            results.append(
                GateResult(
                    name=name, passed=True, observed=None, threshold=gates.max_segment_gap, message=message + note
                )
            )
        else:
            sign = 1.0 if higher_is_better(selection_metric) else -1.0
            gaps = [(sign * (overall - v), s, v) for s, v in known]
            gap, worst, value = max(gaps, key=lambda g: (g[0], g[1]))
            ok = gap <= gates.max_segment_gap
            results.append(
                GateResult(
                    name=name,
                    passed=ok,
                    observed=gap,
                    threshold=gates.max_segment_gap,
                    message=(
                        f"worst segment {worst!r}: {selection_metric} {_fmt(value)} vs overall {_fmt(overall)} "
                        f"(gap {_fmt(gap)}, tolerance {_fmt(gates.max_segment_gap)}){note}"
                    ),
                )
            )

    if gates.latency_budget_ms_per_row is not None:
        name = "latency_budget_ms_per_row"
        budget = gates.latency_budget_ms_per_row
        observed = latency.get("p99_ms_per_row") if latency is not None else None
        if observed is None and latency is not None and "p99_ms" in latency:
            observed = latency["p99_ms"] / latency.get("rows", 1.0)
        if observed is None:
            results.append(
                GateResult(name=name, passed=False, observed=None, threshold=budget, message="latency was not measured")
            )
        else:
            ok = observed <= budget
            results.append(
                GateResult(
                    name=name,
                    passed=ok,
                    observed=observed,
                    threshold=budget,
                    message=(
                        f"onnxruntime p99 {_fmt(observed)} ms/row {'within' if ok else 'over'} budget {_fmt(budget)} ms"
                    ),
                )
            )

    return GateReport(passed=all(r.passed for r in results), results=results)


def _comparison_problem(comparison: Any, champion_version: int | None, config: TrainingConfig) -> str | None:
    """Why the champion scored on this run's rows cannot decide max_regression, or None."""
    if comparison is None:
        return "no comparison"
    if champion_version is not None and comparison.version != champion_version:
        return f"it scored v{comparison.version}, and v{champion_version} is champion now"
    if comparison.caveat:
        return str(comparison.caveat)
    minimum = config.quality_gates.min_segment_rows
    if comparison.rows < minimum:
        return f"{comparison.basis}: fewer than {minimum} rows (quality_gates.min_segment_rows)"
    undefined = [
        m
        for m in config.quality_gates.max_regression
        if comparison.metrics.get(m) is None or comparison.champion_metrics.get(m) is None
    ]
    if undefined:
        return f"{', '.join(undefined)} undefined on the {comparison.rows} rows compared ({comparison.basis})"
    return None


def gate_evaluation(
    evaluation: Any,
    latency: Mapping[str, float] | None,
    config: TrainingConfig,
    champion_metrics: Mapping[str, float | None] | None,
    *,
    champion_version: int | None = None,
) -> GateReport:
    """The gates on a run's Evaluation (read by attribute: this module imports no scikit-learn).

    max_regression compares with the champion scored on this run's test rows when the evaluation
    holds that comparison for the current champion (`champion_version`); otherwise with the
    champion's stored figures from its own split (`champion_metrics`), and the message says so."""
    comparison: Any = getattr(evaluation, "champion", None)
    problem = _comparison_problem(comparison, champion_version, config)
    if comparison is not None and problem is None:
        champion, against, basis = comparison.champion_metrics, comparison.metrics, comparison.basis
    elif champion_metrics is not None:
        why = f"; this run's rows were not used: {problem}" if comparison is not None else ""
        champion, against, basis = champion_metrics, None, f"the champion's figures on its own test split{why}"
    else:
        champion, against, basis = None, None, None
    return evaluate_gates(
        evaluation.metrics,
        evaluation.segments,
        latency,
        config.quality_gates,
        champion,
        selection_metric=config.metric,
        baseline_metrics=evaluation.baseline_metrics,
        predicted_classes=evaluation.predicted_classes,
        metrics_vs_champion=against,
        champion_basis=basis,
        baseline_lower=_baseline_lower(evaluation, config),
    )


def _baseline_lower(evaluation: Any, config: TrainingConfig) -> float | None:
    """The gain over the trivial model at the configured confidence, when evaluate measured it."""
    gain: Any = getattr(evaluation, "baseline_gain", None)
    confidence = config.quality_gates.baseline_confidence
    if gain is None or confidence is None or gain.metric != config.metric:
        return None
    lower = gain.lower.get(f"{confidence:g}")
    return float(lower) if lower is not None else None
