"""The pure parts of `mlops datasets` and `mlops runs`: version prefixes, lineage, sort and filter."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.datasets.records import DatasetVersion as DatasetRecord
from mlopsctl.datasets import VersionPrefixError, dataset_versions, resolve_version, trained_text
from mlopsctl.runs_table import RunFilter, RunsQueryError, check_columns, one_line, runs_table, sort_rows

KNOWN = ["abc123" + "0" * 58, "abd999" + "1" * 58, "f00d" + "2" * 60]


def test_any_unique_prefix_names_a_version() -> None:
    assert resolve_version("d", "f00d", KNOWN) == KNOWN[2]
    assert resolve_version("d", "ABC1", KNOWN) == KNOWN[0]  # hashes are hex: case does not matter
    assert resolve_version("d", KNOWN[1], KNOWN) == KNOWN[1]


def test_an_ambiguous_prefix_lists_the_candidates_long_enough_to_tell_apart() -> None:
    with pytest.raises(VersionPrefixError) as caught:
        resolve_version("d", "ab", KNOWN)
    assert str(caught.value) == "'ab' names 2 versions of dataset 'd': abc123000000, abd999111111; give more characters"


def test_an_unknown_prefix_lists_the_versions_there_are() -> None:
    with pytest.raises(
        VersionPrefixError,
        match=r"no accepted version of dataset 'd' starts with 'beef' \(its "
        r"versions: abc123000000, abd999111111, f00d22222222",
    ):
        resolve_version("d", "beef", KNOWN)
    with pytest.raises(VersionPrefixError, match=r"no accepted version .* none yet"):
        resolve_version("d", "beef", [])
    with pytest.raises(VersionPrefixError, match="give a dataset version"):
        resolve_version("d", " ", KNOWN)


def test_a_version_lists_every_run_that_combined_it_and_the_model_version_it_made() -> None:
    records = [
        DatasetRecord(
            dataset="d", version=KNOWN[0], created_at="2026-01-01", manifest_key="m0", rows=10, contract_version=1
        ),
        DatasetRecord(dataset="d", version=KNOWN[1], created_at="2026-02-01", manifest_key="m1", rows=5),
    ]
    runs: list[dict[str, Any]] = [
        {  # combined both
            "run_id": "r2",
            "status": "succeeded",
            "started_at": "2026-02-02",
            "model": "d",
            "version": 2,
            "training_data": {"versions": [{"version": KNOWN[0]}, {"version": KNOWN[1]}]},
        },
        {
            "run_id": "r1",
            "status": "succeeded",
            "started_at": "2026-01-02",
            "model": "d",
            "version": 1,
            "dataset_version": KNOWN[0],
        },  # recorded before runs listed their versions
        {"run_id": "r3", "status": "failed", "started_at": "2026-02-03", "dataset_version": KNOWN[1]},
    ]
    newest, oldest = dataset_versions("d", records, runs)
    assert newest.version == KNOWN[1] and oldest.contract_version == 1 and newest.contract_version is None
    assert [t.run_id for t in oldest.trained_on] == ["r2", "r1"]
    assert trained_text(newest.trained_on) == "failed run r3, d v2"
    assert trained_text(()) == "-"


ROWS: list[dict[str, Any]] = [
    {
        "run_id": "a",
        "status": "succeeded",
        "dataset": "d",
        "started_at": "2026-01-01",
        "duration_seconds": 10,
        "version": 1,
        "metrics": {"roc_auc": 0.9, "log_loss": 0.3},
        "reason": "first",
    },
    {
        "run_id": "b",
        "status": "failed",
        "dataset": "d",
        "started_at": "2026-01-03",
        "duration_seconds": 3,
        "version": None,
        "reason": None,
        "failure_reason": "Traceback (most recent call last):\n  File x\nValueError: " + "y" * 200,
    },
    {
        "run_id": "c",
        "status": "succeeded",
        "dataset": "e",
        "started_at": "2026-01-02",
        "duration_seconds": 20,
        "version": 2,
        "metrics": {"roc_auc": 0.95, "log_loss": 0.4},
        "reason": "second",
    },
]


def test_sort_puts_the_best_metric_first_by_its_direction_and_runs_without_it_last() -> None:
    assert [r["run_id"] for r in sort_rows(ROWS, "roc_auc")] == ["c", "a", "b"]
    assert [r["run_id"] for r in sort_rows(ROWS, "log_loss")] == ["a", "c", "b"]  # lower is better
    assert [r["run_id"] for r in sort_rows(ROWS, "roc_auc", reverse=True)] == ["a", "c", "b"]
    assert [r["run_id"] for r in sort_rows(ROWS, "started")] == ["b", "c", "a"]
    assert [r["run_id"] for r in sort_rows(ROWS, "took")] == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("status=failed", ["b"]),
        ("status != failed", ["a", "c"]),
        ("roc_auc>=0.95", ["c"]),
        ("log_loss<0.35", ["a"]),
        ("version=v2", ["c"]),
        ("dataset=e", ["c"]),
        ("roc_auc!=0.9", ["b", "c"]),
    ],
)
def test_filters_compare_numbers_as_numbers_and_text_as_text(expression: str, kept: list[str]) -> None:
    keep = RunFilter.parse(expression)
    assert [r["run_id"] for r in ROWS if keep.keeps(r)] == kept


def test_a_wrong_filter_or_column_says_what_is_there() -> None:
    with pytest.raises(RunsQueryError, match="write COLUMN OP VALUE"):
        RunFilter.parse("roc_auc")
    with pytest.raises(RunsQueryError, match="'high' is not a number"):
        RunFilter.parse("roc_auc>high").keeps(ROWS[0])
    with pytest.raises(RunsQueryError, match="no column 'rocauc'"):
        check_columns(["rocauc"], ROWS)
    check_columns(["brier", "status"], ROWS)  # a metric no shown run has is still a metric


def test_the_table_keeps_one_line_per_run_with_metric_columns() -> None:
    lines = runs_table(ROWS, ["roc_auc"])
    assert lines[0].split() == ["RUN", "STATUS", "DATASET", "STARTED", "TOOK", "MODEL", "ROC_AUC", "REASON"]
    assert len(lines) == 4
    failed = lines[2]
    assert "failed: Traceback (most recent call last): File x ValueError: yyy" in failed and failed.endswith("…")
    assert lines[1].split()[-2:] == ["0.9000", "first"] and " - " in failed
    assert one_line("a\n\n b", 10) == "a b" and len(one_line("x" * 100, 10)) == 10


def test_a_comparison_prints_the_dataset_note_first_and_marks_differences() -> None:
    from mlops.registry.run_comparison import RunRecord, compare_runs
    from mlopsctl.runs_table import comparison_lines

    a = RunRecord("a", "breast-cancer", "m", "succeeded", metrics={"roc_auc": 0.97}, hyperparameters={"max_depth": 4})
    b = RunRecord("b", "wine", "w", "succeeded", metrics={"roc_auc": 0.99}, hyperparameters={"max_depth": 4})
    lines = comparison_lines(compare_runs(a, b).as_json())
    assert lines[2].startswith("NOTE: the runs trained on different datasets (breast-cancer and wine)")
    auc = next(line for line in lines if "roc_auc" in line)
    assert auc.startswith("* metrics") and auc.endswith("B better")
    assert next(line for line in lines if "max_depth" in line).startswith("  hyperparameters")
    assert not any(
        "max_depth" in line for line in comparison_lines(compare_runs(a, b).as_json(), only_differences=True)
    )


def test_the_table_shows_the_chosen_hyperparameters_when_runs_have_them() -> None:
    rows = [{**ROWS[0], "hyperparameters": {"max_depth": 6, "n_estimators": 100, "bootstrap": True}}, ROWS[1]]
    lines = runs_table(rows, ["roc_auc"])
    assert lines[0].split()[-2:] == ["PARAMS", "REASON"]
    assert "bootstrap=true max_depth=6 n_estimators…" in lines[1]  # cut to the column, in name order
    column = lines[0].index("PARAMS")
    assert lines[1][column:].startswith("bootstrap=") and lines[2][column:].startswith("- ")  # none: -
