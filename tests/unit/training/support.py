"""Data the training tests share, stored as a dataset version stores it (one array per column, null
masks, a manifest's column list), built from scikit-learn's bundled data and seeded generators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from mlops.datasets.versioning import NULL_MASK_PREFIX, ColumnKind, ColumnSchema, column_arrays, npz_bytes, read_npz
from mlops.training.config import ProblemType, TrainingConfig
from mlops.training.search_space import Candidate, Search

Dataset = tuple[dict[str, NDArray[Any]], list[ColumnSchema]]

LOADERS: dict[str, tuple[Callable[..., Any], ProblemType]] = {
    "breast_cancer": (load_breast_cancer, "binary"),
    "wine": (load_wine, "multiclass"),
    "iris": (load_iris, "multiclass"),
    "diabetes": (load_diabetes, "regression"),
}


def _column(name: str, values: NDArray[Any], kind: str) -> ColumnSchema:
    return ColumnSchema(name=name, type=kind, dtype=values.dtype.str)  # type: ignore[arg-type]


def stored(arrays: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Through the dataset version's npz form and back, as the prepare Lambda reads it."""
    return read_npz(npz_bytes(arrays))


def sklearn_dataset(name: str) -> Dataset:
    loader, problem_type = LOADERS[name]
    bunch = loader(as_frame=False)
    arrays: dict[str, NDArray[Any]] = {}
    columns: list[ColumnSchema] = []
    for i, feature in enumerate(bunch.feature_names):
        column = str(feature).replace(" ", "_")
        arrays[column] = np.asarray(bunch.data[:, i], dtype=np.float64)
        columns.append(_column(column, arrays[column], "float"))
    target = bunch.target.astype(np.float64 if problem_type == "regression" else np.int64)
    arrays["target"] = target
    columns.append(_column("target", target, "float" if problem_type == "regression" else "int"))
    return stored(arrays), columns


def mixed_dataset(rows: int = 600, seed: int = 7) -> Dataset:
    """Numbers with gaps, a bool, strings (with nulls and a rare value), a datetime, a segment and a
    string label: every column kind prepare handles."""
    rng = np.random.RandomState(seed)
    age = rng.normal(40, 12, rows)
    age[rng.rand(rows) < 0.05] = np.nan
    income = rng.lognormal(10, 0.5, rows)
    member = rng.rand(rows) < 0.4
    member_null = rng.rand(rows) < 0.03
    city = rng.choice(["Lyon", "Oslo", "Porto", "Quito"], rows, p=[0.4, 0.3, 0.2, 0.1]).astype("<U16")
    city[rng.rand(rows) < 0.01] = "Zanzibar"
    city_null = rng.rand(rows) < 0.05
    city = np.where(city_null, "", city)
    region = rng.choice(["north", "south", "east"], rows).astype(str)
    seen = np.datetime64("2026-01-01") + rng.randint(0, 365, rows).astype("timedelta64[D]")
    score = 0.04 * np.nan_to_num(age, nan=40) + 0.5 * member + (city == "Oslo") - 2.0 + rng.normal(0, 0.7, rows)
    label = np.where(score > 0, "churn", "stay").astype(str)
    arrays: dict[str, NDArray[Any]] = {
        "age": age,
        "income": income,
        "member": np.where(member_null, False, member),
        f"{NULL_MASK_PREFIX}member": member_null,
        "city": city,
        f"{NULL_MASK_PREFIX}city": city_null,
        "region": region,
        "seen": seen.astype("datetime64[ns]"),
        "outcome": label,
    }
    columns = [
        _column("age", age, "float"),
        _column("income", income, "float"),
        _column("member", arrays["member"], "bool"),
        _column("city", city, "string"),
        _column("region", region, "category"),
        _column("seen", arrays["seen"], "datetime"),
        _column("outcome", label, "string"),
    ]
    return stored(arrays), columns


CHURN_TYPES: dict[str, ColumnKind] = {
    "customer_id": "string",
    "signup_at": "datetime",
    "plan": "string",
    "monthly_charges": "float",
    "support_calls": "int",
    "churned": "string",
}


def churn_table(rows: int = 800, seed: int = 5) -> Any:
    """A churn table as a user brings it (a pandas frame of text, as in a CSV): a customer id, an ISO
    signup date-time (some missing), plan names (some missing), charges with gaps and a yes/no label
    that depends on how recent and in which month the customer signed up."""
    import pandas as pd

    rng = np.random.RandomState(seed)
    signup = np.datetime64("2023-01-01T00:00:00") + rng.randint(0, 730 * 86_400, rows).astype("timedelta64[s]")
    days = (signup - np.datetime64("2023-01-01T00:00:00")).astype(np.int64) / 86_400
    month = signup.astype("datetime64[M]").astype(np.int64) % 12 + 1
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    charges = np.round(rng.normal(40, 12, rows) + 15 * (plan == "premium"), 2)
    calls = rng.poisson(1.5, rows)
    score = (
        0.004 * days + 1.2 * (month == 12) + 0.5 * calls - 0.8 * (plan == "premium") - 2.2 + rng.normal(0, 0.5, rows)
    )
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in rng.permutation(rows)],
            "signup_at": [str(s).replace("T", " ") for s in signup],
            "plan": plan,
            "monthly_charges": charges,
            "support_calls": calls,
            "churned": np.where(score > 0, "yes", "no"),
        }
    )
    frame.loc[rng.rand(rows) < 0.05, "signup_at"] = None
    frame.loc[rng.rand(rows) < 0.04, "plan"] = None
    frame.loc[rng.rand(rows) < 0.05, "monthly_charges"] = np.nan
    return frame


def churn_dataset(rows: int = 800, seed: int = 5) -> Dataset:
    """`churn_table` stored as a dataset version stores it (mlops.datasets.versioning.column_arrays)."""
    import pandas as pd

    frame = churn_table(rows, seed)
    frame["signup_at"] = pd.to_datetime(frame["signup_at"], format="ISO8601")
    arrays = column_arrays(frame, CHURN_TYPES)
    columns = [_column(name, arrays[name], kind) for name, kind in CHURN_TYPES.items()]
    return stored(arrays), columns


def small_config(problem_type: ProblemType, **overrides: Any) -> TrainingConfig:
    """Every estimator of the problem type with small settings, so the suite stays fast."""
    linear = (
        [Candidate(name="logreg", estimator="logistic_regression", search=Search(grid={"C": [0.1, 1.0]}))]
        if problem_type != "regression"
        else [
            Candidate(name="linear", estimator="linear_regression"),
            Candidate(name="ridge", estimator="ridge", search=Search(grid={"alpha": [0.1, 1.0]})),
        ]
    )
    trees = [
        Candidate(name="rf", estimator="random_forest", params={"n_estimators": 15, "max_depth": 6}),
        Candidate(name="hgb", estimator="hist_gradient_boosting", params={"max_iter": 30}),
        Candidate(name="gb", estimator="gradient_boosting", params={"n_estimators": 20, "max_depth": 2}),
    ]
    data: dict[str, Any] = {
        "dataset": "test",
        "problem_type": problem_type,
        "label": "target",
        "candidates": [c.model_dump() for c in [*linear, *trees]],
        **overrides,
    }
    return TrainingConfig.model_validate(data)
