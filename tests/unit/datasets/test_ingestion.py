"""Dates as the data writes them (`2019-8-19`, `2024-01`): ingestion stores exactly the values its
validation parsed; a value that cannot be stored is a rejected upload with a report naming the column
and row (never a crash), and `mlops contract check` gives the same verdict; the predict API reads
every date text ingestion accepts the same way."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.buckets import StoredObject
from mlops.contracts import load_contract, parsed_column
from mlops.contracts.coercion import parse_strings
from mlops.datasets.ingestion import IngestionServices, Upload, process_upload
from mlops.datasets.records import DatasetVersion
from mlops.datasets.versioning import ColumnBuildError, column_arrays, read_npz
from mlops.serving.date_parts import parse_iso
from mlopsctl.main import EXIT_OK, EXIT_REJECTED, main

CONTRACT = """
dataset: visits
version: 1
columns:
  - {name: id, type: int}
  - {name: seen, type: datetime}
  - {name: amount, type: float, nullable: true}
"""
DAY_FIRST = CONTRACT.replace("type: datetime}", "type: datetime, format: '%d/%m/%Y'}")
SOME_BAD_DATES = CONTRACT.replace("type: datetime}", "type: {value: datetime, mostly: 0.5}}")


@dataclass
class _Store:
    objects: dict[str, bytes] = field(default_factory=dict)
    name: str = "artifacts-bucket"  # a rejection's mail names the report page by its S3 URI

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body

    def exists(self, key: str) -> bool:
        return key in self.objects

    def keep(self, source_bucket: str, source_key: str, source_version: str | None, key: str) -> None:
        self.objects[key] = b"<copy>"


@dataclass
class _Fakes:
    """In-memory buckets, registry and mail: what process_upload writes, to look at afterwards."""

    contract: str
    upload: bytes
    artifacts: _Store = field(default_factory=_Store)
    curated: _Store = field(default_factory=_Store)
    quarantine: _Store = field(default_factory=_Store)
    mail: list[tuple[str, str]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)

    def read(self, key: str, version_id: str | None = None) -> StoredObject:
        return StoredObject(self.upload, "v1", None, len(self.upload))

    def contract_text(self, dataset: str) -> tuple[str, bytes]:
        return f"contracts/{dataset}.yaml", self.contract.encode()

    def processed_upload(self, dataset: str, key: str, upload_id: str) -> None:
        return None

    def record_upload(self, dataset: str, key: str, upload_id: str, record: dict[str, Any]) -> bool:
        self.uploads.append(record)
        return True

    def put_dataset_version(self, record: DatasetVersion) -> bool:
        self.versions.append(record.version)
        return True

    def services(self) -> IngestionServices:
        artifacts = cast(Any, self.artifacts)
        artifacts.contract_text = self.contract_text
        return IngestionServices(
            raw=cast(Any, self),
            artifacts=artifacts,
            curated=cast(Any, self.curated),
            quarantine=cast(Any, self.quarantine),
            registry=cast(Any, self),
            notify=lambda subject, body: self.mail.append((subject, body)),
            start_training=lambda dataset, version: None,
        )


def _ingest(contract: str, csv: str) -> tuple[Any, _Fakes]:
    fakes = _Fakes(contract, csv.encode())
    outcome = process_upload(Upload("raw-bucket", "raw/visits/visits.csv", "v1"), fakes.services())
    return outcome, fakes


def _stored(fakes: _Fakes) -> dict[str, Any]:
    (key,) = [k for k in fakes.curated.objects if k.endswith("data.npz")]
    return read_npz(fakes.curated.objects[key])


def _report(fakes: _Fakes) -> dict[str, Any]:
    (key,) = [k for k in fakes.artifacts.objects if k.endswith(".json")]
    document: dict[str, Any] = json.loads(fakes.artifacts.objects[key])
    return document


def test_dates_without_leading_zeros_are_accepted_and_stored_as_validation_read_them() -> None:
    csv = "id,seen,amount\n1,2019-8-19,1.5\n2,2019-08-20,2\n3,2019-12-1,\n4,2024-01,3\n"
    outcome, fakes = _ingest(CONTRACT, csv)
    assert outcome.status == "accepted", outcome.summary
    stored = _stored(fakes)
    expected = ["2019-08-19", "2019-08-20", "2019-12-01", "2024-01-01"]
    assert stored["seen"].tolist() == np.array(expected, dtype="datetime64[ns]").tolist()
    assert np.isnan(stored["amount"][2]) and stored["id"].tolist() == [1, 2, 3, 4]
    assert fakes.versions == [outcome.version] and not fakes.mail


def test_the_same_dates_zero_padded_make_the_same_dataset_version() -> None:
    loose, _ = _ingest(CONTRACT, "id,seen,amount\n1,2019-8-19,1.5\n2,2019-8-2T7:05,2\n")
    padded, _ = _ingest(CONTRACT, "id,seen,amount\n1,2019-08-19,1.5\n2,2019-08-02 07:05:00,2\n")
    assert loose.status == padded.status == "accepted" and loose.version == padded.version


def test_a_format_the_dates_do_not_follow_rejects_the_upload_with_a_report() -> None:
    outcome, fakes = _ingest(DAY_FIRST, "id,seen,amount\n1,2019-8-19,1.5\n2,19/08/2019,2\n")
    assert outcome.status == "rejected"
    failed = [r for r in _report(fakes)["results"] if not r["success"]]
    assert [(r["column"], r["expectation"]) for r in failed] == [("seen", "column.type")]
    assert failed[0]["examples"][0]["row"] == 1 and failed[0]["examples"][0]["value"] == "2019-8-19"
    assert fakes.mail and fakes.mail[0][0] == "Rejected upload for dataset visits"
    assert not fakes.curated.objects


def test_a_format_is_followed_and_dates_without_leading_zeros_fit_it() -> None:
    outcome, fakes = _ingest(DAY_FIRST, "id,seen,amount\n1,19/8/2019,1.5\n2,1/12/2019,2\n")
    assert outcome.status == "accepted", outcome.summary
    assert _stored(fakes)["seen"].astype("datetime64[D]").astype(str).tolist() == ["2019-08-19", "2019-12-01"]


def test_a_date_a_relaxed_type_check_lets_through_unparsed_is_stored_as_missing() -> None:
    outcome, fakes = _ingest(SOME_BAD_DATES, "id,seen,amount\n1,2019-8-19,1\n2,yesterday,2\n3,2019-8-21,3\n")
    assert outcome.status == "accepted", outcome.summary
    seen = _stored(fakes)["seen"]
    assert np.isnat(seen[1]) and str(seen[2].astype("datetime64[D]")) == "2019-08-21"
    (manifest,) = _manifests(fakes)
    columns = json.loads(fakes.curated.objects[manifest])["columns"]
    assert [c["nulls"] for c in columns if c["name"] == "seen"] == [1]


def _manifests(fakes: _Fakes) -> list[str]:
    return [k for k in fakes.curated.objects if k.endswith("manifest.json")]


def test_a_value_validation_accepts_but_a_version_cannot_store_is_a_rejection_naming_column_and_row() -> None:
    # Nanosecond datetimes end in 2262: validation has no range here, the dataset version does.
    outcome, fakes = _ingest(CONTRACT, "id,seen,amount\n1,2019-08-19,1\n2,2300-01-01,2\n")
    assert outcome.status == "rejected"
    problem = _report(fakes)["file_problem"]
    assert problem["code"] == "unstorable_values" and (problem["column"], problem["row"]) == ("seen", 2)
    assert "column 'seen', row 2" in problem["message"] and "2300-01-01" in problem["message"]
    subject, body = fakes.mail[0]
    assert subject == "Rejected upload for dataset visits" and "column 'seen', row 2" in body
    assert outcome.first_failures[0].startswith("unstorable_values: column 'seen', row 2")
    assert fakes.uploads[0]["status"] == "rejected" and not fakes.curated.objects
    assert any(k.endswith("summary.txt") for k in fakes.quarantine.objects)


def test_column_arrays_names_the_column_and_first_row_it_cannot_convert() -> None:
    frame = pd.DataFrame({"n": pd.Series(["1", "2", "x", "4"], dtype=object)})
    with pytest.raises(ColumnBuildError) as caught:
        column_arrays(frame, {"n": "int"})
    assert (caught.value.column, caught.value.row) == ("n", 3)
    assert str(caught.value).startswith("column 'n', row 3: ")


def test_parsed_column_holds_the_values_the_checks_saw() -> None:
    spec = load_contract(CONTRACT, source="test").column("seen")
    assert spec is not None
    text = pd.Series(["2019-8-19", None, "2024-01", "2024-01-05T7:05+02:00"], dtype=object)
    parsed = parsed_column(text, spec)
    assert parsed.dtype == np.dtype("datetime64[us]")
    assert [str(v) for v in parsed.to_numpy()] == [
        "2019-08-19T00:00:00.000000",
        "NaT",
        "2024-01-01T00:00:00.000000",
        "2024-01-05T05:05:00.000000",
    ]


# Every form either side might meet: ingestion (a contract datetime without `format`) and the predict
# API must agree on each, accepted or refused, and on the instant.
DATE_TEXTS = [
    "2024-01-05", "2024-01", "2024", "2024-1-5", "2024-1", "2019-8-19", "2024/01/05", "2024/1/5", "20240105",
    "2024-01-05T7:05", "2024-01-05 07:05", "2024-01-05T07", "2024-1-5T7:5:3", "2024-01-05 7:5",
    "2024-01-05T07:05:03.5", "2024-01-05T07:05:03.123456", "2024-01-05T07:05Z", "2024-01-05T07:05+0200",
    "2024-01-05T07:05+02", "2024-01-05T07:05-05:30", "2024-01-05 07:05:03.5Z", " 2024-01-05 ",
    "03/01/2024", "2024-W01", "2024-005", "2024-01-05T24:00", "2023-02-29", "2024-13-01", "+2024-01-05",
    "2024-01-05T0705", "20240105T0705", "2024-01-05T07:05:03,5", "1709164800", "yesterday", "2024-01-05t07:05",
]  # fmt: skip


@pytest.mark.parametrize("text", DATE_TEXTS)
def test_ingestion_and_the_predict_api_read_every_date_text_alike(text: str) -> None:
    parsed = parse_strings(pa.chunked_array([pa.array([text, "2024-01-05"])]), "datetime", None)
    ingested = None if parsed.bad is not None and parsed.bad[0] else parsed.numbers[0]
    served = parse_iso(text)
    assert (ingested is None) == (served is None), (ingested, served)
    assert ingested is None or ingested == served


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("2024-01", "2024-01-01"),
        ("2024-1-5", "2024-01-05"),
        ("2024-01-05T7:05", "2024-01-05T07:05:00"),
        ("2024/1/5 7:05:09.25+01:00", "2024-01-05T06:05:09.250000"),
    ],
)
def test_short_and_unpadded_dates_read_as_their_full_iso_form(text: str, same_as: str) -> None:
    assert parse_iso(text) == np.datetime64(same_as, "us")


def test_contract_check_gives_the_verdict_ingestion_gives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = tmp_path / "visits.yaml"
    contract.write_text(CONTRACT)
    loose = tmp_path / "loose.csv"
    loose.write_text("id,seen,amount\n1,2019-8-19,1.5\n2,2024-01,2\n")
    far = tmp_path / "far.csv"
    far.write_text("id,seen,amount\n1,2019-8-19,1.5\n2,2300-01-01,2\n")
    assert main(["contract", "check", str(contract), str(loose)]) == EXIT_OK
    capsys.readouterr()
    assert main(["contract", "check", str(contract), str(far)]) == EXIT_REJECTED
    assert "unstorable_values: column 'seen', row 2" in capsys.readouterr().out
