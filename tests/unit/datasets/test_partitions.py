"""Partitioned dataset versions, as the validation steps make them (`partitioned_ingestion`, driven
in one process on moto's S3 by test_partitioned_steps' `_validate`): parts cut by row count and
named by their content, a version that is the same however the upload was split into files and
changes with any row, a manifest written last listing exactly the parts kept, a report with global
row numbers that is the single-file report of the same rows; small uploads keep today's single-file
version ids."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_wine

from mlops.buckets import CuratedBucket
from mlops.contracts import load_contract, read_table, validate
from mlops.datasets.versioning import (
    NULL_MASK_PREFIX,
    ColumnKind,
    column_arrays,
    concatenate_parts,
    content_hash,
    npz_bytes,
    read_npz,
)
from tests.unit.datasets.test_partitioned_steps import (
    CONTRACT,
    DATASET,
    _csv,
    _frame,
    _manifest,
    _stored,
    _validate,
)
from tests.unit.datasets.test_partitioned_steps import s3 as s3  # noqa: PLC0414 (the moto fixture, by its name)

ROWS = 600  # 16 measured bytes a row, parts of 2,000 bytes (`_validate`'s settings): 125 rows a part


def _split(frame: pd.DataFrame, files: int, seed: int = 5) -> dict[str, bytes]:
    """The rows as `files` CSV files cut at seeded uneven rows."""
    rng = np.random.default_rng(seed + files)
    cuts = np.sort(rng.choice(np.arange(1, len(frame)), files - 1, replace=False))
    return {f"{n}.csv": _csv(frame.iloc[rows]) for n, rows in enumerate(np.split(np.arange(len(frame)), cuts))}


def test_the_same_rows_give_the_same_version_and_parts_however_the_upload_was_split(s3: Any) -> None:
    frame = _frame(ROWS)
    manifests = [_manifest(s3, _validate(s3, f"split-{files}", _split(frame, files))) for files in (1, 3, 8)]
    assert len(manifests[0]["parts"]) == 5
    assert {m["version"] for m in manifests} == {manifests[0]["version"]}
    for other in manifests[1:]:
        assert other["parts"] == manifests[0]["parts"]  # keys, hashes, rows, offsets, sizes, digests


def test_parts_are_cut_by_row_count_and_the_manifest_lists_exactly_the_parts_kept(s3: Any) -> None:
    manifest = _manifest(s3, _validate(s3, "u", _split(_frame(ROWS), 3)))
    sizes = [p["rows"] for p in manifest["parts"]]
    assert sizes == [125, 125, 125, 125, 100] and manifest["rows_per_part"] == 125
    assert [p["row_offset"] for p in manifest["parts"]] == [0, 125, 250, 375, 500]
    kept = s3.list_objects_v2(Bucket="curated", Prefix=f"datasets/{DATASET}/parts/")["Contents"]
    assert sorted(o["Key"] for o in kept if o["Key"].endswith(".parquet")) == sorted(
        p["key"] for p in manifest["parts"]
    )
    for part in manifest["parts"]:  # each part as stored: its digest checks, its name is its content's hash
        body = s3.get_object(Bucket="curated", Key=part["key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == part["sha256"] and len(body) == part["size"]
        assert part["key"] == f"datasets/{DATASET}/parts/{part['content_hash']}.parquet"
        assert pq.read_table(io.BytesIO(body)).num_rows == part["rows"]


def test_the_manifest_is_written_after_every_part(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version whose manifest exists is complete: a crash before it leaves no version."""
    written: list[str] = []

    def noting(method: Callable[..., None], key: int) -> Callable[..., None]:
        """`method` as it was, noting the key it writes (its argument number `key`)."""

        def write(bucket: CuratedBucket, *args: Any) -> None:
            method(bucket, *args)
            written.append(args[key])

        return write

    monkeypatch.setattr(CuratedBucket, "put", noting(CuratedBucket.put, 0))
    monkeypatch.setattr(CuratedBucket, "copy_from", noting(CuratedBucket.copy_from, 2))
    manifest = _manifest(s3, _validate(s3, "u", _split(_frame(ROWS), 2)))
    assert written[-1].endswith("/manifest.json")
    assert {p["key"] for p in manifest["parts"]} <= set(written[:-1])


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(amount=f["amount"].where(f.index != 345, 0.3)),  # one value
        lambda f: f.iloc[:-1],  # one row fewer
        lambda f: f.iloc[np.r_[1:300, 0, 300 : len(f)]],  # one row moved
    ],
    ids=["one value", "one row fewer", "one row moved"],
)
def test_any_change_to_the_rows_changes_the_version(s3: Any, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    frame = _frame(ROWS)
    base = _validate(s3, "base", _split(frame, 3))
    changed = _validate(s3, "changed", _split(change(frame), 3))
    assert base.version is not None and changed.version is not None
    assert changed.version != base.version


def test_a_file_with_the_same_columns_in_another_order_is_read_by_name(s3: Any) -> None:
    """A newcomer's upload was refused because one file had its columns in another order, which the
    single-file path reads by name: its rows are put in the first file's order, and the version and
    the stored rows are those of the same upload in one order."""
    frame = _frame(ROWS)
    reordered = _validate(s3, "r", {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(frame.iloc[300:][["amount", "id"]])})
    in_order = _validate(s3, "o", {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(frame.iloc[300:])})
    assert reordered.status == "accepted", reordered.summary
    assert reordered.version == in_order.version
    assert _stored(s3, _manifest(s3, reordered))["amount"].tolist() == frame["amount"].tolist()


def test_files_whose_columns_differ_reject_the_upload_naming_what_is_missing_and_extra(s3: Any) -> None:
    frame = _frame(ROWS)
    other = frame.iloc[300:].rename(columns={"amount": "total"})
    outcome = _validate(s3, "u", {"a.csv": _csv(frame.iloc[:300]), "b.csv": _csv(other)})
    assert outcome.status == "rejected", outcome.summary
    assert "missing ['amount'], extra ['total']" in outcome.summary, outcome.summary
    assert s3.list_objects_v2(Bucket="curated").get("Contents", []) == []


def test_the_report_of_the_parts_is_the_single_file_report_with_global_row_numbers(s3: Any) -> None:
    frame = _frame(ROWS).astype({"id": "object"})
    frame.loc[[100, 500], "id"] = ["x", "y"]  # two findings, in different parts and files
    outcome = _validate(s3, "u", _split(frame, 3))
    assert outcome.status == "rejected" and outcome.report_key is not None
    merged = json.loads(s3.get_object(Bucket="artifacts", Key=outcome.report_key)["Body"].read())
    contract = load_contract(CONTRACT, source="visits.yaml")
    single = json.loads(validate(read_table(_csv(frame), filename="all.csv", contract=contract), contract).to_json())
    ignored = ("source", "file_name", "created_at", "validated_at")
    assert {k: v for k, v in merged.items() if k not in ignored} == {
        k: v for k, v in single.items() if k not in ignored
    }
    [failure] = [r for r in merged["results"] if not r["success"]]
    assert [e["row"] for e in failure["examples"]] == [101, 501]


def test_small_uploads_keep_their_single_file_version_ids() -> None:
    """Which uploads are partitioned is `partitioned_ingestion.route` (test_partitioned_routing.py)."""
    frame = load_wine(as_frame=True).frame
    types: dict[str, ColumnKind] = {name: "float" for name in frame.columns}
    types["target"] = "int"
    # The wine data's version id as main computed it before partitioned versions existed.
    assert (
        content_hash(column_arrays(frame, types)) == "ea20c62440900616ea28b4f24f436ba971a8797720f66a51618ad26d0bee129f"
    )


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
