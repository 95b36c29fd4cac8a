"""Prepare: stratified, seeded, reproducible splits; the feature recipe (imputation, one-hot) shared
with serving; clear errors for data the config does not fit; and a reference profile small enough
to store and precise enough for KS drift tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from scipy.stats import ks_2samp

from mlops.datasets.versioning import NULL_MASK_PREFIX, ColumnSchema
from mlops.monitoring.profile import NumericProfile, QuantileSketch, ks_statistic, numeric_profile
from mlops.training.config import ConfigError, TrainingConfig
from mlops.training.features import CategoricalFeature, DatetimeFeature, NumericFeature, encode_records
from mlops.training.prepare import Splits, prepare, split_rows
from tests.unit.training.support import mixed_dataset, sklearn_dataset, small_config


def _config(problem_type: str = "binary", **overrides: Any) -> TrainingConfig:
    return small_config(problem_type, **overrides)  # type: ignore[arg-type]


def test_splits_are_stratified_disjoint_and_cover_every_row() -> None:
    arrays, columns = sklearn_dataset("wine")
    prepared = prepare(arrays, columns, _config("multiclass"))
    s = prepared.splits
    rows = np.concatenate([s.rows_train, s.rows_validation, s.rows_test])
    assert np.array_equal(np.sort(rows), np.arange(arrays["target"].size))
    overall = np.bincount(arrays["target"]) / arrays["target"].size
    for y in (s.y_train, s.y_validation, s.y_test):
        share = np.bincount(y, minlength=3) / y.size
        assert np.abs(share - overall).max() < 1.5 / y.size + 1e-9  # within about one row per class
    assert prepared.meta.rows == {
        "train": s.y_train.size,
        "validation": s.y_validation.size,
        "test": s.y_test.size,
        "dropped_missing_label": 0,
    }
    assert abs(s.y_test.size - 0.2 * 178) <= 2 and abs(s.y_validation.size - 0.2 * 178) <= 2


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_split() -> None:
    arrays, columns = sklearn_dataset("breast_cancer")
    first = prepare(arrays, columns, _config())
    again = prepare(arrays, columns, _config())
    assert first.splits_bytes == again.splits_bytes
    assert first.meta == again.meta and first.profile == again.profile
    other = prepare(arrays, columns, _config(split={"seed": 7}))
    assert not np.array_equal(other.splits.rows_test, first.splits.rows_test)
    restored = Splits.from_bytes(first.splits_bytes)
    assert np.array_equal(restored.X_train, first.splits.X_train) and restored.X_train.dtype == np.float32
    assert restored.feature_names == first.splits.feature_names and restored.segments_test is None


def test_split_rows_keeps_a_row_to_train_on_in_tiny_strata() -> None:
    strata = np.array([0] * 50 + [1, 1, 2])
    train, validation, test = split_rows(strata, 0.2, 0.2, seed=1)
    assert {1, 2} <= set(strata[train].tolist())
    assert len(train) + len(validation) + len(test) == strata.size


def test_regression_can_stratify_on_label_deciles() -> None:
    arrays, columns = sklearn_dataset("diabetes")
    plain = prepare(arrays, columns, _config("regression"))
    stratified = prepare(arrays, columns, _config("regression", split={"stratify": True}))
    assert plain.meta.label.classes is None and plain.splits.y_train.dtype == np.float64
    assert not np.array_equal(plain.splits.rows_test, stratified.splits.rows_test)
    assert abs(np.median(stratified.splits.y_test) - np.median(arrays["target"])) < 15


def test_mixed_columns_are_imputed_and_one_hot_encoded_as_serving_will() -> None:
    arrays, columns = mixed_dataset()
    config = _config(label="outcome", segment_column="region", encoding={"max_categories": 3})
    prepared = prepare(arrays, columns, config)
    meta = prepared.meta
    assert meta.label.classes == ["churn", "stay"] and meta.label.positive_class == "stay"
    assert meta.excluded_columns == {}
    spec = meta.feature_spec
    assert spec.columns == ["age", "income", "member", "city", "seen"]  # region is the segment column
    city = spec.features[3]
    assert isinstance(city, CategoricalFeature)
    assert city.categories == ["Lyon", "Oslo", "Porto"] and city.other  # Quito and Zanzibar folded
    age = spec.features[0]
    assert isinstance(age, NumericFeature)
    assert spec.encoded_names == [
        *["age", "income", "member", "city=Lyon", "city=Oslo", "city=Porto", "city=__other__"],
        *["seen__year", "seen__month", "seen__day_of_week", "seen__days_since"],  # dates without times: no hour
    ]
    assert not np.isnan(prepared.splits.X_train).any()
    assert prepared.splits.segments_test is not None and set(prepared.splits.segments_test) <= {
        "north",
        "south",
        "east",
    }
    # Serving encodes JSON records with the same spec and gets the same matrix.
    rows = prepared.splits.rows_test[:40]
    records = []
    for r in rows.tolist():
        record: dict[str, Any] = {"age": None if np.isnan(arrays["age"][r]) else float(arrays["age"][r])}
        record["income"] = float(arrays["income"][r])
        record["member"] = None if arrays[f"{NULL_MASK_PREFIX}member"][r] else bool(arrays["member"][r])
        if not arrays[f"{NULL_MASK_PREFIX}city"][r]:
            record["city"] = str(arrays["city"][r])
        record["seen"] = str(arrays["seen"][r].astype("datetime64[D]"))
        records.append(record)
    assert np.array_equal(encode_records(records, spec), prepared.splits.X_test[:40])
    unseen = encode_records([{"age": 30, "income": 1e4, "member": "true", "city": "Atlantis"}], spec)
    assert unseen[0, :7].tolist() == [30.0, 1e4, 1.0, 0.0, 0.0, 0.0, 1.0]
    missing = encode_records([{}], spec)[0]
    assert missing[0] == np.float32(age.impute) and missing[3:7].sum() == 0
    seen = spec.features[4]
    assert isinstance(seen, DatetimeFeature) and missing[7:].tolist() == [np.float32(v) for v in seen.impute]


def test_data_that_does_not_fit_the_config_names_the_fields() -> None:
    arrays, columns = mixed_dataset()
    config = _config(label="nope", features=["age", "seen", "ghost"], segment_column="nowhere")
    with pytest.raises(ConfigError) as caught:
        prepare(arrays, columns, config)
    problems = dict(caught.value.problems)
    assert set(problems) == {"label", "segment_column", "features[2]"}  # a datetime is a feature
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        prepare(*sklearn_dataset("wine"), _config("binary"))
    with pytest.raises(ConfigError, match="regression needs an int or float label"):
        prepare(arrays, columns, _config("regression", label="outcome"))


def test_rows_without_a_label_are_dropped_and_counted() -> None:
    arrays, columns = sklearn_dataset("iris")
    arrays = dict(arrays)
    target = arrays["target"].astype(np.float64)
    target[[0, 60, 120]] = np.nan  # an int column with nulls is stored as float64 with NaN
    arrays["target"] = target
    prepared = prepare(arrays, columns, _config("multiclass"))
    assert prepared.meta.rows["dropped_missing_label"] == 3
    assert prepared.meta.label.classes == [0, 1, 2]
    assert not {0, 60, 120} & set(np.concatenate([prepared.splits.rows_train, prepared.splits.rows_test]).tolist())


def _json_size(model: Any) -> int:
    return len(json.dumps(model.model_dump(mode="json"), separators=(",", ":")))


def test_the_reference_profile_is_small_and_json() -> None:
    arrays, columns = mixed_dataset(rows=20_000)
    prepared = prepare(arrays, columns, _config(label="outcome"))
    profile = prepared.profile
    dates = {"seen__year", "seen__month", "seen__day_of_week", "seen__days_since"}  # a date as the model sees it
    assert set(profile.features) == {"age", "income", "member", "city", "region", *dates}
    age = profile.features["age"]
    assert isinstance(age, NumericProfile) and 0.03 < age.missing_rate < 0.07 and len(age.sketch.values) == 1001
    city = profile.features["city"]
    assert city.kind == "categorical" and abs(sum(city.frequencies.values()) - 1) < 1e-9
    for feature in profile.features.values():
        assert _json_size(feature) <= 25_000
    # Worst case for size: 100,000 distinct doubles with long decimal forms.
    rng = np.random.RandomState(3)
    wide = numeric_profile(rng.normal(-1e6, 3e5, 100_000), np.zeros(100_000, dtype=bool))
    assert _json_size(wide) <= 25_000, _json_size(wide)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: (r.normal(0, 1, 100_000), r.normal(0.03, 1.05, 100_000)),  # continuous, slight shift
        lambda r: (r.lognormal(0, 1, 100_000), r.lognormal(0.3, 1, 100_000)),  # skewed
        lambda r: (r.poisson(3, 100_000).astype(float), r.poisson(3.2, 100_000).astype(float)),  # ties
        lambda r: (  # atoms (zero-inflated) plus a continuous part
            np.where(r.rand(100_000) < 0.3, 0.0, r.exponential(2, 100_000)),
            np.where(r.rand(100_000) < 0.35, 0.0, r.exponential(2.2, 100_000)),
        ),
        lambda r: (r.normal(0, 1, 100_000), r.normal(0, 1, 100_000)),  # no drift at all
    ],
    ids=["normal", "lognormal", "poisson", "zero-inflated", "same"],
)
def test_ks_against_the_sketch_matches_scipy_within_0_002(make: Any) -> None:
    reference, current = make(np.random.RandomState(11))
    sketch = QuantileSketch.of(reference)
    exact = ks_2samp(reference, current, method="asymp").statistic
    assert abs(ks_statistic(sketch, current) - exact) <= 0.002, (ks_statistic(sketch, current), exact)


def test_ks_edge_cases() -> None:
    sketch = QuantileSketch.of(np.arange(1000.0))
    assert ks_statistic(sketch, np.array([-5.0, -4.0])) == pytest.approx(1.0)
    assert ks_statistic(sketch, np.array([np.nan])) == 1.0  # nothing to compare: maximal
    assert ks_statistic(QuantileSketch.of(np.array([])), np.array([])) == 0.0
    constant = QuantileSketch.of(np.full(500, 2.0))
    assert ks_statistic(constant, np.full(10, 2.0)) == 0.0
    assert ks_statistic(constant, np.array([1.0, 2.0])) == pytest.approx(0.5)


def test_manifest_columns_may_be_plain_dicts() -> None:
    arrays, columns = sklearn_dataset("iris")
    as_dicts = [c.model_dump() for c in columns]
    assert isinstance(columns[0], ColumnSchema)
    assert (
        prepare(arrays, as_dicts, _config("multiclass")).splits_bytes
        == prepare(arrays, columns, _config("multiclass")).splits_bytes
    )


def test_identifiers_free_text_dates_and_excluded_columns_are_not_features_and_each_says_why() -> None:
    """A churn table as users bring it: ids and dates used to become one-hot features, so two rows
    differing only in id got different probabilities."""
    from tests.unit.training.support import _column, stored

    arrays, columns = mixed_dataset()
    rows = arrays["outcome"].size
    rng = np.random.default_rng(3)
    arrays["customer_id"] = np.array([f"C{i:06d}" for i in rng.permutation(rows)])
    arrays["notes"] = np.array([f"called {rng.integers(0, 10_000)} times" for _ in range(rows)])
    arrays["account_number"] = np.arange(rows, dtype=np.int64) + 10_000
    arrays["internal_score"] = rng.normal(size=rows)
    for name, kind in (("customer_id", "string"), ("notes", "string"), ("internal_score", "float")):
        columns.append(_column(name, arrays[name], kind))
    columns.append(_column("account_number", arrays["account_number"], "int").model_copy(update={"unique": True}))
    config = _config(label="outcome", segment_column="region", exclude=["internal_score"])
    config = config.model_copy(update={"encoding": config.encoding.model_copy(update={"max_distinct_values": 300})})
    prepared = prepare(stored(arrays), columns, config)
    excluded = prepared.meta.excluded_columns
    assert excluded["customer_id"] == f"every one of its {rows} values is distinct: an identifier, not a feature"
    assert excluded["account_number"].startswith("the contract marks it unique")
    assert excluded["notes"].startswith("free text:") and "encoding.max_distinct_values (300)" in excluded["notes"]
    assert excluded["internal_score"] == "listed under exclude"
    assert "seen" not in excluded  # a date is a feature: its parts (test_date_features.py)
    used = set(prepared.meta.feature_spec.columns)
    assert used == {"age", "income", "member", "city", "seen"}, used
    # asked for by name, an id is used: the user decides
    named = prepare(stored(arrays), columns, _config(label="outcome", features=["age", "customer_id"]))
    assert set(named.meta.feature_spec.columns) == {"age", "customer_id"}


def test_numeric_ids_and_free_text_in_a_small_upload_are_not_features() -> None:
    """Found by a newcomer: an integer `patient_no` (every value distinct) became the model's first
    input, and 230 distinct notes in a 300-row upload became 51 one-hot inputs, since the free-text
    limit was an absolute count. An all-distinct integer with an ordinary name stays a feature."""
    from tests.unit.training.support import _column, stored

    arrays, columns = mixed_dataset(rows=300)
    rng = np.random.default_rng(5)
    arrays["patient_no"] = rng.permutation(300).astype(np.int64) + 1000
    arrays["income_cents"] = rng.permutation(300).astype(np.int64) * 7 + 100_000  # distinct, not an id
    arrays["notes"] = np.array([f"note {rng.integers(0, 260)}" for _ in range(300)])
    for name, kind in (("patient_no", "int"), ("income_cents", "int"), ("notes", "string")):
        columns.append(_column(name, arrays[name], kind))
    excluded = prepare(stored(arrays), columns, _config(label="outcome")).meta.excluded_columns
    assert (
        excluded["patient_no"]
        == "every one of its 300 values is distinct, and its name says id: an identifier, not a feature"
    )
    assert "income_cents" not in excluded
    distinct = np.unique(arrays["notes"]).size
    assert excluded["notes"].startswith(f"free text: {distinct} distinct values in 300 rows, over 50% of them")


def test_all_distinct_sentences_are_called_free_text_not_an_identifier() -> None:
    """Found by a stranger: a notes column whose every value differed was listed as "an identifier"."""
    from tests.unit.training.support import _column, stored

    arrays, columns = mixed_dataset(rows=300)
    arrays["notes"] = np.array([f"called about invoice {i}" for i in range(300)])
    arrays["ticket"] = np.array([f"T-{i:05d}" for i in range(300)])
    for name in ("notes", "ticket"):
        columns.append(_column(name, arrays[name], "string"))
    excluded = prepare(stored(arrays), columns, _config(label="outcome")).meta.excluded_columns
    assert excluded["notes"] == "free text: every one of its 300 values is distinct (name it under features to use it)"
    assert excluded["ticket"] == "every one of its 300 values is distinct: an identifier, not a feature"


def test_the_run_report_lists_each_column_left_out_and_why() -> None:
    from mlops.training.chain import run_training
    from tests.unit.training.support import _column, stored

    arrays, columns = mixed_dataset()
    arrays["customer_id"] = np.array([f"C{i:06d}" for i in range(arrays["outcome"].size)])
    columns.append(_column("customer_id", arrays["customer_id"], "string"))
    run = run_training(stored(arrays), columns, _config(label="outcome", segment_column="region"), latency_repeats=5)
    assert "<h2>Columns not used as features</h2>" in run.report_html
    assert "customer_id" in run.report_html and "an identifier, not a feature" in run.report_html
