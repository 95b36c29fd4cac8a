"""Datetime features: a date becomes the parts the config names (year, month, day of week, hour, days
since a reference), derived by one function that training and serving both call, so a served
request and the training split give the same model input bit for bit; the client sends the raw ISO
text, and the signature says so."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pytest

from mlops.monitoring.config import DriftConfig
from mlops.monitoring.drift import check_drift
from mlops.monitoring.window import CapturedWindow
from mlops.serving.capture import CaptureBuffer, read_capture
from mlops.serving.date_parts import DATE_PARTS, derive_parts, parse_iso
from mlops.serving.inputs import InputPolicy, RequestError, encode_request
from mlops.serving.models import load_version
from mlops.serving.signature import ServedSignature
from mlops.training.config import ConfigError, DatetimePart, TrainingConfig
from mlops.training.features import DatetimeFeature, encode_records
from mlops.training.prepare import prepare
from mlops.training.signature import signature, signature_json
from tests.unit.serving.support import Registered, _register
from tests.unit.training.support import churn_dataset, small_config

UTC_PARTS = ["year", "month", "day", "day_of_week", "day_of_year", "hour", "days_since"]


def _parts(*texts: str | None, reference: str = "2024-01-01") -> list[list[float]]:
    stamps = np.array([np.datetime64("NaT") if t is None else parse_iso(t) for t in texts], dtype="datetime64[us]")
    parts: list[list[float]] = derive_parts(stamps, UTC_PARTS, reference).tolist()
    return parts


def test_the_part_names_of_the_config_are_the_ones_derived() -> None:
    from typing import get_args

    assert get_args(DatetimePart) == DATE_PARTS


def test_parts_of_a_leap_day_a_date_before_1970_and_a_missing_date() -> None:
    leap, old, missing = _parts("2024-02-29T10:30:00", "1969-12-31T23:00:00", None)
    assert leap == [2024, 2, 29, 3, 60, 10, 59.4375]  # a Thursday, day 60, 59 days and 10.5 hours in
    assert old == [1969, 12, 31, 2, 365, 23, pytest.approx(-19723 - 1 / 24)]  # a Wednesday
    assert all(np.isnan(missing))
    assert _parts("2023-12-31")[0][3:5] == [6, 365] and _parts("2024-12-31")[0][4] == 366  # Sunday; leap year


def test_time_zones_are_converted_to_utc_and_naive_values_read_as_utc() -> None:
    same = _parts("2024-03-01T01:30:00+02:00", "2024-02-29T23:30:00Z", "2024-02-29T23:30:00", "2024-02-29 23:30")
    assert same[0] == same[1] == same[2] == same[3]
    assert same[0][:3] == [2024, 2, 29] and same[0][5] == 23  # the UTC day, not the client's local one
    assert _parts("2024-02-29")[0] == _parts("2024-02-29T00:00:00+00:00")[0]


@pytest.mark.parametrize(
    "text", ["02/29/2024", "03/01/2024", "2023-02-29", "", "yesterday", "2024-13-01", "1709164800", "2024-01-05T0705"]
)
def test_text_that_is_not_an_iso_8601_date_is_refused(text: str) -> None:
    assert parse_iso(text) is None


@cache
def churn_with_dates() -> Registered:
    """The churn-like table (an id, an ISO signup date-time, plans, gaps) trained and registered."""
    arrays, columns = churn_dataset()
    config = small_config("binary", dataset="churn", label="churned")
    return _register("churn-dates", arrays, columns, config, config.candidates[0], 1)


def _records(registered: Registered, rows: Any) -> list[dict[str, Any]]:
    return registered.records(rows)


def test_the_id_is_left_out_and_the_date_becomes_its_parts_in_the_signature() -> None:
    registered = churn_with_dates()
    meta = registered.prepared.meta
    assert meta.excluded_columns == {
        "customer_id": "every one of its 800 values is distinct: an identifier, not a feature"
    }
    spec = meta.feature_spec
    assert spec.columns == ["signup_at", "plan", "monthly_charges", "support_calls"]
    signup = spec.features[0]
    assert isinstance(signup, DatetimeFeature)
    assert signup.parts == ["year", "month", "day_of_week", "hour", "days_since"]  # the values have times
    assert signup.earliest is not None and signup.reference == signup.earliest[:10]  # the first training date
    sig = signature_json(
        signature(small_config("binary", label="churned"), spec, registered.prepared.splits.X_train, meta.classes)
    )
    names = sig["feature_names"]
    assert names[:5] == [f"signup_at__{p}" for p in signup.parts] and "customer_id" not in str(names)
    field = next(f for f in sig["inputs"] if f["name"] == "signup_at")
    assert field["kind"] == "datetime" and field["type"] == "datetime" and "ISO 8601" in field["format"]
    assert "customer_id" not in {f["name"] for f in sig["inputs"]}
    described = ServedSignature.from_json(sig).describe()["inputs"][0]
    assert described["name"] == "signup_at" and described["model_inputs"] == names[:5]
    assert described["training_range"]["min"] == signup.earliest


def test_serving_encodes_raw_date_text_exactly_as_training_encoded_the_stored_dates() -> None:
    registered = churn_with_dates()
    served = load_version("churn-dates", registered.model_version, registered.artifacts.__getitem__)
    records = _records(registered, registered.prepared.splits.rows_test)
    assert sum(r["signup_at"] is None for r in records) > 0  # missing dates are in the test split
    encoded = encode_request(records, served.signature, InputPolicy(out_of_range="warn", unseen_category="warn"))
    assert np.array_equal(encoded.matrix, registered.prepared.splits.X_test)
    assert np.array_equal(encode_records(records, registered.prepared.meta.feature_spec), encoded.matrix)
    # The same instants written with offsets, or as a date alone at midnight, give the same row.
    shifted = []
    for r in records:
        text = r["signup_at"]
        if text is not None and text.endswith("Z"):
            moment = parse_iso(text)
            assert moment is not None
            local = (moment + np.timedelta64(330, "m")).astype("datetime64[s]")
            text = f"{local}+05:30"
        shifted.append({**r, "signup_at": text})
    again = encode_request(shifted, served.signature, InputPolicy(out_of_range="warn", unseen_category="warn"))
    assert np.array_equal(again.matrix, encoded.matrix)
    answer = served.predict(encoded.matrix)
    assert answer.probabilities is not None
    assert np.abs(answer.probabilities - registered.model.predict_proba(encoded.matrix)).max() < 1e-5


def test_serving_encodes_short_and_unpadded_dates_as_their_full_form_as_ingestion_stores_them() -> None:
    registered = churn_with_dates()
    served = load_version("churn-dates", registered.model_version, registered.artifacts.__getitem__)
    base = _records(registered, registered.prepared.splits.rows_test[:1])[0]
    policy = InputPolicy(out_of_range="warn", unseen_category="warn")
    pairs = [("2024-01", "2024-01-01"), ("2024-1-5", "2024-01-05"), ("2024-01-05T7:05", "2024-01-05T07:05:00Z")]
    loose = encode_request([{**base, "signup_at": a} for a, _ in pairs], served.signature, policy)
    full = encode_request([{**base, "signup_at": b} for _, b in pairs], served.signature, policy)
    assert np.array_equal(loose.matrix, full.matrix)
    assert np.array_equal(
        encode_records([{**base, "signup_at": a} for a, _ in pairs], registered.prepared.meta.feature_spec), full.matrix
    )


def test_a_date_that_is_not_iso_8601_is_a_400_naming_the_field_and_the_format() -> None:
    registered = churn_with_dates()
    served = load_version("churn-dates", registered.model_version, registered.artifacts.__getitem__)
    good = _records(registered, registered.prepared.splits.rows_test[:4])
    bad = [{**good[0], "signup_at": "03/01/2024"}, {**good[1], "signup_at": 1709164800}, good[2], dict(good[3])]
    del bad[3]["signup_at"]
    with pytest.raises(RequestError) as caught:
        encode_request(bad, served.signature, served.policy)
    found = {(p.row, p.field, p.code) for p in caught.value.problems}
    assert found == {
        (0, "signup_at", "wrong_format"),
        (1, "signup_at", "wrong_format"),
        (3, "signup_at", "missing_field"),
    }
    message = caught.value.problems[0].message
    assert "ISO 8601" in message and "YYYY-MM-DD" in message and "'03/01/2024'" in message
    # null is a missing date: each part takes its training value, as a missing number does
    null = encode_request([{**good[0], "signup_at": None}], served.signature, served.policy)
    signup = registered.prepared.meta.feature_spec.features[0]
    assert isinstance(signup, DatetimeFeature)
    assert null.matrix[0, :5].tolist() == [np.float32(v) for v in signup.impute]


def test_configured_parts_and_reference_date_are_used_and_a_repeated_part_is_refused() -> None:
    arrays, columns = churn_dataset()
    config = small_config(
        "binary",
        label="churned",
        encoding={
            "datetime": {"parts": ["year"]},
            "datetime_columns": {"signup_at": {"parts": ["day_of_year", "days_since"], "reference": "2020-01-01"}},
        },
    )
    spec = prepare(arrays, columns, config).meta.feature_spec
    signup = spec.features[0]
    assert isinstance(signup, DatetimeFeature) and signup.reference == "2020-01-01"
    assert spec.encoded_names[:2] == ["signup_at__day_of_year", "signup_at__days_since"]
    with pytest.raises(ValueError, match="list each part once"):
        small_config("binary", label="churned", encoding={"datetime": {"parts": ["year", "year"]}})
    wrong = small_config("binary", label="churned", encoding={"datetime_columns": {"plan": {"parts": ["year"]}}})
    with pytest.raises(ConfigError, match="'plan' is a string column, not a datetime"):
        prepare(arrays, columns, wrong)
    assert isinstance(config, TrainingConfig) and date(2020, 1, 1).isoformat() == signup.reference


def test_drift_is_checked_on_the_parts_that_capture_keeps() -> None:
    registered = churn_with_dates()
    served = load_version("churn-dates", registered.model_version, registered.artifacts.__getitem__)
    profile = registered.prepared.profile
    assert {f"signup_at__{p}" for p in ("year", "month", "day_of_week", "hour", "days_since")} <= set(profile.features)
    assert "signup_at" not in profile.features
    written: dict[str, bytes] = {}
    buffer = CaptureBuffer(write=written.__setitem__, default_sample_rate=1.0)
    records = _records(registered, registered.prepared.splits.rows_train)
    later = [{**r, "signup_at": None if r["signup_at"] is None else "2026-06-01T12:00:00Z"} for r in records]
    for rows in (records, later):
        encoded = encode_request(rows, served.signature, InputPolicy(out_of_range="warn", unseen_category="warn"))
        answer = served.predict(encoded.matrix)
        buffer.add(
            model="churn-dates",
            version=1,
            fields=served.signature.field_kinds,
            classes=served.signature.classes,
            values=encoded.values,
            predictions=answer.predictions,
            probabilities=answer.probabilities,
            variant="champion",
            request_id="r",
        )
        buffer.flush()
    batches = [read_capture(data) for data in written.values()]
    assert (
        batches[0][0]["fields"]["signup_at__month"] == "numeric"
        and batches[0][0]["fields"]["signup_at"] == "categorical"
    )
    reports = [
        check_drift(
            profile,
            CapturedWindow.from_batches([batch]),
            DriftConfig(),
            model="churn-dates",
            version=1,
            checked_at="2026-06-02T00:00:00Z",
            window_start=None,
            window_end=None,
        )
        for batch in batches
    ]
    same, moved = ({f.name: f.drifted for f in r.features} for r in reports)
    assert not same["signup_at__days_since"] and not same["signup_at__month"]
    assert moved["signup_at__days_since"] and moved["signup_at__month"] and not moved["plan"]
