"""Does the ONNX model answer as scikit-learn does? The comparison, on arrays only.

The export step (training layer: scikit-learn, skl2onnx) records scikit-learn's answers on the test
split as a `ParityInput`; the parity step (inference layer: onnxruntime) runs the ONNX model on the
same rows and compares here. Neither layer holds both libraries: together they are over Lambda's
250 MB, so this module imports neither, only numpy and pydantic.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mlops.datasets.versioning import npz_with_meta, read_npz_with_meta

WORST_ROWS = 5
# Beside the run's model.onnx: the export step writes the first, the parity step the second.
PARITY_INPUT = "parity_input.npz"
PARITY_ATTEMPTS = "parity_attempts.json"


class ParityLimits(BaseModel):
    """The config's `parity` section, as the parity step receives it."""

    model_config = ConfigDict(extra="ignore")

    max_abs_probability_diff: float = 1e-4
    max_relative_regression_diff: float = 1e-4
    min_label_agreement: float = 0.999


class ParityInput(BaseModel):
    """The rows and scikit-learn's answers on them: what the parity step needs, as one .npz object."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: Literal["classification", "regression"]
    x: Any  # float32 rows, as served
    row_ids: Any | None = None  # row numbers in the dataset version
    labels: Any | None = None  # classification: int64
    probabilities: Any | None = None  # classification: float64 (rows x classes)
    values: Any | None = None  # regression: float64
    limits: ParityLimits = Field(default_factory=ParityLimits)

    def to_bytes(self) -> bytes:
        arrays = {name: getattr(self, name) for name in ("x", "row_ids", "labels", "probabilities", "values")}
        return npz_with_meta(arrays, {"kind": self.kind, "limits": self.limits.model_dump()})

    @classmethod
    def from_bytes(cls, data: bytes) -> ParityInput:
        meta, arrays = read_npz_with_meta(data)
        return cls(kind=meta["kind"], limits=ParityLimits.model_validate(meta["limits"]), **arrays)


class ParityCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    observed: float | None
    threshold: float
    passed: bool


class WorstRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="position in the checked matrix")
    row: int | None = Field(default=None, description="row number in the dataset version, when known")
    sklearn: Any = Field(description="regression: value; classification: {label, probabilities}")
    onnx: Any
    diff: float | None = Field(description="|Δ| (max over classes for probabilities); null if not comparable")


class ParityReport(BaseModel):
    """The parity step's JSON output (parity.json beside the model)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["classification", "regression"]
    rows: int
    passed: bool
    checks: list[ParityCheck]
    max_abs_probability_diff: float | None = None
    label_agreement: float | None = None
    max_relative_diff: float | None = None
    max_abs_diff: float | None = None
    worst_rows: list[WorstRow] = Field(default_factory=list, description="largest differences first")
    error: str | None = None


def _finite_max(values: NDArray[Any]) -> float:
    return float(np.nan_to_num(values, nan=np.inf).max()) if values.size else 0.0


def _tied(
    proba: NDArray[np.float64], a: NDArray[np.int64], b: NDArray[np.int64], tolerance: float
) -> NDArray[np.bool_]:
    """Rows where classes `a` and `b` both hold the top probability (within `tolerance`)."""
    n, k = proba.shape if proba.ndim == 2 else (proba.shape[0], 0)
    if not n or not k:
        return np.zeros(n, dtype=bool)
    rows = np.arange(n)
    top = proba.max(axis=1)
    valid = (a >= 0) & (a < k) & (b >= 0) & (b < k)
    near_a = top - proba[rows, np.clip(a, 0, k - 1)] <= tolerance
    near_b = top - proba[rows, np.clip(b, 0, k - 1)] <= tolerance
    return np.asarray(valid & near_a & near_b, dtype=bool)


def failed_report(reference: ParityInput, error: str) -> ParityReport:
    """A model serving cannot load fails parity; it is not a crash."""
    return ParityReport(
        kind=reference.kind, rows=int(np.asarray(reference.x).shape[0]), passed=False, checks=[], error=error
    )


def compare(reference: ParityInput, outputs: list[Any]) -> ParityReport:
    """Compare the ONNX model's `outputs` on `reference.x` with scikit-learn's answers: classification
    by max |Δprobability| and label agreement, regression by relative difference (to the row's
    value, or to the mean magnitude of predictions when the row's value is smaller, so values near 0
    do not explode)."""
    limits = reference.limits
    n = int(np.asarray(reference.x).shape[0])
    row_ids = reference.row_ids

    def row_id(i: int) -> int | None:
        return int(row_ids[i]) if row_ids is not None else None

    if reference.kind == "classification":
        sk_proba = np.asarray(reference.probabilities, dtype=np.float64)
        sk_label = np.asarray(reference.labels).astype(np.int64)
        ox_label = np.asarray(outputs[0]).astype(np.int64).reshape(-1)
        ox_proba = np.asarray(outputs[1], dtype=np.float64)
        per_row = np.nan_to_num(np.abs(ox_proba - sk_proba), nan=np.inf).max(axis=1) if n else np.zeros(0)
        # A label flip between classes whose scikit-learn probabilities tie (within the probability
        # tolerance, e.g. an even tree vote) is an argmax tie-break, not a disagreement.
        mismatch = (ox_label != sk_label) & ~_tied(sk_proba, sk_label, ox_label, limits.max_abs_probability_diff)
        max_diff = _finite_max(per_row)
        agreement = float(1.0 - mismatch.mean()) if n else 1.0
        checks = [
            ParityCheck(
                name="max_abs_probability_diff",
                observed=max_diff,
                threshold=limits.max_abs_probability_diff,
                passed=max_diff <= limits.max_abs_probability_diff,
            ),
            ParityCheck(
                name="label_agreement",
                observed=agreement,
                threshold=limits.min_label_agreement,
                passed=agreement >= limits.min_label_agreement,
            ),
        ]
        order = np.lexsort((np.arange(n), -per_row, ~mismatch))[:WORST_ROWS]
        worst = [
            WorstRow(
                index=int(i),
                row=row_id(int(i)),
                sklearn={"label": int(sk_label[i]), "probabilities": [float(p) for p in sk_proba[i]]},
                onnx={"label": int(ox_label[i]), "probabilities": [float(p) for p in ox_proba[i]]},
                diff=float(per_row[i]),
            )
            for i in order
        ]
        return ParityReport(
            kind="classification",
            rows=n,
            passed=all(c.passed for c in checks),
            checks=checks,
            max_abs_probability_diff=max_diff,
            label_agreement=agreement,
            worst_rows=worst,
        )

    sk_value = np.asarray(reference.values, dtype=np.float64).reshape(-1)
    ox_value = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
    absolute = np.nan_to_num(np.abs(ox_value - sk_value), nan=np.inf)
    scale = np.maximum(np.abs(sk_value), max(float(np.abs(sk_value).mean()) if n else 0.0, np.finfo(np.float64).tiny))
    relative = absolute / scale
    max_rel = _finite_max(relative)
    checks = [
        ParityCheck(
            name="max_relative_regression_diff",
            observed=max_rel,
            threshold=limits.max_relative_regression_diff,
            passed=max_rel <= limits.max_relative_regression_diff,
        )
    ]
    order = np.lexsort((np.arange(n), -relative))[:WORST_ROWS]
    worst = [
        WorstRow(
            index=int(i),
            row=row_id(int(i)),
            sklearn=float(sk_value[i]),
            onnx=float(ox_value[i]),
            diff=float(relative[i]),
        )
        for i in order
    ]
    return ParityReport(
        kind="regression",
        rows=n,
        passed=checks[0].passed,
        checks=checks,
        max_relative_diff=max_rel,
        max_abs_diff=_finite_max(absolute),
        worst_rows=worst,
    )


# The config field that relaxes each check, named in a failure so the user knows what to change.
RELAXED_BY = {
    "max_abs_probability_diff": "parity.max_abs_probability_diff",
    "label_agreement": "parity.min_label_agreement",
    "max_relative_regression_diff": "parity.max_relative_regression_diff",
}


class ParityAttempt(BaseModel):
    """One candidate's parity, in the order the run tried them (best validation metric first): a run
    fails parity only when every candidate it could export fails."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(description="1 for the best candidate by the selection metric")
    candidate: str
    estimator: str
    passed: bool
    failed_checks: list[ParityCheck] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, rank: int, candidate: str, estimator: str, parity: ParityReport) -> ParityAttempt:
        return cls(
            rank=rank,
            candidate=candidate,
            estimator=estimator,
            passed=parity.passed,
            failed_checks=[c for c in parity.checks if not c.passed],
            error=parity.error,
        )

    def summary(self) -> str:
        """'hgb (HistGradientBoostingClassifier): max_abs_probability_diff 0.0095 > 0.0001 (parity.max_…)'"""
        if self.passed:
            return f"{self.candidate} ({self.estimator}): matches"
        if self.error:
            return f"{self.candidate} ({self.estimator}): {self.error}"
        checks = "; ".join(
            f"{c.name} {c.observed:.3g} {'<' if c.name == 'label_agreement' else '>'} {c.threshold:g} "
            f"(limit set by {RELAXED_BY.get(c.name, 'parity')})"
            if c.observed is not None
            else f"{c.name} not computed"
            for c in self.failed_checks
        )
        return f"{self.candidate} ({self.estimator}): {checks}"


def record_attempt(attempts: list[ParityAttempt], attempt: ParityAttempt) -> list[ParityAttempt]:
    """`attempts` with `attempt` in its rank's place: a retried parity step rewrites, never duplicates."""
    return sorted([a for a in attempts if a.rank != attempt.rank] + [attempt], key=lambda a: a.rank)


def no_candidate_matches(attempts: list[ParityAttempt]) -> str:
    """The run's failure when no candidate's ONNX export answers as its scikit-learn model does."""
    tried = "; ".join(a.summary() for a in attempts)
    return (
        f"no candidate's ONNX export matches scikit-learn ({len(attempts)} tried, best first): {tried}. "
        "Raise the named limit in the training config if such a difference is acceptable, or drop those "
        "candidates."
    )


def parity_message(parity: ParityReport) -> str:
    """What a failed parity says in the run's failure record and mail ('' when it passed)."""
    if parity.passed:
        return ""
    failing = ", ".join(f"{c.name} {c.observed} (limit {c.threshold})" for c in parity.checks if not c.passed)
    worst = "; ".join(
        f"row {w.row if w.row is not None else w.index}: sklearn {w.sklearn} vs onnx {w.onnx}"
        for w in parity.worst_rows[:5]
    )
    return f"ONNX does not match scikit-learn: {failing or parity.error}. Worst rows: {worst}"
