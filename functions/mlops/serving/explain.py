"""Per-row contributions of each input field to a model's raw score, for a predict request that asks
`"explain": true`, computed with numpy from the explanation artifact the export step writes
(`mlops.training.explain_export`): no scikit-learn at serving time.

The score explained is the model's raw score before any link: a linear classifier's log-odds (binary)
or the predicted class's logit (multiclass), a gradient boosting classifier's likewise, a random
forest classifier's class probability, and a regressor's prediction. For every row,
`base + sum(contributions) == score` up to float64 rounding (checked against scikit-learn in
tests/unit/training/test_explanations.py).

- Linear models: contribution of column j = coef_j * (x_j - mean_j), x and the training split's mean
  taken after the pipeline's StandardScaler, which is applied in float32 as scikit-learn applies it
  (`scaled_rows`); base = intercept + coef . mean. Exact.
- Tree ensembles: exact path-dependent TreeSHAP (mlops.serving.tree_shap) when the request is
  small enough for it, TREE_SHAP_BUDGET units of rows x the sum over leaves of their path length
  squared (about a quarter of a second here: one row of a 200-tree depth-6 forest, 100 rows of a
  100-tree depth-3 gradient boosting model); otherwise Saabas path attribution: each split on the
  row's path credits its feature with the change of the node value (the training-weighted mean of
  the leaves below) from parent to child. Both share the base (the sum of the root values plus the
  ensemble's constant) and add up exactly to the score; Saabas is one numpy step per tree level
  (vectorized over rows and trees) but its credit depends on the order of the splits. The answer's
  `method` says which was used.

One-hot and date-part columns are summed back into the input field they encode (`groups`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.serving.tree_shap import LeafPaths, tree_shap

MAX_EXPLAIN_ROWS = 100  # rows per request that asks for contributions; more is a 400 naming `explain`
# What the answer promises against scikit-learn's raw score: |base + sum(contributions) - score| within
# this times max(1, |score|) (scikit-learn scales float32 rows in float32; this code works in float64).
TOLERANCE = 1e-5
TREE_SHAP_BUDGET = 2_000_000  # rows x sum(path length ** 2) above which trees are explained by Saabas


class ExplanationError(ValueError):
    """The artifact is not one this code can read (a broken or foreign file)."""


@dataclass(frozen=True)
class RowExplanations:
    """Contributions of each input field (rows x inputs) to the score of `outputs` (one per row)."""

    base: NDArray[np.float64]  # per row
    contributions: NDArray[np.float64]  # rows x inputs
    outputs: NDArray[np.int64]  # per row: which raw output (class) was explained
    method: str  # linear | treeshap | saabas

    @property
    def scores(self) -> NDArray[np.float64]:
        return self.base + self.contributions.sum(axis=1)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Explainer:
    """An explanation artifact, loaded: what a served version needs to explain a row."""

    method: str  # "linear" | "trees" (the artifact's kind; trees are explained by TreeSHAP)
    score: str  # what the raw score is: log_odds | logit | probability | prediction | log_prediction
    inputs: tuple[str, ...]  # the input fields, in the model's column order
    groups: NDArray[np.int64]  # per encoded column: the input field it belongs to
    output_classes: NDArray[np.int64]  # per raw output: the class index it scores (-1: a regressor)
    arrays: dict[str, NDArray[Any]]
    model_sha256: str | None = None  # the pickled scikit-learn model it was made from

    @classmethod
    def from_bytes(cls, data: bytes) -> Explainer:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            header = json.loads(str(arrays.pop("header")))
            explainer = cls(
                method=str(header["method"]),
                score=str(header["score"]),
                inputs=tuple(str(n) for n in header["inputs"]),
                groups=arrays.pop("groups").astype(np.int64),
                output_classes=arrays.pop("output_classes").astype(np.int64),
                arrays=arrays,
                model_sha256=header.get("model_sha256"),
            )
        except (ValueError, KeyError, OSError, TypeError) as error:
            raise ExplanationError(f"not an explanation artifact: {type(error).__name__}: {error}") from error
        if explainer.method not in ("linear", "trees"):
            raise ExplanationError(f"unknown explanation method {explainer.method!r}")
        return explainer

    def output_for(self, rows: int, classes: Sequence[int] | None) -> NDArray[np.int64]:
        """The raw output explained for each row: a regressor's one output, a binary model's positive
        class (its one log-odds, or a forest's second probability), a multiclass model's predicted
        class (`classes`: the class index each row was given)."""
        outputs = self.output_classes.tolist()
        if len(outputs) == 1:
            return np.zeros(rows, dtype=np.int64)
        if len(outputs) == 2:
            return np.full(rows, outputs.index(1), dtype=np.int64)
        if classes is None or len(classes) != rows:
            raise ExplanationError("a multiclass explanation needs each row's predicted class")
        return np.array([outputs.index(int(c)) for c in classes], dtype=np.int64)

    def explain(self, matrix: NDArray[np.float32], classes: Sequence[int] | None = None) -> RowExplanations:
        """Contributions for the encoded rows (the float32 matrix the ONNX model takes)."""
        x = np.asarray(matrix, dtype=np.float32).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.groups.size:
            raise ExplanationError(f"{x.shape} rows for an explanation of {self.groups.size} columns")
        outputs = self.output_for(x.shape[0], classes)
        if self.method == "linear":
            method, (per_column, base) = "linear", self._linear(x)
        elif x.shape[0] * self.path_units <= TREE_SHAP_BUDGET:
            method, (per_column, base) = "treeshap", self._tree_shap(x)
        else:
            method, (per_column, base) = "saabas", self._saabas(x)
        rows = np.arange(x.shape[0])
        chosen = per_column[rows, :, outputs]  # rows x columns
        by_input = np.zeros((x.shape[0], len(self.inputs)))
        np.add.at(by_input.T, self.groups, chosen.T)
        return RowExplanations(base=base[outputs], contributions=by_input, outputs=outputs, method=method)

    def _linear(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        coef, mean, base = self.arrays["coef"], self.arrays["mean"], self.arrays["base"]
        if "center" in self.arrays:  # the pipeline's StandardScaler, applied as the model applies it
            x = scaled_rows(x, self.arrays["center"], self.arrays["scale"]).astype(np.float64)
        # rows x columns x outputs
        return (x - mean)[:, :, None] * coef.T[None, :, :], base

    @cached_property
    def path_units(self) -> int:
        """The sum over leaves of their path length squared: TreeSHAP's cost per row, in units."""
        a = self.arrays
        left, right = a["left"], a["right"]
        depth = np.zeros(left.size, dtype=np.int64)
        frontier = a["roots"]
        while frontier.size:
            inner = frontier[left[frontier] >= 0]
            depth[left[inner]] = depth[right[inner]] = depth[inner] + 1
            frontier = np.concatenate([left[inner], right[inner]])
        return int((depth[left < 0] ** 2).sum())

    @cached_property
    def leaf_paths(self) -> LeafPaths:
        """Every leaf's path, worked out on the first explained request of a container."""
        a = self.arrays
        return LeafPaths.of(a["feature"], a["left"], a["right"], a["weight"])

    def _tree_shap(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a = self.arrays
        shap = tree_shap(self.leaf_paths, x, a["feature"], a["threshold"], a["value"])
        return shap, a["offset"] + a["value"][a["roots"]].sum(axis=0)

    def _saabas(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a = self.arrays
        feature, threshold, left, right = a["feature"], a["threshold"], a["left"], a["right"]
        value, roots = a["value"], a["roots"]
        n, columns = x.shape
        outputs = value.shape[1]
        flat = np.zeros((n * columns, outputs))
        nodes = np.broadcast_to(roots, (n, roots.size)).copy()
        row_of = np.broadcast_to(np.arange(n)[:, None], nodes.shape)
        while True:
            inner = left[nodes] >= 0
            if not inner.any():
                break
            rows, at = row_of[inner], nodes[inner]
            column = feature[at]
            following = np.where(x[rows, column] <= threshold[at], left[at], right[at])
            change = value[following] - value[at]
            where = rows * columns + column
            for k in range(outputs):
                flat[:, k] += np.bincount(where, weights=change[:, k], minlength=n * columns)
            nodes[inner] = following
        base = a["offset"] + value[roots].sum(axis=0)
        return flat.reshape(n, columns, outputs), base


def scaled_rows(x: NDArray[Any], center: NDArray[Any], scale: NDArray[Any]) -> NDArray[np.float32]:
    """StandardScaler's transform of float32 rows as scikit-learn computes it: in float32, its mean
    and scale cast to float32 first. Folding the scaler into the coefficients in float64 instead
    missed the model's score by 1e-4 on a column of years (2022 minus a float32-rounded mean)."""
    rows = np.asarray(x, dtype=np.float32)
    return np.asarray((rows - center.astype(np.float32)) / scale.astype(np.float32), dtype=np.float32)


def artifact_bytes(header: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> bytes:
    """An .npz (numpy's own reader, no pickle) with fixed entry times, so the same model gives the same
    bytes and sha256 on every export."""
    import zipfile

    buffer = io.BytesIO()
    entries = {"header": np.array(json.dumps(header, sort_keys=True)), **arrays}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.asarray(entries[name]), allow_pickle=False)
    return buffer.getvalue()
