"""Drafting contracts from samples: sensible inferences, the sample always accepted, and YAML round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from mlops.contracts.drafting import _round_outward, draft_contract, render_contract_yaml
from mlops.contracts.loading import load_contract
from mlops.contracts.model import ColumnSpec, DataContract
from mlops.contracts.reading import read_table
from mlops.contracts.validation import validate

LOADERS: dict[str, Callable[..., Any]] = {
    "iris": load_iris,
    "breast-cancer": load_breast_cancer,
    "wine": load_wine,
    "diabetes": load_diabetes,
}


def column(contract: DataContract, name: str) -> ColumnSpec:
    spec = contract.column(name)
    assert spec is not None
    return spec


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_draft_accepts_its_own_sample_and_round_trips(name: str) -> None:
    frame = LOADERS[name](as_frame=True).frame
    contract = draft_contract(frame, dataset=name, label="target")
    report = validate(frame, contract)
    assert report.failed_errors == 0, report.summary()
    text = render_contract_yaml(contract)
    assert load_contract(text, source=f"{name}.yaml") == contract
    # The same through the file a data team would upload.
    data = frame.to_csv(index=False).encode()
    assert validate(read_table(data, filename=f"{name}.csv", contract=contract), contract).failed_errors == 0


def test_classification_and_regression_labels() -> None:
    iris = draft_contract(load_iris(as_frame=True).frame, dataset="iris", label="target")
    target = column(iris, "target")
    assert (target.type.value, target.allowed_values and target.allowed_values.value) == ("int", [0, 1, 2])
    assert iris.label_min_class_share is not None and iris.label_min_class_share.value == 0.16
    assert iris.duplicate_rows.value == "warn"  # iris has a repeated row
    diabetes = draft_contract(load_diabetes(as_frame=True).frame, dataset="diabetes", label="target")
    assert diabetes.label_min_class_share is None
    assert column(diabetes, "target").min is not None
    assert diabetes.duplicate_rows.value == "reject"
    cancer = draft_contract(load_breast_cancer(as_frame=True).frame, dataset="breast-cancer", label="target")
    radius = column(cancer, "mean radius")
    assert (radius.min and radius.min.value, radius.max and radius.max.value) == (6.0, 29.0)  # observed 6.981..28.11
    assert cancer.row_count is not None and cancer.row_count.min == 280  # half of 569, two digits


def test_generated_customers() -> None:
    rng = np.random.default_rng(11)
    n = 1000
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "age": rng.integers(18, 90, n),
            "plan": rng.choice(["free", "pro", "enterprise"], n),
            "spend": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.gamma(2.0, 20.0, n), 2)),
            "signup": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
            "churned": rng.random(n) < 0.3,
            "stars": rng.integers(1, 6, n),
        }
    )
    contract = draft_contract(frame, dataset="customers", label="churned")
    ident = column(contract, "customer_id")
    assert (ident.type.value, ident.unique and ident.unique.value) == ("string", True)
    age = column(contract, "age")
    assert (age.type.value, age.min and age.min.value, age.max and age.max.value) == ("int", 18, 89)
    plan = column(contract, "plan")
    assert (plan.type.value, plan.allowed_values and plan.allowed_values.value) == (
        "category",
        ["enterprise", "free", "pro"],
    )
    spend = column(contract, "spend")
    assert (spend.type.value, spend.nullable.value) == ("float", True)
    assert column(contract, "signup").type.value == "datetime"
    assert column(contract, "churned").type.value == "bool"
    stars = column(contract, "stars")
    assert stars.allowed_values is not None and stars.allowed_values.value == [1, 2, 3, 4, 5]
    assert contract.label_min_class_share is not None and 0 < contract.label_min_class_share.value <= 0.15
    assert validate(frame, contract).accepted
    text = render_contract_yaml(contract)
    assert "  allowed_values: [enterprise, free, pro]\n" in text
    assert load_contract(text, source="customers.yaml") == contract
    # Text read without a contract is drafted with the types it holds.
    read = read_table(frame.to_csv(index=False).encode(), filename="c.csv", contract=None)
    redrafted = draft_contract(read.astype({"age": "str"}), dataset="customers", label="churned")
    assert column(redrafted, "age").type.value == "int"


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (4.3, 7.9, False, (4.3, 7.9)),
        (6.981, 28.11, False, (6.0, 29.0)),
        (0.05263, 0.1634, False, (0.05, 0.17)),
        (18, 89, True, (18, 89)),
        (25, 346, True, (20, 350)),
        (-0.0446, 0.0507, False, (-0.045, 0.051)),
        (5.0, 5.0, False, (5.0, 5.0)),
        (0, 0, True, (0, 0)),
    ],
)
def test_bounds_are_rounded_outward(low: float, high: float, integer: bool, expected: tuple[float, float]) -> None:
    assert _round_outward(low, high, integer=integer) == expected


def test_line_breaks_yaml_would_fold_survive_the_round_trip() -> None:
    from mlops.contracts import load_contract, render_contract_yaml

    text = 'dataset: x\nversion: 1\ndescription: "before\\Nnel\\Lls\\Pps"\ncolumns:\n  - {name: a, type: bool}\n'
    contract = load_contract(text, source="breaks.yaml")
    assert contract.description == "before\x85nel\u2028ls\u2029ps"
    assert load_contract(render_contract_yaml(contract), source="rendered.yaml") == contract


def test_iso_dates_read_from_a_file_are_drafted_as_datetime_even_with_blanks() -> None:
    """Arrow's CSV reader hands ISO dates over as date objects, which the drafter used to call text."""
    data = b"customer_id,signup_date,churned\nc1,2024-01-31,0\nc2,,1\nc3,2024-03-04,0\n"
    contract = draft_contract(read_table(data, filename="churn.csv", contract=None), dataset="churn", label="churned")
    signup = {c.name: c for c in contract.columns}["signup_date"]
    assert signup.type.value == "datetime" and signup.nullable.value is True
