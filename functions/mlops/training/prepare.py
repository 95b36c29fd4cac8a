"""Prepare: from a dataset version to the train/validation/test matrices, the feature recipe and the
reference profile. The first step of the training pipeline; everything after it reads the splits.

numpy only (no scikit-learn, no pandas). The split uses numpy's legacy `RandomState`, whose stream
numpy keeps stable across versions, so a seed names the same split tomorrow as today.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from mlops.datasets.versioning import (
    NULL_MASK_PREFIX,
    ColumnSchema,
    column_mask,
    npz_bytes,
    npz_with_meta,
    read_npz,
    row_fingerprints,
)
from mlops.monitoring.profile import ColumnProfile, ReferenceProfile, column_profile, numeric_profile
from mlops.serving.date_parts import derive_parts
from mlops.training.config import ConfigError, ProblemType, TrainingConfig, is_classification
from mlops.training.features import (
    CATEGORICAL_TYPES,
    DATETIME_TYPES,
    NUMERIC_TYPES,
    DatetimeFeature,
    FeatureSpec,
    encode_arrays,
    fit_feature_spec,
)

SPLIT_NAMES = ("train", "validation", "test")
# Below this many values, a text column whose values all differ may just be a small sample.
IDENTIFIER_MIN_ROWS = 20
# A text column with more distinct values than this share of its rows is free text (or an id) at any
# upload size: the absolute limit alone let 230 notes in 300 rows become 51 one-hot inputs.
FREE_TEXT_SHARE = 0.5
# Names of integer columns that are ids when every value differs (`patient_no`, `order_id`, `key`):
# an integer feature may well be all-distinct in a sample (incomes), so the name must say so too.
_ID_NAME = re.compile(r"(^|_)(id|no|nr|num|number|key|uuid|code)$|^id_", re.IGNORECASE)
MISSING_SEGMENT = "(missing)"
ClassValue = bool | int | float | str


@dataclass(frozen=True)
class Splits:
    """The three splits as arrays; `rows_*` are row numbers in the dataset version (for audit)."""

    feature_names: list[str]
    X_train: NDArray[np.float32]
    y_train: NDArray[Any]
    X_validation: NDArray[np.float32]
    y_validation: NDArray[Any]
    X_test: NDArray[np.float32]
    y_test: NDArray[Any]
    rows_train: NDArray[np.int64]
    rows_validation: NDArray[np.int64]
    rows_test: NDArray[np.int64]
    segments_train: NDArray[np.str_] | None = None
    segments_validation: NDArray[np.str_] | None = None
    segments_test: NDArray[np.str_] | None = None

    def part(self, name: str) -> tuple[NDArray[np.float32], NDArray[Any], NDArray[np.int64], NDArray[np.str_] | None]:
        """(X, y, rows, segments) of one split: 'train', 'validation' or 'test'."""
        if name not in SPLIT_NAMES:
            raise KeyError(name)
        return (
            getattr(self, f"X_{name}"),
            getattr(self, f"y_{name}"),
            getattr(self, f"rows_{name}"),
            getattr(self, f"segments_{name}"),
        )

    def to_bytes(self) -> bytes:
        """A deterministic `.npz` (no pickle): equal splits give equal bytes."""
        arrays: dict[str, NDArray[Any]] = {"feature_names": np.array(self.feature_names, dtype=str)}
        for name in SPLIT_NAMES:
            x, y, rows, segments = self.part(name)
            arrays[f"X_{name}"] = x
            arrays[f"y_{name}"] = y
            arrays[f"rows_{name}"] = rows
            if segments is not None:
                arrays[f"segments_{name}"] = segments
        return npz_bytes(arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> Splits:
        arrays = read_npz(data)
        return cls(
            feature_names=[str(n) for n in arrays["feature_names"].tolist()],
            **{key: value for key, value in arrays.items() if key != "feature_names"},
        )


class LabelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source_type: str
    classes: list[ClassValue] | None = Field(default=None, description="class values; the model predicts their index")
    positive_class: ClassValue | None = Field(default=None, description="binary: classes[1]")


class PreparedMeta(BaseModel):
    """Prepare's JSON output: small enough for a Step Functions payload."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    problem_type: ProblemType
    label: LabelInfo
    feature_spec: FeatureSpec
    segment_column: str | None
    seed: int
    rows: dict[str, int] = Field(description="rows per split, plus 'dropped_missing_label'")
    class_counts: dict[str, dict[str, int]] | None = Field(default=None, description="split -> class -> rows")
    excluded_columns: dict[str, str] = Field(default_factory=dict, description="column -> why it is not a feature")
    splits_sha256: str

    @property
    def classes(self) -> list[ClassValue] | None:
        return self.label.classes


@dataclass(frozen=True)
class Prepared:
    meta: PreparedMeta
    splits: Splits
    splits_bytes: bytes
    profile: ReferenceProfile
    test_rows_bytes: bytes = b""  # every stored column of the test rows, raw: what the champion is scored on
    fitted_rows_bytes: bytes = b""  # fingerprints of the train and validation rows: what a later run leaves out


def _column_types(columns: Sequence[ColumnSchema | Mapping[str, Any]]) -> dict[str, str]:
    types: dict[str, str] = {}
    for column in columns:
        if isinstance(column, ColumnSchema):
            types[column.name] = column.type
        else:
            types[str(column["name"])] = str(column["type"])
    return types


def _mostly_words(values: NDArray[Any]) -> bool:
    """Whether most values hold a space: free text such as notes, not codes such as C000123."""
    spaced = np.char.find(values.astype(str), " ") >= 0
    return bool(spaced.mean() > 0.5)


def _not_a_feature(
    name: str, kind: str, arrays: Mapping[str, NDArray[Any]], unique: set[str], config: TrainingConfig
) -> str | None:
    """Why a column left to the default is not a feature: an identifier or free text would let a
    model tell rows apart by name (two rows differing only in id got different answers)."""
    if name in config.exclude:
        return "listed under exclude"
    if name in unique:
        return "the contract marks it unique: an identifier, not a feature (name it under features to use it)"
    if name not in arrays or (kind not in CATEGORICAL_TYPES and not (kind == "int" and _ID_NAME.search(name))):
        return None
    present = np.asarray(arrays[name])[~column_mask(arrays, name)]
    distinct = int(np.unique(present.astype(str)).size) if present.size else 0
    if present.size >= IDENTIFIER_MIN_ROWS and distinct == present.size:
        if kind != "int" and _mostly_words(present):  # sentences, not codes: a stranger's notes were "an identifier"
            return f"free text: every one of its {distinct} values is distinct (name it under features to use it)"
        named = ", and its name says id" if kind == "int" else ""
        return f"every one of its {distinct} values is distinct{named}: an identifier, not a feature"
    if kind == "int":
        return None
    if distinct > config.encoding.max_distinct_values:
        return (
            f"free text: {distinct} distinct values, over encoding.max_distinct_values "
            f"({config.encoding.max_distinct_values})"
        )
    if present.size >= IDENTIFIER_MIN_ROWS and distinct > FREE_TEXT_SHARE * present.size:
        return (
            f"free text: {distinct} distinct values in {present.size} rows, over {FREE_TEXT_SHARE:.0%} of them "
            "(name it under features to use it)"
        )
    return None


def _features(
    config: TrainingConfig, types: Mapping[str, str], arrays: Mapping[str, NDArray[Any]], unique: set[str]
) -> tuple[list[str], dict[str, str], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    excluded: dict[str, str] = {}
    supported = (*NUMERIC_TYPES, *CATEGORICAL_TYPES, *DATETIME_TYPES)
    for name in config.encoding.datetime_columns:
        if name not in types:
            problems.append((f"encoding.datetime_columns.{name}", f"no column {name!r} in the dataset"))
        elif types[name] not in DATETIME_TYPES:
            problems.append(
                (f"encoding.datetime_columns.{name}", f"{name!r} is a {types[name]} column, not a datetime")
            )
    if config.features is None:
        names = []
        for name, kind in types.items():
            if name in (config.label, config.segment_column):
                continue
            if kind not in supported:
                excluded[name] = f"{kind} columns are not features in v1"
                continue
            reason = _not_a_feature(name, kind, arrays, unique, config)
            if reason is not None:
                excluded[name] = reason
                continue
            names.append(name)
        if not names:
            problems.append(("features", "the dataset has no usable feature column"))
    else:
        names = list(config.features)
        for i, name in enumerate(names):
            if name not in types or name not in arrays:
                problems.append((f"features[{i}]", f"no column {name!r} in the dataset (columns: {', '.join(types)})"))
            elif types[name] not in supported:
                problems.append(
                    (
                        f"features[{i}]",
                        f"{name!r} is a {types[name]} column; v1 trains on int, float, bool, string, category "
                        "and datetime columns",
                    )
                )
    return names, excluded, problems


def _label(
    config: TrainingConfig, values: NDArray[Any], kind: str, keep: NDArray[np.bool_]
) -> tuple[NDArray[Any], LabelInfo, list[tuple[str, str]]]:
    """Label vector over the kept rows: class indices (classification) or float64 (regression)."""
    present = values[keep]
    info = LabelInfo(name=config.label, source_type=kind)
    if config.problem_type == "regression":
        if kind not in ("int", "float"):
            return present, info, [("label", f"regression needs an int or float label; {config.label!r} is {kind}")]
        return present.astype(np.float64), info, []
    if kind == "datetime":
        return present, info, [("label", f"{config.label!r} is a datetime column, not classes")]
    if kind in ("int", "float"):  # an int column with nulls is stored as float64
        if not np.all(np.equal(np.mod(present, 1), 0)):
            return present, info, [("label", f"{config.label!r} has non-integer floats; classes must be discrete")]
        present = present.astype(np.int64)
    elif kind in CATEGORICAL_TYPES:
        present = present.astype(str)
    classes = np.unique(present)
    wanted = "exactly 2" if config.problem_type == "binary" else "at least 2"
    if (config.problem_type == "binary" and classes.size != 2) or classes.size < 2:
        shown = ", ".join(repr(c) for c in classes.tolist()[:10])
        return (
            present,
            info,
            [
                (
                    "problem_type",
                    f"{config.problem_type} needs {wanted} classes in {config.label!r}, found {classes.size}: {shown}",
                )
            ],
        )
    class_values: list[ClassValue] = [c for c in classes.tolist()]
    info = LabelInfo(
        name=config.label,
        source_type=kind,
        classes=class_values,
        positive_class=class_values[1] if config.problem_type == "binary" else None,
    )
    return np.searchsorted(classes, present).astype(np.int64), info, []


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def split_rows(
    strata: NDArray[Any], test_fraction: float, validation_fraction: float, seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Positions for train/validation/test, each stratum split in the same proportions.

    Deterministic: strata are visited in sorted order with one seeded `RandomState`, and each split's
    positions are returned in ascending order.
    """
    rng = np.random.RandomState(seed)
    parts: tuple[list[NDArray[np.int64]], list[NDArray[np.int64]], list[NDArray[np.int64]]] = ([], [], [])
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        shuffled = members[rng.permutation(members.size)]
        n = members.size
        n_test = _round(n * test_fraction)
        n_val = _round(n * validation_fraction)
        if n_test + n_val >= n:  # tiny stratum: keep at least one row to learn from
            n_val = max(0, min(n_val, n - 1 - n_test))
            n_test = max(0, min(n_test, n - 1))
        parts[2].append(shuffled[:n_test])
        parts[1].append(shuffled[n_test : n_test + n_val])
        parts[0].append(shuffled[n_test + n_val :])
    train, validation, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    return train, validation, test


def _strata(config: TrainingConfig, y: NDArray[Any]) -> NDArray[Any]:
    if not config.stratify:
        return np.zeros(y.shape[0], dtype=np.int64)
    if is_classification(config.problem_type):
        return y
    edges = np.quantile(y, np.linspace(0.0, 1.0, 11)[1:-1])
    return np.searchsorted(edges, y, side="right")


def _feature_profiles(
    arrays: Mapping[str, NDArray[Any]], types: Mapping[str, str], spec: FeatureSpec, rows: NDArray[np.int64]
) -> dict[str, ColumnProfile]:
    """Each feature's training distribution; a date's as its parts (what the model sees, and what
    serving captures), since drift in 'month' or 'days_since' says more than drift in raw instants."""
    profiles: dict[str, ColumnProfile] = {}
    for feature in spec.features:
        values, missing = arrays[feature.name][rows], column_mask(arrays, feature.name)[rows]
        if isinstance(feature, DatetimeFeature):
            stamps = np.where(missing, np.datetime64("NaT"), values.astype("datetime64[us]"))
            derived = derive_parts(stamps, feature.parts, feature.reference)
            for j, name in enumerate(feature.encoded_names):
                profiles[name] = numeric_profile(derived[:, j], missing)
        else:
            profiles[feature.name] = column_profile(values, missing, types[feature.name])
    return profiles


def prepare(
    arrays: Mapping[str, NDArray[Any]],
    columns: Sequence[ColumnSchema | Mapping[str, Any]],
    config: TrainingConfig,
) -> Prepared:
    """Split, encode and profile a dataset version. Raises ConfigError naming every config field that
    does not fit the data (missing columns, unsupported types, wrong number of classes)."""
    types = _column_types(columns)
    problems: list[tuple[str, str]] = []
    if config.label not in types or config.label not in arrays:
        problems.append(("label", f"no column {config.label!r} in the dataset (columns: {', '.join(types)})"))
    if config.segment_column is not None and (
        config.segment_column not in types or config.segment_column not in arrays
    ):
        problems.append(("segment_column", f"no column {config.segment_column!r} in the dataset"))
    unique = {c.name for c in columns if isinstance(c, ColumnSchema) and c.unique} | {
        str(c["name"]) for c in columns if isinstance(c, Mapping) and c.get("unique")
    }
    names, excluded, feature_problems = _features(config, types, arrays, unique)
    problems.extend(feature_problems)
    if problems:
        raise ConfigError(problems, f"training config for dataset {config.dataset!r}")

    total = int(arrays[config.label].shape[0])
    keep = ~column_mask(arrays, config.label)
    y, label_info, label_problems = _label(config, arrays[config.label], types[config.label], keep)
    if label_problems:
        raise ConfigError(label_problems, f"training config for dataset {config.dataset!r}")
    kept_rows = np.flatnonzero(keep).astype(np.int64)

    train_pos, val_pos, test_pos = split_rows(
        _strata(config, y), config.split.test_fraction, config.split.validation_fraction, config.seed
    )
    if min(train_pos.size, val_pos.size, test_pos.size) == 0:
        raise ConfigError(
            [("split", f"{kept_rows.size} labelled rows are too few for a train/validation/test split")],
            f"training config for dataset {config.dataset!r}",
        )
    rows = {"train": kept_rows[train_pos], "validation": kept_rows[val_pos], "test": kept_rows[test_pos]}
    labels = {"train": y[train_pos], "validation": y[val_pos], "test": y[test_pos]}

    spec = fit_feature_spec(
        arrays, types, names, rows["train"], config.encoding.max_categories, config.encoding.datetime_encoding
    )
    segments: dict[str, NDArray[np.str_] | None] = dict.fromkeys(SPLIT_NAMES)
    if config.segment_column is not None:
        seg = arrays[config.segment_column].astype(str)
        seg = np.where(column_mask(arrays, config.segment_column), MISSING_SEGMENT, seg)
        segments = {name: seg[rows[name]] for name in SPLIT_NAMES}
    splits = Splits(
        feature_names=spec.encoded_names,
        X_train=encode_arrays(arrays, spec, rows["train"]),
        y_train=labels["train"],
        X_validation=encode_arrays(arrays, spec, rows["validation"]),
        y_validation=labels["validation"],
        X_test=encode_arrays(arrays, spec, rows["test"]),
        y_test=labels["test"],
        rows_train=rows["train"],
        rows_validation=rows["validation"],
        rows_test=rows["test"],
        segments_train=segments["train"],
        segments_validation=segments["validation"],
        segments_test=segments["test"],
    )
    data = splits.to_bytes()

    class_counts = None
    if label_info.classes is not None:
        class_counts = {
            name: {str(c): int(np.count_nonzero(labels[name] == i)) for i, c in enumerate(label_info.classes)}
            for name in SPLIT_NAMES
        }
    train_rows = rows["train"]
    profile = ReferenceProfile(
        rows=int(train_rows.size),
        features=_feature_profiles(arrays, types, spec, train_rows),
        label=column_profile(
            arrays[config.label][train_rows], column_mask(arrays, config.label)[train_rows], types[config.label]
        ),
    )
    meta = PreparedMeta(
        dataset=config.dataset,
        problem_type=config.problem_type,
        label=label_info,
        feature_spec=spec,
        segment_column=config.segment_column,
        seed=config.seed,
        rows={
            **{name: int(rows[name].size) for name in SPLIT_NAMES},
            "dropped_missing_label": total - int(kept_rows.size),
        },
        class_counts=class_counts,
        excluded_columns=excluded,
        splits_sha256=hashlib.sha256(data).hexdigest(),
    )
    # What the champion is scored on: the label, the features and the segment, raw; never the
    # identifiers and free text training left out.
    kept = {config.label, *names, *([config.segment_column] if config.segment_column else [])}
    test_rows = {
        name: np.asarray(values)[rows["test"]]
        for name, values in arrays.items()
        if name in kept or (name.startswith(NULL_MASK_PREFIX) and name[len(NULL_MASK_PREFIX) :] in kept)
    }
    stored_columns = sorted(name for name in arrays if not name.startswith(NULL_MASK_PREFIX))
    fitted = np.concatenate([rows["train"], rows["validation"]])
    fingerprints = np.unique(row_fingerprints(arrays, stored_columns)[fitted])
    return Prepared(
        meta=meta,
        splits=splits,
        splits_bytes=data,
        profile=profile,
        test_rows_bytes=npz_bytes(test_rows),
        fitted_rows_bytes=npz_with_meta({"fingerprints": fingerprints}, {"columns": stored_columns}),
    )
