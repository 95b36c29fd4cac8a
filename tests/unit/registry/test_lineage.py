"""A version's lineage as a person reads it: what started the run, the code and config, the champion
it was compared with, each dataset version with its contract and the files uploaded; a version from
before lineage was recorded says so rather than showing something else."""

from __future__ import annotations

from typing import Any

from mlops.registry.lineage import UNKNOWN, Lineage
from mlops.registry.views import plain
from tests.unit.registry.test_versions import STORED

OLDER, NEWER = "1a" * 32, "2b" * 32
RUN: dict[str, Any] = {
    "run_id": "run-7",
    "reason": "drift: dataset drift in 3 features (a, b, c)",
    "trigger": "drift",
    "started_at": "2026-11-23T11:58:00+00:00",
    "config": {"key": "configs/churn.yaml", "sha256": "c0" * 32},
    "code_asset_hash": "7d" * 32,
}
TRAINING_DATA: dict[str, Any] = {
    "dataset": "churn",
    "policy": "all",
    "rows": 900,
    "duplicates": 100,
    "versions_total": 2,
    "versions": [
        {
            "version": OLDER,
            "rows": 600,
            "duplicates": 0,
            "contract_version": 1,
            "uploads": [{"bucket": "raw", "key": "raw/churn/jan.csv", "version_id": "v-1", "size": 12345}],
            "uploads_total": 1,
        },
        {
            "version": NEWER,
            "rows": 400,
            "duplicates": 100,
            "contract_version": 2,
            "uploads": [{"bucket": "raw", "key": f"raw/churn/feb/part-{i}.csv", "size": 10} for i in range(20)],
            "uploads_total": 25,
        },
    ],
}


def _lineage() -> Lineage:
    return Lineage.from_records(plain({**STORED, "training_data": TRAINING_DATA}), RUN)


def test_the_chain_runs_from_the_version_back_to_the_uploaded_files() -> None:
    lines = _lineage().lines()
    assert lines[:6] == [
        "churn v3 (registered)",
        "  started by: drift: dataset drift in 3 features (a, b, c)",
        "  compared with: v2, the champion when it was gated",
        f"  code: asset {'7d' * 32} (package 0.9.0)",
        f"  config: configs/churn.yaml sha256 {'c0' * 32}",
        "  run: run-7, started 2026-11-23T11:58:00",
    ]
    assert "    rows: train 341, validation 114, test 114" in lines
    assert "  data: dataset churn (policy all), 900 rows, 100 duplicates dropped" in lines
    older = lines.index(f"    dataset version {OLDER[:12]}: 600 rows, 0 duplicates, contract v1")
    assert lines[older + 1] == "      upload s3://raw/raw/churn/jan.csv (S3 version v-1, 12,345 bytes)"
    newer = lines.index(f"    dataset version {NEWER[:12]}: 400 rows, 100 duplicates, contract v2")
    assert lines[newer + 1] == "      upload s3://raw/raw/churn/feb/part-0.csv (10 bytes)"
    assert lines[-1] == "      ... and 5 more uploads (the run's data.json)", "the record keeps 20 of 25"


def test_what_the_api_sends_is_what_the_cli_reads() -> None:
    lineage = _lineage()
    assert Lineage.from_json(lineage.to_json()) == lineage
    assert lineage.to_json()["dataset_versions"][0]["uploads"][0]["key"] == "raw/churn/jan.csv"


def test_a_person_started_run_reads_as_manual_with_its_reason() -> None:
    manual = {**RUN, "reason": "requested from the command line", "trigger": "manual"}
    record = plain({**STORED, "training_data": TRAINING_DATA, "trigger": "manual", "parent_version": None})
    lines = Lineage.from_records(record, manual).lines()
    assert lines[1:3] == ["  started by: manual: requested from the command line", "  compared with: no champion"]


def test_a_version_from_before_lineage_was_recorded_says_so() -> None:
    recorded = ("code_asset_hash", "config_key", "config_sha256", "trigger", "split_rows", "parent_version")
    older = {k: v for k, v in STORED.items() if k not in recorded}
    older["training_data"] = {"policy": "latest", "versions": [{"version": OLDER, "rows": 569}]}
    lines = Lineage.from_records(plain(older), None).lines()
    assert f"  code: asset {UNKNOWN} (package 0.9.0)" in lines
    assert f"  config: {UNKNOWN}" in lines
    assert f"    dataset version {OLDER[:12]}: 569 rows, 0 duplicates" in lines
    assert lines[-1] == f"      uploads: {UNKNOWN}"


def test_an_imported_model_names_its_file_and_hash() -> None:
    imported = {"key": "imports/churn/m.onnx", "sha256": "e1" * 32, "file_name": "m.onnx", "format": "onnx"}
    record = plain({**STORED, "trigger": "imported", "imported_file": imported})
    lines = Lineage.from_records(record, {**RUN, "reason": "imported from the command line"}).lines()
    assert lines[1] == "  started by: imported: imported from the command line"
    assert f"  imported file: m.onnx sha256 {'e1' * 32}" in lines
