"""The captured traffic of one drift check: capture batches (`mlops.serving.capture.read_capture`)
concatenated column by column, with the rows the serving policy refused counted by reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.monitoring.profile import NumericProfile, ReferenceProfile

DEFAULT_EXCLUDED_VARIANTS = ("shadow",)


@dataclass
class CapturedWindow:
    """The captured rows of one check, column by column.

    A field's arrays hold only the rows of batches that captured it, so `rows` (all served rows)
    may exceed a field's length when the request schema changed inside the window.
    """

    fields: dict[str, str]  # name -> "numeric" | "categorical" (as the capture's meta)
    numeric: dict[str, NDArray[np.float64]]  # NaN = missing
    categorical: dict[str, NDArray[np.str_]]
    missing: dict[str, NDArray[np.bool_]]  # categorical fields only
    predictions: NDArray[Any] | None  # class values (str) or regression values (float64)
    probabilities: NDArray[np.float32] | None  # rows x classes, classifiers only
    classes: list[str] | None
    rows: int
    first_ms: int | None = None
    last_ms: int | None = None
    refused_rows: int = 0  # rows of requests the serving policy refused (no prediction)
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)  # (field, why) -> rows
    offending_rows: int = 0  # refused rows with a value of their own the policy refused

    @classmethod
    def empty(cls, profile: ReferenceProfile | None = None) -> CapturedWindow:
        """No captured rows (a check over a quiet window still writes a report: insufficient data)."""
        fields = {
            name: "numeric" if isinstance(p, NumericProfile) else "categorical"
            for name, p in (profile.features.items() if profile is not None else ())
        }
        return cls(
            fields=fields,
            numeric={n: np.zeros(0, dtype=np.float64) for n, k in fields.items() if k == "numeric"},
            categorical={n: np.zeros(0, dtype=str) for n, k in fields.items() if k == "categorical"},
            missing={n: np.zeros(0, dtype=bool) for n, k in fields.items() if k == "categorical"},
            predictions=None,
            probabilities=None,
            classes=None,
            rows=0,
        )

    @classmethod
    def from_batches(
        cls,
        batches: Sequence[tuple[Mapping[str, Any], Mapping[str, NDArray[Any]]]],
        exclude_variants: Sequence[str] = DEFAULT_EXCLUDED_VARIANTS,
    ) -> CapturedWindow:
        """Concatenate capture batches (`read_capture` results), leaving out `exclude_variants`.

        Shadow rows repeat the champion's inputs, so they would count twice; champion and
        challenger rows are both served traffic. The newest batch (latest `time_ms`) names the
        fields and their kinds: an older batch contributes to a field only if it captured it with
        the same kind, and its probabilities only if its classes are the same.
        """
        if not batches:
            return cls.empty()
        newest_meta, _ = max(enumerate(batches), key=lambda item: (_latest_ms(item[1][1]), item[0]))[1]
        fields = {str(n): str(k) for n, k in dict(newest_meta.get("fields") or {}).items()}
        raw_classes = newest_meta.get("classes")
        classes = [str(c) for c in raw_classes] if raw_classes is not None else None
        numeric: dict[str, list[NDArray[np.float64]]] = {n: [] for n, k in fields.items() if k == "numeric"}
        categorical: dict[str, list[NDArray[np.str_]]] = {n: [] for n, k in fields.items() if k != "numeric"}
        missing: dict[str, list[NDArray[np.bool_]]] = {n: [] for n in categorical}
        predictions: list[NDArray[Any]] = []
        probabilities: list[NDArray[np.float32]] = []
        rows = 0
        refused_rows = offending_rows = 0
        refusals: dict[tuple[str, str], int] = {}
        first: int | None = None
        last: int | None = None
        excluded = np.asarray(list(exclude_variants), dtype=str)
        for meta, arrays in batches:
            size = _batch_rows(meta, arrays)
            variant = arrays.get("variant")
            keep = (
                ~np.isin(np.asarray(variant).astype(str), excluded)
                if variant is not None and excluded.size
                else np.ones(size, dtype=bool)
            )
            kept = int(keep.sum())
            if kept == 0:
                continue
            rows += kept
            stored_answered = arrays.get("answered")
            answered = (
                np.asarray(stored_answered, dtype=bool)
                if stored_answered is not None and np.asarray(stored_answered).size == size
                else np.ones(size, dtype=bool)
            )
            refused_rows += int((keep & ~answered).sum())
            offending = np.zeros(size, dtype=bool)
            for key, reasons in arrays.items():
                if not key.startswith("refused:") or np.asarray(reasons).size != size:
                    continue
                why = np.asarray(reasons).astype(str)[keep]
                offending[keep] |= why != ""
                codes, counts = np.unique(why[why != ""], return_counts=True)
                for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                    pair = (key.removeprefix("refused:"), str(code))
                    refusals[pair] = refusals.get(pair, 0) + int(count)
            offending_rows += int(offending.sum())
            times = arrays.get("time_ms")
            if times is not None and np.asarray(times).size == size:
                t = np.asarray(times, dtype=np.int64)[keep]
                first = int(t.min()) if first is None else min(first, int(t.min()))
                last = int(t.max()) if last is None else max(last, int(t.max()))
            batch_fields = dict(meta.get("fields") or {})
            for name, kind in fields.items():
                values = arrays.get(f"input:{name}")
                if values is None or batch_fields.get(name) != kind:
                    continue
                if kind == "numeric":
                    numeric[name].append(np.asarray(values, dtype=np.float64)[keep])
                else:
                    categorical[name].append(np.asarray(values).astype(str)[keep])
                    nulls = arrays.get(f"null:{name}")
                    mask = np.asarray(nulls, dtype=bool) if nulls is not None else np.zeros(size, dtype=bool)
                    missing[name].append(mask[keep])
            batch_classes = meta.get("classes")
            prediction = arrays.get("prediction")
            if prediction is not None and (batch_classes is None) == (classes is None):
                scored = keep & answered  # refused rows have no prediction
                predictions.append(np.asarray(prediction)[scored])
                proba = arrays.get("probabilities")
                same = classes is not None and [str(c) for c in batch_classes or []] == classes
                if proba is not None and same:
                    probabilities.append(np.asarray(proba, dtype=np.float32)[scored])
        return cls(
            fields=fields,
            numeric={n: _concat(v, np.float64) for n, v in numeric.items()},
            categorical={n: _concat(v, np.str_) for n, v in categorical.items()},
            missing={n: _concat(v, np.bool_) for n, v in missing.items()},
            predictions=(np.concatenate(predictions) if predictions else None),
            probabilities=(np.concatenate(probabilities) if probabilities else None),
            classes=classes,
            rows=rows,
            first_ms=first,
            last_ms=last,
            refused_rows=refused_rows,
            refusals=refusals,
            offending_rows=offending_rows,
        )


def _latest_ms(arrays: Mapping[str, NDArray[Any]]) -> int:
    times = arrays.get("time_ms")
    return int(np.max(times)) if times is not None and np.asarray(times).size else -1


def _batch_rows(meta: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> int:
    for key in ("variant", "prediction", "time_ms"):
        if key in arrays:
            return int(np.asarray(arrays[key]).shape[0])
    return int(meta.get("rows", 0))


def _concat(parts: list[NDArray[Any]], dtype: type[Any]) -> NDArray[Any]:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
