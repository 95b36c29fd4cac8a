"""A partitioned version's validation: every part checked alone, the parts' records merged, and the
report the data team reads is the single-file report (same checks, counts, examples and row numbers).
The one sketch-based figure, a quantile's observed value, is within its documented rank error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlops.contracts.loading import load_contract
from mlops.contracts.model import DataContract
from mlops.contracts.partial_validation import (
    PartFailure,
    PartRef,
    PartSettings,
    PartSummary,
    check_part,
    check_part_bytes,
    merge_parts,
    validate_parts,
)
from mlops.contracts.reading import read_table
from mlops.contracts.repeats import BucketShare, find_repeats
from mlops.contracts.sketches import rank_error
from mlops.contracts.validation import validate

CONTRACT = """
dataset: patients
version: 2
label: target
columns:
  - {name: patient_id, type: string, regex: "P[0-9]{5}", unique: true}
  - {name: site, type: category, allowed_values: [north, south, east, west]}
  - {name: mean_radius, type: float, nullable: false, min: 0, max: 30}
  - {name: mean_texture, type: float, nullable: true, min: 5}
  - {name: mean_area, type: float, nullable: true, max: 2000}
  - {name: worst_smoothness, type: float, nullable: true}
  - {name: visits, type: int, nullable: true, min: 0}
  - {name: target, type: int}
extra_columns: warn
row_count: {min: 1000}
duplicate_rows: reject
label_min_class_share: 0.4
distributions:
  - {column: mean_radius, statistic: mean, min: 10, max: 20}
  - {column: mean_radius, statistic: std, min: 1, max: 10}
  - {column: mean_area, statistic: quantile, q: 0.5, min: 400, max: 800}
  - {column: mean_area, statistic: quantile, q: 0.9, max: 1500, severity: warning}
"""
PARTS = 8
LEVELS = 65  # few levels, so each part's rank summary keeps a fraction of its ~280 values


def patients(seed: int = 20) -> pd.DataFrame:
    """Breast-cancer measurements four times over (seeded noise), with defects a data team meets:
    nulls, out-of-range values, a bad category, bad ids, repeated ids and whole repeated rows."""
    rng = np.random.default_rng(seed)
    source = load_breast_cancer(as_frame=True).frame
    source = pd.concat([source] * 4, ignore_index=True)
    n = len(source)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "site": rng.choice(["north", "south", "east", "west"], n),
            "mean_radius": (source["mean radius"] * rng.normal(1, 0.02, n)).round(4),
            "mean_texture": (source["mean texture"] * rng.normal(1, 0.02, n)).round(4),
            "mean_area": (source["mean area"] * rng.normal(1, 0.02, n)).round(2),
            "worst_smoothness": source["worst smoothness"].round(5),
            "visits": rng.integers(0, 12, n).astype("float64"),
            "target": source["target"],
            "note": rng.choice(["", "follow-up", "referred"], n),
        }
    )
    frame.loc[rng.choice(n, 9, replace=False), "mean_radius"] = np.nan  # not nullable
    frame.loc[rng.choice(n, 40, replace=False), "mean_texture"] = np.nan
    frame.loc[rng.choice(n, 30, replace=False), "visits"] = np.nan
    frame.loc[[13, 700, 1900], "mean_radius"] = [-1.0, 45.0, 31.5]  # below min, above max
    frame.loc[[5, 1200], "visits"] = [-3, -1]
    frame.loc[[77, 1500, 2100], "site"] = ["mars", "Mars", "north "]  # not allowed
    frame.loc[[40, 41], "patient_id"] = ["p00040", "P0041"]  # regex
    frame.loc[[300, 1999], "patient_id"] = ["P00010", "P00011"]  # repeated ids
    frame.iloc[[600, 1750, 2200]] = frame.iloc[[3, 1000, 250]].to_numpy()  # whole repeated rows
    return frame


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_contract(CONTRACT, source="patients.yaml")


def _parts_as_read(frame: pd.DataFrame, contract: DataContract, parts: int) -> list[pd.DataFrame]:
    """Each part written as its own CSV and read back alone: its dtypes are its own (a part without
    a missing `visits` reads it as int64, one with as Int64), as a Map child would see it."""
    pieces = np.array_split(np.arange(len(frame)), parts)
    return [
        read_table(frame.iloc[p].to_csv(index=False).encode(), filename=f"part-{i}.csv", contract=contract)
        for i, p in enumerate(pieces)
    ]


def _without_sketched(document: dict[str, Any]) -> dict[str, Any]:
    """The report with the quantile checks' observed values taken out (compared within their bound)
    and mean/std rounded to 12 significant digits (merged in floating point)."""
    results = []
    for original in document["results"]:
        item = dict(original)
        if item["expectation"] == "distribution.quantile":
            item["observed_value"] = "sketched"
        elif item["expectation"] in ("distribution.mean", "distribution.std"):
            item["observed_value"] = float(f"{item['observed_value']:.12g}")
        results.append(item)
    return {**document, "results": results}


def test_eight_parts_give_the_single_file_report(contract: DataContract) -> None:
    frame = patients()
    whole = read_table(frame.to_csv(index=False).encode(), filename="patients.csv", contract=contract)
    single = validate(whole, contract, file_name="patients.csv")
    merged = validate_parts(_parts_as_read(frame, contract, PARTS), contract, file_name="patients.csv")

    one = single.model_dump(mode="json")
    eight = merged.report.model_dump(mode="json")
    assert _without_sketched(eight) == _without_sketched(one)
    # What the data team reads first is the same text (the quantiles' values are printed only on failure).
    assert merged.report.summary() == single.summary()
    # The defects were found, at their global rows: not a vacuous equality of two empty reports.
    failed = {(r.expectation, r.column): r for r in merged.report.failures}
    assert [e.row for e in failed[("column.max", "mean_radius")].examples] == [701, 1901]
    assert [e.row for e in failed[("column.unique", "patient_id")].examples] == [301, 601, 1751, 2000, 2201]
    assert [(e.row, e.value) for e in failed[("table.duplicate_rows", None)].examples] == [
        (601, "same as row 4"),
        (1751, "same as row 1001"),
        (2201, "same as row 251"),
    ]
    assert [e.value for e in failed[("column.allowed_values", "site")].examples] == ["mars", "Mars", "north "]
    assert not merged.report.accepted


def test_quantiles_are_within_their_rank_error_bound(contract: DataContract) -> None:
    frame = patients()
    merged = validate_parts(_parts_as_read(frame, contract, PARTS), contract, settings=PartSettings(levels=LEVELS))
    area = frame["mean_area"].to_numpy(dtype=np.float64)
    area = area[~np.isnan(area)]
    quantiles = [r for r in merged.report.results if r.expectation == "distribution.quantile"]
    assert [r.details["q"] for r in quantiles] == [0.5, 0.9]
    bound = 1 / (LEVELS - 1) + PARTS / area.size  # RankSummary's bound for these rows and parts
    errors = [rank_error(area, item.observed_value, item.details["q"]) for item in quantiles]
    assert max(errors) <= bound
    assert merged.quantile_rank_error_bound["mean_area"] == pytest.approx(bound)
    assert max(errors) > 0  # the summary was lossy: the bound was tested, not an exact answer


def test_the_report_does_not_depend_on_the_number_of_parts(contract: DataContract) -> None:
    frame = patients()
    reports = [
        _without_sketched(validate_parts(_parts_as_read(frame, contract, n), contract).report.model_dump(mode="json"))
        for n in (1, 3, 13)
    ]
    assert reports[0] == reports[1] == reports[2]


def test_an_id_column_distinct_in_every_part_but_repeated_across_parts_is_found(contract: DataContract) -> None:
    frame = patients().drop(index=[40, 41, 300, 1999, 600, 1750, 2200]).reset_index(drop=True)
    frame.loc[1800, "patient_id"] = frame.loc[2, "patient_id"]  # parts 1 and 7 each hold one
    merged = validate_parts(_parts_as_read(frame, contract, PARTS), contract)
    unique = next(r for r in merged.report.results if r.expectation == "column.unique")
    assert (unique.unexpected_count, [(e.row, e.value) for e in unique.examples]) == (1, [(1801, "P00002")])
    duplicates = next(r for r in merged.report.results if r.expectation == "table.duplicate_rows")
    assert duplicates.details.get("distinct_column") is None  # the id no longer rules out duplicate rows
    assert duplicates == validate(frame, contract).results[-1]


def test_repeats_across_parts_are_found_however_each_part_holds_its_text() -> None:
    """A part read from Parquet may hold a text column as Arrow strings, as categories or as Python
    objects (a non-string cell among them, which the check calls a wrong type): the same text is the
    same value in every part, so the merged report is the single file's."""
    contract = load_contract(
        "dataset: ids\nversion: 1\ncolumns:\n  - {name: id, type: string, unique: true}\n"
        "  - {name: tag, type: string, nullable: true}\nduplicate_rows: reject\n",
        source="ids.yaml",
    )
    ids = ["A1", "B2", "C3", "A1"]
    tags = ["x", None, "y", "x"]
    frames = [
        pd.DataFrame({"id": pd.Series(ids, dtype="str"), "tag": pd.Series(tags, dtype="str")}),
        pd.DataFrame({"id": pd.Series(ids, dtype="category"), "tag": pd.Series(tags, dtype="category")}),
        pd.DataFrame({"id": pd.Series([*ids, 7], dtype=object), "tag": pd.Series([*tags, "z"], dtype=object)}),
    ]
    merged = validate_parts(frames, contract, file_name="ids")
    single = validate(pd.concat([f.astype(object) for f in frames], ignore_index=True), contract, file_name="ids")
    assert merged.report.model_dump(mode="json") == single.model_dump(mode="json")
    failed = {r.expectation: r for r in merged.report.failures}
    assert failed["column.unique"].unexpected_count == 9  # 13 valid ids, 4 distinct (7 is not text)
    assert failed["table.duplicate_rows"].unexpected_count == 9  # 13 rows, 4 distinct


def test_a_part_that_does_not_parse_fails_the_version_naming_the_part_and_line(contract: DataContract) -> None:
    frame = patients()
    pieces = np.array_split(np.arange(len(frame)), PARTS)
    texts = [frame.iloc[p].to_csv(index=False) for p in pieces]
    lines = texts[4].splitlines()
    lines[17] += ",extra,cells"  # one ragged row on line 18 of part 5
    texts[4] = "\n".join(lines) + "\n"
    outcomes: list[PartSummary | PartFailure] = []
    shares: list[list[BucketShare]] = []
    offset = 0
    for index, (text, rows) in enumerate(zip(texts, pieces, strict=True)):
        part = PartRef(index=index, row_offset=offset, rows=len(rows), name=f"part-{index:05d}.csv")
        checked = check_part_bytes(text.encode(), part, contract)
        if isinstance(checked, PartFailure):
            outcomes.append(checked)
        else:
            outcomes.append(checked.summary)
            shares.append(checked.shares)
        offset += len(rows)
    buckets = [find_repeats(b, [s[b] for s in shares]) for b in range(PartSettings().buckets)]
    merged = merge_parts(contract, outcomes, buckets, expected_parts=PARTS, file_name="patients", row_values=_none)
    report = merged.report
    assert not report.accepted
    assert report.file_problem is not None
    assert report.file_problem.code == "ragged_rows"
    assert report.file_problem.line == 18
    assert report.file_problem.message.startswith("part 5 of 8 (part-00004.csv), line 18:")


def test_a_missing_part_fails_the_version(contract: DataContract) -> None:
    frame = patients()
    pieces = [frame.iloc[rows] for rows in np.array_split(np.arange(len(frame)), 3)]
    offset = 0
    summaries: list[PartSummary | PartFailure] = []
    for index, piece in enumerate(pieces):
        part = PartRef(index=index, row_offset=offset, rows=len(piece), name=f"p{index}")
        offset += len(piece)
        if index != 1:  # the second part's child never reported
            summaries.append(check_part(piece, part, contract).summary)
    merged = merge_parts(contract, summaries, [], expected_parts=3, file_name="patients", row_values=_none)
    assert merged.report.file_problem is not None
    assert merged.report.file_problem.code == "missing_part"
    assert "part(s) 2 of 3" in merged.report.file_problem.message
    assert not merged.report.accepted


def test_records_survive_their_journey_between_states(contract: DataContract) -> None:
    """A part's summary goes through JSON and its bucket shares through `.npz` (no pickle)."""
    frame = patients().iloc[:400]
    checked = check_part(frame, PartRef(index=0, row_offset=0, rows=400, name="p"), contract)
    again = PartSummary.model_validate_json(checked.summary.model_dump_json())
    assert again == checked.summary
    share = checked.shares[3]
    back = BucketShare.from_bytes(share.to_bytes())
    assert (back.bucket, back.part, list(back.keys)) == (share.bucket, share.part, list(share.keys))
    for name, rows in share.keys.items():
        np.testing.assert_array_equal(back.keys[name].hashes, rows.hashes)
        np.testing.assert_array_equal(back.keys[name].rows, rows.rows)


def _none(column: str, rows: list[int]) -> list[Any]:
    raise AssertionError("no example values are read for a rejected version")
