"""Dataset versions and uploads on moto's DynamoDB: conditional writes make retries and races safe, and
the typed record reads and writes the item in the shape ingestion has always stored."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from mlops.datasets.records import DatasetRecords, DatasetVersion


@pytest.fixture
def registry(registry_table: Any) -> DatasetRecords:
    return DatasetRecords(registry_table)


def _version(version: str, created_at: str, dataset: str = "d", **attributes: Any) -> DatasetVersion:
    manifest_key = f"datasets/{dataset}/{version}/manifest.json"
    return DatasetVersion(
        dataset=dataset, version=version, created_at=created_at, manifest_key=manifest_key, **attributes
    )


def test_a_dataset_version_is_recorded_once(registry: DatasetRecords) -> None:
    assert registry.put_dataset_version(_version("abc", "2026-11-23T10:00:00+00:00", rows=10)) is True
    assert registry.put_dataset_version(_version("abc", "2026-11-23T11:00:00+00:00", rows=99)) is False
    stored = registry.get_dataset_version("d", "abc")
    assert stored is not None and stored.rows == 10, "the first record is never overwritten"


def test_versions_are_listed_newest_first(registry: DatasetRecords) -> None:
    for hour, version in ((9, "v-old"), (11, "v-new"), (10, "v-mid")):
        registry.put_dataset_version(_version(version, f"2026-11-23T{hour:02d}:00:00+00:00"))
    registry.put_dataset_version(_version("x", "2026-11-24T00:00:00+00:00", dataset="other"))
    assert [v.version for v in registry.dataset_versions("d")] == ["v-new", "v-mid", "v-old"]
    latest = registry.latest_dataset_version("d")
    assert latest is not None and latest.version == "v-new"


def test_every_version_is_listed_oldest_first_across_pages(registry: DatasetRecords) -> None:
    """Training combines every accepted version: none may be lost past a page of results."""
    for hour, version in ((9, "v-old"), (11, "v-new"), (10, "v-mid")):
        registry.put_dataset_version(_version(version, f"2026-11-23T{hour:02d}:00:00+00:00"))

    class OnePerPage:
        def query(self, **kwargs: Any) -> Any:
            return registry.table.query(**kwargs, Limit=1)

    paged = DatasetRecords(OnePerPage())
    assert [v.version for v in paged.all_dataset_versions("d")] == ["v-old", "v-mid", "v-new"]
    assert paged.all_dataset_versions("other") == []


def test_racing_deliveries_of_one_upload_record_exactly_one_outcome(registry: DatasetRecords) -> None:
    def record(n: int) -> bool:
        return registry.record_upload("d", "raw/d/f.csv", "s3v1", {"status": "accepted", "attempt": n})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(record, range(16)))
    assert results.count(True) == 1
    assert registry.processed_upload("d", "raw/d/f.csv", "s3v1") is not None
    assert registry.processed_upload("d", "raw/d/f.csv", "s3v2") is None


# -- the stored item's shape -----------------------------------------------------------------------
HASH = "9f2c" + "0" * 60
STORED = {  # a dataset version exactly as ingestion has stored it (numbers as boto3 reads them back)
    "pk": "DATASET#churn",
    "sk": f"VERSION#{HASH}",
    "kind": "dataset_version",
    "dataset": "churn",
    "version": HASH,
    "created_at": "2026-11-23T10:00:00+00:00",
    "gsi1pk": "DATASET#churn#VERSIONS",
    "gsi1sk": f"2026-11-23T10:00:00+00:00#{HASH}",
    "manifest_key": f"datasets/churn/{HASH}/manifest.json",
    "rows": Decimal("569"),
    "contract_version": Decimal("2"),
    "source_key": "raw/churn/patients.csv",
    "source_version": "unversioned",
}


def test_an_item_in_todays_shape_reads_as_a_typed_record_and_writes_back_the_same() -> None:
    record = DatasetVersion.from_item(STORED)
    assert (record.dataset, record.version, record.created_at) == ("churn", HASH, "2026-11-23T10:00:00+00:00")
    assert record.manifest_key == f"datasets/churn/{HASH}/manifest.json"
    assert (record.rows, record.contract_version) == (569, 2) and isinstance(record.rows, int)
    assert (record.source_key, record.source_version) == ("raw/churn/patients.csv", "unversioned")
    assert record.extra == {}
    assert record.to_item() == STORED


def test_an_item_from_before_contract_versions_were_recorded_still_reads() -> None:
    older = {k: v for k, v in STORED.items() if k != "contract_version"} | {"note": "kept"}
    record = DatasetVersion.from_item(older)
    assert record.contract_version is None and record.extra == {"note": "kept"}
    assert record.to_item() == older, "nothing is added to an item, and what is not named is kept"


def test_the_written_item_is_the_one_read(registry: DatasetRecords, registry_table: Any) -> None:
    assert registry.put_dataset_version(DatasetVersion.from_item(STORED))
    assert registry_table.get_item(Key={"pk": STORED["pk"], "sk": STORED["sk"]})["Item"] == STORED
    assert registry.get_dataset_version("churn", HASH) == DatasetVersion.from_item(STORED)


def test_open_upload_folders_past_a_time_are_found_across_pages_and_closed_ones_are_not(
    registry: DatasetRecords,
) -> None:
    """The scheduled check's one query: every open folder whose newest file is older than the cut-off,
    oldest first, however many pages; committed and reported folders are out of the index."""
    for minute, folder in ((1, "raw/d/b"), (0, "raw/d/a"), (2, "raw/e/c"), (30, "raw/d/recent"), (3, "raw/d/kept")):
        registry.note_folder_file(folder.split("/")[1], folder, f"2026-11-23T10:{minute:02d}:00.000000+00:00")
    registry.commit_folder("d", "raw/d/kept", "2026-11-23T10:04:00.000000+00:00")
    reported = registry.note_folder_file("d", "raw/d/reported", "2026-11-23T09:00:00.000000+00:00")
    assert registry.close_folder(reported, reported=True)

    class OnePerPage:
        def query(self, **kwargs: Any) -> Any:
            return registry.table.query(**kwargs, Limit=1)

    overdue = DatasetRecords(OnePerPage()).overdue_folders("2026-11-23T10:10:00.000000+00:00")
    assert [f.folder for f in overdue] == ["raw/d/a", "raw/d/b", "raw/e/c"]
    # An older file's late event neither moves the folder back nor reopens a committed one.
    assert registry.note_folder_file("d", "raw/d/b", "2026-11-23T09:59:00.000000+00:00").newest_at.endswith(
        "10:01:00.000000+00:00"
    )
    assert registry.note_folder_file("d", "raw/d/kept", "2026-11-23T11:00:00.000000+00:00").committed_at is not None
    assert [f.folder for f in registry.overdue_folders("2026-11-23T12:00:00.000000+00:00")] == [
        "raw/d/a",
        "raw/d/b",
        "raw/e/c",
        "raw/d/recent",
    ]
