"""Which uploads the validation state machine takes: a big file and a multi-file upload's commit
marker; a file of a multi-file upload waits for its marker (tests/unit/datasets/test_uncommitted.py)."""

from __future__ import annotations

import pytest

from mlops.datasets.partitioned_ingestion import PartitioningSettings, route, run_name, upload_for

SMALL = PartitioningSettings(single_file_max_bytes=1_000)


@pytest.mark.parametrize(
    ("key", "size", "expected"),
    [
        ("raw/churn/2026-11.csv", 999, "single"),  # today's path, unchanged
        ("raw/churn/2026-11.csv", 1_001, "partitioned"),
        ("raw/churn/2026-12/a.csv", 10, "upload_file"),
        ("raw/churn/2026-12/nested/b.csv", 10, "upload_file"),
        ("raw/churn/2026-12/_COMMIT", 0, "commit"),
        ("raw/2026-11.csv", 5_000, "single"),  # misplaced: today's path reports it
        ("elsewhere/x.csv", 5_000, "single"),
    ],
)
def test_route(key: str, size: int, expected: str) -> None:
    assert route(key, size, SMALL) == expected


def test_a_commit_marker_starts_one_run_for_its_folder() -> None:
    upload = upload_for("raw/churn/2026-12/_COMMIT", "raw-bucket", "v1", 0)
    assert (upload.key, upload.folder, upload.upload.filename) == ("raw/churn/2026-12", True, "2026-12")
    assert run_name(upload) == run_name(upload_for("raw/churn/2026-12/_COMMIT", "raw-bucket", "v1", 0))
    assert run_name(upload) != run_name(upload_for("raw/churn/2026-12/_COMMIT", "raw-bucket", "v2", 0))
    assert len(run_name(upload)) <= 80  # Step Functions' limit on an execution name
