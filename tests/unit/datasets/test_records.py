"""The registry table's data access on moto's DynamoDB: conditional writes make retries and races safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlops.registry.table import RegistryTable


@pytest.fixture
def registry(registry_table: Any) -> RegistryTable:
    return RegistryTable(registry_table)


def test_a_dataset_version_is_recorded_once(registry: RegistryTable) -> None:
    attributes: dict[str, Any] = {"rows": 10, "manifest_key": "datasets/d/abc/manifest.json"}
    assert registry.put_dataset_version("d", "abc", "2026-11-23T10:00:00+00:00", attributes) is True
    assert registry.put_dataset_version("d", "abc", "2026-11-23T11:00:00+00:00", {"rows": 99}) is False
    stored = registry.get_dataset_version("d", "abc")
    assert stored is not None and stored["rows"] == 10, "the first record is never overwritten"


def test_versions_are_listed_newest_first(registry: RegistryTable) -> None:
    for hour, version in ((9, "v-old"), (11, "v-new"), (10, "v-mid")):
        registry.put_dataset_version("d", version, f"2026-11-23T{hour:02d}:00:00+00:00", {})
    registry.put_dataset_version("other", "x", "2026-11-24T00:00:00+00:00", {})
    assert [v["version"] for v in registry.dataset_versions("d")] == ["v-new", "v-mid", "v-old"]
    latest = registry.latest_dataset_version("d")
    assert latest is not None and latest["version"] == "v-new"


def test_every_version_is_listed_oldest_first_across_pages(registry: RegistryTable) -> None:
    """Training combines every accepted version: none may be lost past a page of results."""
    for hour, version in ((9, "v-old"), (11, "v-new"), (10, "v-mid")):
        registry.put_dataset_version("d", version, f"2026-11-23T{hour:02d}:00:00+00:00", {})

    class OnePerPage:
        def query(self, **kwargs: Any) -> Any:
            return registry.table.query(**kwargs, Limit=1)

    paged = RegistryTable(OnePerPage())
    assert [v["version"] for v in paged.all_dataset_versions("d")] == ["v-old", "v-mid", "v-new"]
    assert paged.all_dataset_versions("other") == []


def test_racing_deliveries_of_one_upload_record_exactly_one_outcome(registry: RegistryTable) -> None:
    def record(n: int) -> bool:
        return registry.record_upload("d", "raw/d/f.csv", "s3v1", {"status": "accepted", "attempt": n})

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(record, range(16)))
    assert results.count(True) == 1
    assert registry.processed_upload("d", "raw/d/f.csv", "s3v1") is not None
    assert registry.processed_upload("d", "raw/d/f.csv", "s3v2") is None
