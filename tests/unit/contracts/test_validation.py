"""Validation on real data (scikit-learn's bundled datasets and seeded generated data) with injected defects:
each defect is found with its exact rows and columns, all at once, and the report says so."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from mlops.contracts.loading import load_contract
from mlops.contracts.model import DataContract
from mlops.contracts.reading import read_table
from mlops.contracts.report import ExpectationResult, ValidationReport
from mlops.contracts.validation import validate

CUSTOMERS = """
dataset: customers
version: 4
label: churned
columns:
  - {name: customer_id, type: string, regex: "C[0-9]{6}", unique: true}
  - {name: age, type: int, min: 18, max: 100}
  - {name: plan, type: category, allowed_values: [free, pro, enterprise]}
  - {name: monthly_spend, type: float, min: 0}
  - {name: signup_date, type: datetime, format: "%Y-%m-%d", min: 2019-01-01}
  - {name: churned, type: bool}
row_count: {min: 1000}
duplicate_rows: reject
label_min_class_share: 0.1
distributions:
  - {column: monthly_spend, statistic: mean, min: 30, max: 50}
  - {column: age, statistic: quantile, q: 0.5, min: 40, max: 65}
  - {column: age, statistic: std, min: 10, max: 30}
"""


def customers(n: int = 2000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "age": rng.integers(18, 90, n),
            "plan": rng.choice(["free", "pro", "enterprise"], n, p=[0.6, 0.3, 0.1]),
            "monthly_spend": np.round(rng.gamma(2.0, 20.0, n), 2),
            "signup_date": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "churned": rng.random(n) < 0.25,
        }
    )


def contract(replacements: dict[str, str] | None = None) -> DataContract:
    """The customers contract, with some of its text replaced to vary one expectation."""
    text = CUSTOMERS
    for old, new in (replacements or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return load_contract(text, source="customers.yaml")


def through_csv(frame: pd.DataFrame, spec: DataContract) -> ValidationReport:
    data = frame.to_csv(index=False).encode()
    return validate(read_table(data, filename="customers.csv", contract=spec), spec, file_name="customers.csv")


def result(report: ValidationReport, expectation: str, column: str | None = None) -> ExpectationResult:
    found = [r for r in report.results if r.expectation == expectation and r.column == column]
    assert len(found) == 1, f"{expectation} {column}: {found}"
    return found[0]


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(r.expectation, r.column) for r in report.failures}


def rows_and_values(r: ExpectationResult) -> list[tuple[int, Any]]:
    return [(e.row, e.value) for e in r.examples]


def test_clean_customers_pass_every_check() -> None:
    report = through_csv(customers(), contract())
    assert report.accepted, report.summary()
    assert report.failed_errors == report.failed_warnings == 0
    assert report.rows == 2000 and report.columns == 6
    ids = {r.expectation for r in report.results}
    assert ids == {
        "column.required",
        "table.extra_columns",
        "column.type",
        "column.not_null",
        "column.min",
        "column.max",
        "column.allowed_values",
        "column.regex",
        "column.unique",
        "table.row_count",
        "table.duplicate_rows",
        "label.class_share",
        "distribution.mean",
        "distribution.quantile",
        "distribution.std",
    }


def test_every_injected_defect_is_found_at_once_with_rows_and_values() -> None:
    frame = customers().astype({"age": object, "monthly_spend": object, "customer_id": object})
    frame.loc[[11, 39], "age"] = [-3, 17]  # min: rows 12 and 40
    frame.loc[500, "age"] = 130  # max: row 501
    frame.loc[[7, 8], "age"] = ["abc", "4O"]  # unparseable: rows 8 and 9
    frame.loc[[20, 1500], "monthly_spend"] = [None, None]  # nulls: rows 21 and 1501
    frame.loc[30, "plan"] = "gold"  # not allowed: row 31
    frame.loc[[41, 42], "customer_id"] = ["X000001", "C12"]  # regex: rows 42 and 43
    frame.loc[99, "customer_id"] = "C000003"  # repeats row 4's id: row 100
    frame.loc[60, "signup_date"] = "2018-05-05"  # before the min date: row 61
    frame.loc[61, "signup_date"] = "31/12/2020"  # wrong format: row 62
    frame.loc[1999] = frame.loc[5]  # duplicate of row 6: row 2000
    report = through_csv(frame, contract())
    assert not report.accepted
    assert failed(report) == {
        ("column.min", "age"),
        ("column.max", "age"),
        ("column.type", "age"),
        ("column.not_null", "monthly_spend"),
        ("column.allowed_values", "plan"),
        ("column.regex", "customer_id"),
        ("column.unique", "customer_id"),
        ("column.min", "signup_date"),
        ("column.type", "signup_date"),
        ("table.duplicate_rows", None),
    }
    assert rows_and_values(result(report, "column.min", "age")) == [(12, -3), (40, 17)]
    assert result(report, "column.min", "age").observed_value == -3
    assert rows_and_values(result(report, "column.max", "age")) == [(501, 130)]
    age_type = result(report, "column.type", "age")
    assert rows_and_values(age_type) == [(8, "abc"), (9, "4O")]
    assert age_type.unexpected_count == 2 and age_type.unexpected_percent == pytest.approx(0.1)
    assert rows_and_values(result(report, "column.not_null", "monthly_spend")) == [(21, None), (1501, None)]
    assert rows_and_values(result(report, "column.allowed_values", "plan")) == [(31, "gold")]
    assert rows_and_values(result(report, "column.regex", "customer_id")) == [(42, "X000001"), (43, "C12")]
    assert rows_and_values(result(report, "column.unique", "customer_id")) == [(100, "C000003"), (2000, "C000005")]
    assert rows_and_values(result(report, "column.min", "signup_date")) == [(61, "2018-05-05T00:00:00")]
    assert rows_and_values(result(report, "column.type", "signup_date")) == [(62, "31/12/2020")]
    assert rows_and_values(result(report, "table.duplicate_rows")) == [(2000, "same as row 6")]
    assert report.failed_errors == 10 and report.failed_warnings == 0


def test_examples_stop_at_twenty_but_the_count_does_not() -> None:
    frame = customers()
    bad = np.arange(3, 2000, 40)
    frame.loc[bad, "age"] = -1
    r = result(through_csv(frame, contract()), "column.min", "age")
    assert r.unexpected_count == len(bad) == 50
    assert [e.row for e in r.examples] == [int(i) + 1 for i in bad[:20]]


@pytest.mark.parametrize(("mostly", "success"), [("0.99", True), ("0.9899", True), ("0.9901", False), ("1.0", False)])
def test_mostly_just_above_and_below_the_failing_fraction(mostly: str, success: bool) -> None:
    frame = customers()
    frame.loc[np.arange(20) * 97, "age"] = 5  # exactly 1 % of 2000 rows below the min
    spec = contract({"min: 18,": f"min: {{value: 18, mostly: {mostly}}},"})
    report = through_csv(frame, spec)
    r = result(report, "column.min", "age")
    assert (r.unexpected_count, r.unexpected_percent, r.mostly) == (20, 1.0, float(mostly))
    assert r.success is success
    assert report.accepted is success


def test_mostly_on_type_and_nulls() -> None:
    frame = customers().astype({"monthly_spend": object})
    frame.loc[np.arange(10), "monthly_spend"] = "n/a?"  # 0.5 % unparseable
    frame.loc[np.arange(10, 50), "monthly_spend"] = None  # 2 % null
    spec = contract(
        {
            "{name: monthly_spend, type: float, min: 0}": "{name: monthly_spend, type: {value: float, mostly: 0.994}, "
            "nullable: {value: false, mostly: 0.98}, min: 0}"
        }
    )
    report = through_csv(frame, spec)
    assert result(report, "column.type", "monthly_spend").success  # 10 of 1960 non-null cells: 99.49 %
    assert result(report, "column.not_null", "monthly_spend").success  # 40 of 2000: exactly 98 %
    tighter = spec.model_copy(deep=True)
    column = tighter.column("monthly_spend")
    assert column is not None
    column.nullable = column.nullable.model_copy(update={"mostly": 0.9801})
    assert not result(through_csv(frame, tighter), "column.not_null", "monthly_spend").success


def test_a_warning_is_reported_but_does_not_reject() -> None:
    frame = customers()
    frame.loc[[3, 4], "age"] = [150, 160]
    spec = contract({"max: 100}": "max: {value: 100, severity: warning}}"})
    report = through_csv(frame, spec)
    assert report.accepted
    assert (report.failed_errors, report.failed_warnings) == (0, 1)
    r = result(report, "column.max", "age")
    assert (r.severity, r.success) == ("warning", False)
    assert report.summary().splitlines()[-1] == (
        "⚠ warning column 'age' max ≤ 100: 2 rows (0.1 %) above, e.g. row 4: 150, row 5: 160"
    )


def test_class_share_and_distribution_shift() -> None:
    frame = customers()
    frame["churned"] = False
    frame.loc[np.arange(0, 2000, 40), "churned"] = True  # 2.5 % churned, under the 10 % floor
    frame["monthly_spend"] = frame["monthly_spend"] * 3  # mean from about 40 to about 120
    report = through_csv(frame, contract())
    share = result(report, "label.class_share", "churned")
    assert not share.success
    assert share.observed_value == pytest.approx(0.025)
    assert share.details["below"] == {"True": pytest.approx(0.025)}
    assert rows_and_values(share) == [(1, "True")]
    mean = result(report, "distribution.mean", "monthly_spend")
    assert not mean.success and mean.observed_value == pytest.approx(frame["monthly_spend"].mean())
    assert result(report, "distribution.quantile", "age").success
    assert result(report, "distribution.std", "age").success
    assert failed(report) == {("label.class_share", "churned"), ("distribution.mean", "monthly_spend")}


def test_missing_forbidden_and_extra_columns() -> None:
    frame = customers().drop(columns=["plan"])
    frame["ssn"] = "000-00-0000"
    frame["notes"] = "x"
    spec = contract({"duplicate_rows: reject": "duplicate_rows: reject\nforbidden_columns: [ssn, email]"})
    report = through_csv(frame, spec)
    assert failed(report) == {
        ("column.required", "plan"),
        ("column.forbidden", "ssn"),
        ("table.extra_columns", None),
    }
    assert result(report, "column.forbidden", "email").success
    assert result(report, "table.extra_columns").observed_value == ["notes"]
    lenient = contract({"duplicate_rows: reject": "duplicate_rows: reject\nextra_columns: warn"})
    report = through_csv(customers().assign(notes="x"), lenient)
    assert report.accepted and report.failed_warnings == 1
    assert result(report, "table.extra_columns").severity == "warning"


def test_optional_columns_may_be_absent() -> None:
    coupon = "\n  - {name: coupon, type: string, required: false}"
    spec = contract({"{name: churned, type: bool}": "{name: churned, type: bool}" + coupon})
    report = through_csv(customers(), spec)
    assert report.accepted
    assert not any(r.column == "coupon" for r in report.results)


def test_row_count_bounds() -> None:
    report = through_csv(customers(500), contract())
    r = result(report, "table.row_count")
    assert (r.success, r.observed_value, r.details) == (False, 500, {"min": 1000})


def test_breast_cancer_with_negative_radius_and_gaps() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    spec = load_contract(
        """
dataset: breast-cancer
version: 1
label: target
columns:
"""
        + "\n".join(f"  - {{name: '{c}', type: float, min: 0}}" for c in frame.columns if c != "target")
        + """
  - {name: target, type: int, allowed_values: [0, 1]}
label_min_class_share: 0.3
""",
        source="breast-cancer.yaml",
    )
    assert validate(frame, spec).accepted
    frame.loc[[10, 200], "mean radius"] = [-1.5, -0.25]
    frame.loc[300, "worst area"] = np.nan
    frame.loc[400, "target"] = 2
    report = validate(frame, spec)
    assert failed(report) == {
        ("column.min", "mean radius"),
        ("column.not_null", "worst area"),
        ("column.allowed_values", "target"),
        ("label.class_share", "target"),  # the stray class 2 has one row in 569
    }
    assert rows_and_values(result(report, "column.min", "mean radius")) == [(11, -1.5), (201, -0.25)]
    assert rows_and_values(result(report, "column.not_null", "worst area")) == [(301, None)]
    assert rows_and_values(result(report, "column.allowed_values", "target")) == [(401, 2)]


def test_wine_class_share_floor() -> None:
    frame = load_wine(as_frame=True).frame
    spec = load_contract(
        "dataset: wine\nversion: 1\nlabel: target\nextra_columns: allow\nlabel_min_class_share: 0.35\n"
        "columns:\n  - {name: target, type: int}\n  - {name: alcohol, type: float}\n",
        source="wine.yaml",
    )
    report = validate(frame, spec)
    share = result(report, "label.class_share", "target")
    counts = frame["target"].value_counts(normalize=True)
    assert share.details["shares"] == {str(k): pytest.approx(v) for k, v in counts.items()}
    assert share.details["below"] == {str(k): pytest.approx(v) for k, v in counts.items() if v < 0.35}
    assert share.unexpected_count == 2 and not share.success
    first_rows = {str(k): int(np.flatnonzero(frame["target"].to_numpy() == k)[0]) + 1 for k in (0, 2)}
    assert sorted(rows_and_values(share)) == sorted((row, k) for k, row in first_rows.items())
    # Two of three classes fail: mostly 0.33 (one class in three must pass) accepts it.
    assert spec.label_min_class_share is not None
    tolerant = spec.label_min_class_share.model_copy(update={"mostly": 0.33})
    lenient = spec.model_copy(update={"label_min_class_share": tolerant})
    assert validate(frame, lenient).accepted


def test_iris_names_regex_and_categories() -> None:
    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(species=pd.Categorical(np.asarray(iris.target_names)[iris.target]))
    spec = load_contract(
        """
dataset: iris
version: 1
label: species
extra_columns: allow
columns:
  - {name: species, type: category, regex: "[a-z]+", allowed_values: [setosa, versicolor, virginica]}
  - {name: petal length (cm), type: float, min: 1, max: 7}
""",
        source="iris.yaml",
    )
    assert validate(frame, spec).accepted
    frame["species"] = frame["species"].cat.add_categories(["Virginica", "rose"])
    frame.loc[[5, 149], "species"] = ["Virginica", "rose"]
    report = validate(frame, spec)
    assert rows_and_values(result(report, "column.regex", "species")) == [(6, "Virginica")]
    assert rows_and_values(result(report, "column.allowed_values", "species")) == [(6, "Virginica"), (150, "rose")]


def test_diabetes_distribution_shift_and_severity() -> None:
    frame = load_diabetes(as_frame=True).frame
    spec = load_contract(
        """
dataset: diabetes
version: 1
label: target
extra_columns: allow
columns:
  - {name: bmi, type: float}
  - {name: target, type: float, min: 0}
distributions:
  - {column: bmi, statistic: mean, min: -0.01, max: 0.01}
  - {column: target, statistic: quantile, q: 0.9, min: 200, max: 300, severity: warning}
""",
        source="diabetes.yaml",
    )
    report = validate(frame, spec)
    assert report.accepted and report.failed_warnings == 0
    shifted = frame.assign(bmi=frame["bmi"] + 0.05, target=frame["target"] * 1.5)
    report = validate(shifted, spec)
    assert failed(report) == {("distribution.mean", "bmi"), ("distribution.quantile", "target")}
    assert not report.accepted and (report.failed_errors, report.failed_warnings) == (1, 1)
    quantile = result(report, "distribution.quantile", "target")
    assert quantile.observed_value == pytest.approx(np.quantile(shifted["target"], 0.9))
    assert quantile.details == {"statistic": "quantile", "q": 0.9, "min": 200.0, "max": 300.0}


def test_type_conformance_of_frames_not_read_from_csv() -> None:
    spec = load_contract(
        """
dataset: mixed
version: 1
columns:
  - {name: n, type: int}
  - {name: s, type: string}
  - {name: b, type: bool}
  - {name: t, type: datetime}
""",
        source="mixed.yaml",
    )
    frame = pd.DataFrame(
        {
            "n": [1.0, 2.5, np.nan, 4.0],
            "s": ["a", "b", None, "d"],
            "b": [0, 1, 2, 1],
            "t": ["2020-01-01", "not a date", None, "2021-02-03T04:05:06"],
        }
    )
    report = validate(frame, spec)
    assert rows_and_values(result(report, "column.type", "n")) == [(2, 2.5)]
    assert rows_and_values(result(report, "column.type", "b")) == [(3, 2)]
    assert rows_and_values(result(report, "column.type", "t")) == [(2, "not a date")]
    assert result(report, "column.type", "s").success
    assert rows_and_values(result(report, "column.not_null", "n")) == [(3, None)]


def test_report_json_is_stable_and_complete() -> None:
    frame = customers()
    frame.loc[12, "age"] = -3
    spec = contract()
    first = through_csv(frame, spec).to_json()
    assert first == through_csv(frame, spec).to_json()
    data = json.loads(first)
    assert list(data) == sorted(data)
    assert {k: data[k] for k in ("dataset", "contract_version", "file_name", "rows", "columns", "accepted")} == {
        "dataset": "customers",
        "contract_version": 4,
        "file_name": "customers.csv",
        "rows": 2000,
        "columns": 6,
        "accepted": False,
    }
    assert (data["failed_errors"], data["failed_warnings"], data["file_problem"]) == (1, 0, None)
    age_min = next(r for r in data["results"] if r["expectation"] == "column.min" and r["column"] == "age")
    assert age_min == {
        "expectation": "column.min",
        "column": "age",
        "severity": "error",
        "success": False,
        "observed_value": -3,
        "unexpected_count": 1,
        "unexpected_percent": 0.05,
        "mostly": 1.0,
        "examples": [{"row": 13, "value": -3}],
        "details": {"min": 18},
    }


def test_summary_reads_verdict_then_errors_then_warnings() -> None:
    frame = customers()
    frame.loc[[11, 39], "age"] = [-3, -1]
    frame.loc[3, "plan"] = "gold"
    warning = "allowed_values: {value: [free, pro, enterprise], severity: warning}}"
    spec = contract({"allowed_values: [free, pro, enterprise]}": warning})
    lines = through_csv(frame, spec).summary().splitlines()
    assert lines[0] == "REJECTED customers.csv for dataset 'customers' (contract v4): 2,000 rows, 6 columns"
    assert lines[1].endswith("1 error(s), 1 warning(s)")
    assert lines[2] == "✗ error   column 'age' min ≥ 18: 2 rows (0.1 %) below, e.g. row 12: -3, row 40: -1"
    assert lines[3] == (
        "⚠ warning column 'plan' in {free, pro, enterprise}: 1 row (0.05 %) not allowed, e.g. row 4: 'gold'"
    )
    assert len(lines) == 4


@pytest.mark.parametrize("number_type", ["int", "string"])
def test_duplicate_rows_need_every_column_equal(number_type: str) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, 3, n),  # ties everywhere: the text columns must decide
            "s": [f"s{i}" for i in range(n)],
            "t": rng.choice(["p", "q"], n),
        }
    )
    frame.loc[2000] = frame.loc[10]  # an exact copy: row 2001 repeats row 11
    frame.loc[2500, ["a", "t"]] = frame.loc[20, ["a", "t"]].to_numpy()  # equal but for column s
    if number_type == "string":
        frame["a"] = frame["a"].astype("str")
    spec = load_contract(
        f"""
dataset: dups
version: 1
duplicate_rows: {{value: reject, mostly: 0.999}}
columns:
  - {{name: a, type: {number_type}}}
  - {{name: s, type: string}}
  - {{name: t, type: category}}
""",
        source="dups.yaml",
    )
    r = result(validate(frame, spec), "table.duplicate_rows")
    assert rows_and_values(r) == [(2001, "same as row 11")]
    assert (r.unexpected_count, r.success) == (1, True)  # 1 in 3000 is within the 0.1 % tolerance


def test_a_column_of_distinct_values_settles_duplicate_rows_without_hashing() -> None:
    report = through_csv(customers(), contract())
    r = result(report, "table.duplicate_rows")
    assert (r.success, r.unexpected_count) == (True, 0)
    assert r.details["distinct_column"] == "customer_id"
    frame = customers()
    frame.loc[7, "customer_id"] = None  # a gap in the ids: then rows must be compared after all
    frame.loc[1000] = frame.loc[7]
    r = result(through_csv(frame, contract()), "table.duplicate_rows")
    assert "distinct_column" not in r.details
    assert rows_and_values(r) == [(1001, "same as row 8")]


def test_a_very_wide_file_and_a_long_cell_keep_the_summary_readable() -> None:
    # A stranger's file with 3,000 undeclared columns made a 35,000-character summary line (and a
    # 71 KB mail); a 500-character cell was printed in full. The page has them all; the summary names
    # ten columns and cuts a cell at 200 characters.
    from mlops.contracts.report import SHOWN_CHARACTERS, SHOWN_NAMES
    from mlops.datasets.upload_outcome import _failure_lines as failure_lines

    frame = customers(n=1000)
    frame.loc[3, "customer_id"] = "X" * 500
    wide = pd.concat([frame, pd.DataFrame({f"c{i}": [0] * len(frame) for i in range(3_000)})], axis=1)
    report = through_csv(wide, contract({}))
    lines = report.summary().splitlines()
    extra = next(line for line in lines if "no undeclared columns" in line)
    assert extra.endswith(f"and {3_000 - SHOWN_NAMES:,} more") and len(extra) < 300
    regex = next(line for line in lines if "customer_id" in line and "not matching" in line)
    assert "X" * (SHOWN_CHARACTERS - 1) in regex and "X" * SHOWN_CHARACTERS not in regex  # the quote counts
    mail = failure_lines(json.loads(report.model_dump_json()))
    assert max(len(line) for line in mail) < 400
    assert any(f"and {3_000 - SHOWN_NAMES:,} more" in line for line in mail)
