"""Permutation importance stays within its time budget on wide data: rows are cut first, then the
shuffles per field, and the record says what was used (issue #22: "the evaluate step, bounded time")."""

from __future__ import annotations

from typing import Any

from mlops.training.importance import BUDGET_SECONDS, MAX_ROWS, MIN_ROWS, REPEATS, fitted_to_budget


def _seconds(rows: int, repeats: int, fields: int, per_row: float) -> float:
    return (1 + fields * repeats) * rows * per_row


def test_within_the_budget_nothing_is_cut() -> None:
    assert fitted_to_budget(MAX_ROWS, 20, 0.27) == (MAX_ROWS, REPEATS)  # the 200-tree forest, 20 fields


def test_a_wide_dataset_gets_fewer_rows_and_stays_within_the_budget() -> None:
    per_row = 0.27 / MAX_ROWS
    rows, repeats = fitted_to_budget(MAX_ROWS, 300, 0.27)
    assert MIN_ROWS < rows < MAX_ROWS and repeats == REPEATS
    assert _seconds(rows, repeats, 300, per_row) <= BUDGET_SECONDS


def test_past_the_fewest_rows_the_shuffles_are_cut_but_never_below_one() -> None:
    per_row = 0.27 / MAX_ROWS
    rows, repeats = fitted_to_budget(MAX_ROWS, 2_000, 0.27)
    assert rows == MIN_ROWS and 1 <= repeats < REPEATS
    assert _seconds(rows, repeats, 2_000, per_row) <= BUDGET_SECONDS
    assert fitted_to_budget(MAX_ROWS, 100_000, 0.27) == (MIN_ROWS, 1)  # slower than the budget: one shuffle


def test_a_small_test_split_is_never_grown() -> None:
    rows, _ = fitted_to_budget(50, 5_000, 2.0)
    assert rows == 50


def test_over_the_budget_the_computation_uses_fewer_rows_and_says_so(monkeypatch: Any) -> None:
    import mlops.training.importance as importance
    from tests.unit.training.test_importance import signal_and_noise_importances

    monkeypatch.setattr(importance, "BUDGET_SECONDS", 1e-9)  # any clock reads as over the budget
    found, _ = signal_and_noise_importances()
    assert (found.rows, found.repeats) == (MIN_ROWS, 1)
    assert found.bound == f"{MIN_ROWS} test rows x 1 shuffle per field, on roc_auc"
    assert found.features[0].feature == "signal"  # still the field the label depends on
