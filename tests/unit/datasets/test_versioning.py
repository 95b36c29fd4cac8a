"""Dataset versions: content addressing and a storage form that needs no pandas (and no pickle) to read."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from mlops.datasets.versioning import NULL_MASK_PREFIX, ColumnKind, column_arrays, content_hash, npz_bytes, read_npz


def _wine() -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    frame = load_wine(as_frame=True).frame
    types: dict[str, ColumnKind] = {name: "float" for name in frame.columns}
    types["target"] = "int"
    return frame, types


def test_equal_content_has_equal_hash_whatever_the_file_format() -> None:
    frame, types = _wine()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    from_parquet = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    from_csv = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    hashes = {content_hash(column_arrays(f, types)) for f in (frame, from_parquet, from_csv)}
    assert len(hashes) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(alcohol=f["alcohol"].where(f.index != 7, 0.0)),  # one value
        lambda f: f.iloc[:-1],  # one row fewer
        lambda f: f.iloc[::-1].reset_index(drop=True),  # row order
        lambda f: f.rename(columns={"alcohol": "ethanol"}),  # a column name
        lambda f: f[[*f.columns[1:], f.columns[0]]],  # column order
    ],
)
def test_any_change_to_the_content_changes_the_hash(change) -> None:  # type: ignore[no-untyped-def]
    frame, types = _wine()
    types = {**types, "ethanol": "float"}
    assert content_hash(column_arrays(change(frame), types)) != content_hash(column_arrays(frame, types))


def test_the_stored_form_round_trips_without_pickle_and_is_byte_identical() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([31, None, 45], dtype="Int64"),
            "income": [1.5, np.nan, 3.0],
            "member": [True, False, True],
            "city": ["Lyon", None, "Oslo"],
            "seen": pd.to_datetime(["2026-01-02", None, "2026-03-04"]),
        }
    )
    types: dict[str, ColumnKind] = {
        "age": "int",
        "income": "float",
        "member": "bool",
        "city": "string",
        "seen": "datetime",
    }
    arrays = column_arrays(frame, types)
    assert npz_bytes(arrays) == npz_bytes(column_arrays(frame.copy(), types)), "deterministic bytes"
    restored = read_npz(npz_bytes(arrays))
    assert np.isnan(restored["age"][1]) and restored["age"][2] == 45
    assert restored["city"].tolist() == ["Lyon", "", "Oslo"]
    assert restored[f"{NULL_MASK_PREFIX}city"].tolist() == [False, True, False]
    assert np.isnat(restored["seen"][1])
    assert all(array.dtype != object for array in restored.values())
