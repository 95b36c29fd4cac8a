"""Partitioned dataset versions: parts re-cut by row count, named by their content, a version that
is the same however the upload was split into files, a manifest written last; small uploads keep
today's single-file path and version ids."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_wine

from mlops.contracts.loading import load_contract
from mlops.contracts.model import DataContract
from mlops.contracts.partial_validation import PartFailure, PartRef, PartSummary, check_part_bytes, merge_parts
from mlops.contracts.reading import read_table
from mlops.contracts.repeats import find_repeats
from mlops.contracts.validation import validate
from mlops.datasets.ingestion import stored_frame
from mlops.datasets.partitions import (
    MB,
    PartitionedData,
    PartitionError,
    PartitionSettings,
    layout_for,
    manifest_key,
    measured_bytes,
    partition_frames,
    write_partitioned_version,
)
from mlops.datasets.versioning import (
    NULL_MASK_PREFIX,
    ColumnKind,
    PartEntry,
    PartitionedManifest,
    SourceObject,
    column_arrays,
    concatenate_parts,
    content_hash,
    npz_bytes,
    read_npz,
)

CONTRACT = """
dataset: visits
version: 1
label: returned
columns:
  - {name: visit_id, type: string, unique: true}
  - {name: age, type: int, nullable: true, min: 0}
  - {name: spend, type: float, nullable: true}
  - {name: ward, type: category, allowed_values: [a, b, c, d]}
  - {name: seen, type: datetime}
  - {name: returned, type: bool}
duplicate_rows: reject
"""
SETTINGS = PartitionSettings(part_bytes=64 * 1024)  # small parts, so 20,000 rows make several


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_contract(CONTRACT, source="visits.yaml")


def _types(contract: DataContract) -> dict[str, ColumnKind]:
    return {c.name: c.type.value for c in contract.columns}


def visits(n: int = 20_000, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "visit_id": [f"V{i:07d}" for i in range(n)],
            "age": rng.integers(0, 95, n).astype("float64"),
            "spend": np.round(rng.gamma(2.0, 30.0, n), 2),
            "ward": rng.choice(["a", "b", "c", "d"], n),
            "seen": (pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "returned": rng.choice(["true", "false"], n),
        }
    )
    # Missing ages in the first rows only: a file of later rows reads `age` as int64, others as Int64.
    frame.loc[rng.choice(3000, 50, replace=False), "age"] = np.nan
    frame.loc[rng.choice(n, 80, replace=False), "spend"] = np.nan
    return frame


def _files(frame: pd.DataFrame, contract: DataContract, files: int, seed: int = 5) -> list[pd.DataFrame]:
    """The table uploaded as `files` CSV files cut at seeded uneven rows, each read and stored alone."""
    rng = np.random.default_rng(seed + files)
    cuts = np.sort(rng.choice(np.arange(1, len(frame)), files - 1, replace=False))
    stored = []
    for number, rows in enumerate(np.split(np.arange(len(frame)), cuts)):
        text = frame.iloc[rows].to_csv(index=False).encode()
        stored.append(stored_frame(read_table(text, filename=f"visits-{number}.csv", contract=contract), contract))
    return stored


def test_the_same_rows_give_the_same_version_however_the_upload_was_split(contract: DataContract) -> None:
    frame = visits()
    made = [
        partition_frames("visits", _files(frame, contract, files), _types(contract), SETTINGS) for files in (1, 3, 8)
    ]
    assert len(made[0].parts) >= 5
    assert {m.version for m in made} == {made[0].version}
    for other in made[1:]:
        assert [p.entry for p in other.parts] == [p.entry for p in made[0].parts]  # keys, hashes, offsets
        assert [p.body for p in other.parts] == [p.body for p in made[0].parts]


def test_parts_are_cut_by_row_count_to_about_the_part_size(contract: DataContract) -> None:
    types = _types(contract)
    made = partition_frames("visits", _files(visits(), contract, 3), types, SETTINGS)
    sizes = [p.entry.rows for p in made.parts]
    assert sizes[:-1] == [made.rows_per_part] * (len(sizes) - 1)
    assert 0 < sizes[-1] <= made.rows_per_part
    assert [p.entry.row_offset for p in made.parts] == [sum(sizes[:i]) for i in range(len(sizes))]
    frame = stored_frame(
        read_table(visits().to_csv(index=False).encode(), filename="v.csv", contract=contract), contract
    )
    first = frame.iloc[: made.rows_per_part]
    width = measured_bytes(frame, types) / len(frame)
    assert abs(measured_bytes(first, types) - SETTINGS.part_bytes) <= 2 * width


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(spend=f["spend"].where(f.index != 12_345, 0.5)),  # one value
        lambda f: f.iloc[:-1],  # one row fewer
        lambda f: f.iloc[np.r_[1:5000, 0, 5000 : len(f)]],  # one row moved
    ],
)
def test_any_change_to_the_rows_changes_the_version(contract: DataContract, change) -> None:  # type: ignore[no-untyped-def]
    frame = visits()
    base = partition_frames("visits", _files(frame, contract, 3), _types(contract), SETTINGS)
    changed = partition_frames("visits", _files(change(frame), contract, 3), _types(contract), SETTINGS)
    assert changed.version != base.version


def test_files_whose_columns_differ_are_refused_by_name(contract: DataContract) -> None:
    files = _files(visits(), contract, 3)
    files[2] = files[2][[*files[2].columns[1:], files[2].columns[0]]]
    with pytest.raises(PartitionError, match="file 3 of the upload"):
        partition_frames("visits", files, _types(contract), SETTINGS)


class _Recorder:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.order: list[str] = []

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body
        self.order.append(key)


def test_parts_then_the_manifest_and_the_version_validates_as_one_file(contract: DataContract) -> None:
    frame = visits()
    frame.loc[[100, 15_000], "age"] = [-4, -9]  # two findings, in different parts
    made = partition_frames("visits", _files(frame, contract, 3), _types(contract), SETTINGS)
    manifest = _manifest(made, [p.entry for p in made.parts])
    sink = _Recorder()
    key = write_partitioned_version(sink, made.parts, manifest)
    assert sink.order[-1] == key == manifest_key("visits", made.version)
    assert sink.order[:-1] == [p.entry.key for p in made.parts]
    assert manifest.rows == len(frame)
    assert next(c for c in manifest.columns if c.name == "age").nulls == 50
    # A part as stored: its digest checks, its schema is the version's, and its checks merge into
    # the report of the whole table as one file.
    outcomes: list[PartSummary | PartFailure] = []
    shares = []
    for entry in manifest.parts:
        body = sink.objects[entry.key]
        assert hashlib.sha256(body).hexdigest() == entry.sha256
        assert str(pq.read_schema(io.BytesIO(body)).field("age").type) == "int64"
        part = PartRef(index=entry.index, row_offset=entry.row_offset, rows=entry.rows, name=f"{entry.index}.parquet")
        checked = check_part_bytes(body, part, contract)
        assert not isinstance(checked, PartFailure)
        outcomes.append(checked.summary)
        shares.append(checked.shares)
    buckets = [find_repeats(b, [s[b] for s in shares]) for b in range(len(shares[0]))]
    merged = merge_parts(
        contract, outcomes, buckets, expected_parts=len(manifest.parts), file_name="visits.csv", row_values=_none
    )
    single = validate(
        read_table(frame.to_csv(index=False).encode(), filename="visits.csv", contract=contract),
        contract,
        file_name="visits.csv",
    )
    assert merged.report == single
    assert [e.row for e in merged.report.failures[0].examples] == [101, 15_001]


def test_a_manifest_that_does_not_list_the_parts_written_is_refused(contract: DataContract) -> None:
    made = partition_frames("visits", _files(visits(), contract, 1), _types(contract), SETTINGS)
    manifest = _manifest(made, [p.entry for p in made.parts][:-1])
    sink = _Recorder()
    with pytest.raises(ValueError, match="exactly the parts"):
        write_partitioned_version(sink, made.parts, manifest)
    assert sink.order == []


def test_small_uploads_keep_the_single_file_path_and_their_version_ids() -> None:
    settings = PartitionSettings()
    assert layout_for(200 * MB, 1, settings) == "single"
    assert layout_for(300 * MB, 1, settings) == "parts"
    assert layout_for(10 * MB, 2, settings) == "parts"  # several files: one version of parts
    frame = load_wine(as_frame=True).frame
    types: dict[str, ColumnKind] = {name: "float" for name in frame.columns}
    types["target"] = "int"
    # The wine data's version id as main computed it before partitioned versions existed.
    assert (
        content_hash(column_arrays(frame, types)) == "ea20c62440900616ea28b4f24f436ba971a8797720f66a51618ad26d0bee129f"
    )


def _manifest(made: PartitionedData, parts: list[PartEntry]) -> PartitionedManifest:
    return PartitionedManifest(
        dataset="visits",
        version=made.version,
        rows=made.rows,
        rows_per_part=made.rows_per_part,
        columns=made.column_schemas(),
        parts=parts,
        label="returned",
        report_key="reports/validation/visits/x.json",
        sources=[SourceObject(bucket="raw", key=f"raw/visits/v-{i}.csv", size=1) for i in range(3)],
        contract_version=1,
        created_at=pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime(),
    )


def _none(column: str, rows: list[int]) -> list[object]:
    raise AssertionError("no value is looked up when no unique column repeats")


def test_training_reads_a_partitioned_version_as_the_single_file_arrays_of_its_rows() -> None:
    """Each part's npz copy, joined end to end, is what one `data.npz` of the same rows holds: an int
    column with a missing value in one part only is float64, a text column's null mask covers every row."""
    frame = pd.DataFrame(
        {
            "n": pd.array([1, 2, 3, None, 5, 6], dtype="Int64"),
            "s": pd.array(["a", "bb", "c", "d", None, "f"], dtype="string"),
            "x": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
        }
    )
    types: dict[str, ColumnKind] = {"n": "int", "s": "string", "x": "float"}
    whole = column_arrays(frame, types)
    parts = [column_arrays(frame.iloc[:3].reset_index(drop=True), types), column_arrays(frame.iloc[3:], types)]
    assert parts[0]["n"].dtype == np.int64 and f"{NULL_MASK_PREFIX}s" not in parts[0]
    joined = concatenate_parts([read_npz(npz_bytes(p)) for p in parts])
    assert list(joined) == list(whole)
    for name, values in whole.items():
        np.testing.assert_array_equal(joined[name], values)
        assert joined[name].dtype.kind == values.dtype.kind
