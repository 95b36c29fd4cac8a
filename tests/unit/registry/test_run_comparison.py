"""Runs side by side and runs searched, on moto's DynamoDB, from the items the training pipeline
writes (tests/unit/registry/run_support.py records them as its steps do)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.registry.errors import RegistryError
from mlops.registry.models import ModelRegistry
from mlops.registry.run_comparison import (
    RunRecord,
    RunSearch,
    absent_metrics,
    compare_runs,
    dataset_runs,
    recorded_run,
)
from mlops.registry.run_query import RunsQueryError, metric_filter, param_filter
from mlops.registry.views import model_card
from tests.unit.registry.run_support import HASH_1, HASH_2, record_run


@pytest.fixture
def registry(registry_table: Any) -> ModelRegistry:
    return ModelRegistry(registry_table)


def test_a_run_shows_the_chosen_candidates_hyperparameters_metrics_gates_and_data(registry: ModelRegistry) -> None:
    record_run(registry, "first", depth=8, auc=0.991)
    run = recorded_run(registry, "first")
    assert (run.selected, run.estimator, run.version, run.version_status) == (
        "forest",
        "random_forest",
        1,
        "registered",
    )
    assert run.hyperparameters == {"n_estimators": 100, "max_depth": 8}
    assert run.searched == ("max_depth",)
    assert run.metrics["roc_auc"] == pytest.approx(0.991)
    assert run.gates_passed is True and run.gates[0].observed == pytest.approx(0.991)
    assert [(v.version, v.rows) for v in run.dataset_versions] == [(HASH_1, 569)]
    assert {c.name: c.status for c in run.candidates} == {"forest": "succeeded", "logistic": "failed"}
    assert run.as_json()["hyperparameters"] == {"n_estimators": 100, "max_depth": 8}


def test_two_runs_side_by_side_mark_each_difference_and_the_better_metric(registry: ModelRegistry) -> None:
    record_run(registry, "first", depth=4, auc=0.97)
    record_run(registry, "second", depth=8, auc=0.99, versions=(HASH_1, HASH_2), started="2026-12-05T11:00:00+00:00")
    comparison = compare_runs(recorded_run(registry, "first"), recorded_run(registry, "second"))
    rows = {(r.section, r.name): r for r in comparison.rows}
    assert comparison.same_dataset
    depth = rows["hyperparameters", "max_depth"]
    assert (depth.a, depth.b, depth.differs) == (4, 8, True)
    assert not rows["hyperparameters", "n_estimators"].differs
    auc = rows["metrics", "roc_auc"]
    assert (auc.differs, auc.better) == (True, "b")
    assert not rows["metrics", "accuracy"].differs and rows["metrics", "accuracy"].better is None
    assert rows["data versions", HASH_2].a is None and rows["data versions", HASH_2].b == 569
    assert rows["run", "version"].a == 1 and rows["run", "version"].b == 2
    assert rows["gates", "min roc_auc"].a == "pass (0.97)"
    assert any("different dataset versions" in note for note in comparison.notes)
    assert comparison.as_json()["differences"] == sum(r.differs for r in comparison.rows) > 0


def test_a_lower_loss_is_the_better_one() -> None:
    a = RunRecord("a", "d", "d", "succeeded", metrics={"log_loss": 0.3})
    b = RunRecord("b", "d", "d", "succeeded", metrics={"log_loss": 0.2})
    assert {(r.name, r.better) for r in compare_runs(a, b).rows if r.section == "metrics"} == {("log_loss", "b")}


def test_runs_of_different_datasets_say_so_and_still_compare(registry: ModelRegistry) -> None:
    record_run(registry, "cancer")
    record_run(registry, "wine-run", dataset="wine", auc=0.98)
    comparison = compare_runs(recorded_run(registry, "cancer"), recorded_run(registry, "wine-run"))
    assert not comparison.same_dataset
    assert comparison.notes[0].startswith("the runs trained on different datasets (breast-cancer and wine)")
    assert any(r.name == "roc_auc" and r.differs for r in comparison.rows)


def test_a_failed_run_compares_with_no_metrics_and_says_why(registry: ModelRegistry) -> None:
    record_run(registry, "good")
    record_run(registry, "broken", failed=True)
    broken = recorded_run(registry, "broken")
    assert (broken.version, broken.metrics, broken.failure_reason) == (None, {}, "ExportFailed: no converter")
    comparison = compare_runs(recorded_run(registry, "good"), broken)
    assert "run broken registered no version (failed): it has no test metrics or gates" in comparison.notes


def test_an_unknown_run_is_not_found_by_name(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryError, match="no training run 'nope'") as raised:
        recorded_run(registry, "nope")
    assert raised.value.code == "not_found"


def test_search_filters_on_metrics_and_chosen_parameters_and_sorts(registry: ModelRegistry) -> None:
    for i, (depth, auc) in enumerate([(4, 0.95), (6, 0.97), (6, 0.99), (8, 0.93)]):
        record_run(registry, f"run-{i}", depth=depth, auc=auc, started=f"2026-12-05T1{i}:00:00+00:00")
    record_run(registry, "broken", failed=True, started="2026-12-05T19:00:00+00:00")
    record_run(registry, "elsewhere", dataset="wine")
    runs = dataset_runs(registry, "breast-cancer")
    assert [r.run_id for r in RunSearch("breast-cancer").apply(runs)][:2] == ["broken", "run-3"]  # newest first
    search = RunSearch(
        "breast-cancer", metrics=(metric_filter("roc_auc>0.94"),), params=(param_filter("max_depth=6"),), sort="roc_auc"
    )
    assert [r.run_id for r in search.apply(runs)] == ["run-2", "run-1"]
    assert [r.run_id for r in RunSearch("breast-cancer", sort="-roc_auc").apply(runs)][:2] == ["run-3", "run-0"]
    assert [r.run_id for r in RunSearch("breast-cancer", sort="log_loss", limit=1).apply(runs)] == ["run-2"]
    deep = RunSearch("breast-cancer", params=(param_filter("max_depth>=6"), param_filter("n_estimators=100")))
    assert {r.run_id for r in deep.apply(runs)} == {"run-1", "run-2", "run-3"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: metric_filter("auc>0.9"), "--metric 'auc>0.9': no metric 'auc' (did you mean roc_auc?)"),
        (lambda: metric_filter("roc_auc>high"), "--metric 'roc_auc>high': 'high' is not a number"),
        (lambda: metric_filter("roc_auc"), "--metric 'roc_auc': write METRIC OP VALUE, e.g. roc_auc>0.9"),
        (lambda: param_filter("max_depth="), "--param 'max_depth=': no value after '='"),
        (lambda: param_filter("6=max_depth"), "--param '6=max_depth': write PARAM OP VALUE"),
        (lambda: RunSearch("d", sort="-auc"), "sort '-auc': no metric 'auc' (did you mean roc_auc?)"),
        (lambda: metric_filter("roc_auc>nan"), "--metric 'roc_auc>nan': 'nan' is not a finite number"),
        (lambda: metric_filter("roc_auc<=-inf"), "--metric 'roc_auc<=-inf': '-inf' is not a finite number"),
        (lambda: param_filter("C>abc"), "--param 'C>abc': 'abc' is not a number (> orders numbers"),
        (lambda: param_filter("C<=inf", flag="param"), "param 'C<=inf': 'inf' is not a finite number"),
        (lambda: RunSearch("d", sort="ROC_AUC"), "sort 'ROC_AUC': no metric 'ROC_AUC' (did you mean roc_auc?)"),
    ],
    ids=[
        "unknown-metric",
        "not-a-number",
        "no-operator",
        "no-value",
        "not-a-name",
        "unknown-sort",
        "nan",
        "infinite",
        "ordering-text",
        "ordering-infinite",
        "sort-case",
    ],
)
def test_a_malformed_expression_is_refused_naming_it_and_what_is_wrong(make: Any, message: str) -> None:
    with pytest.raises(RunsQueryError) as refused:
        make()
    assert str(refused.value).startswith(message)


def test_parameters_compare_as_numbers_booleans_text_and_unset() -> None:
    run = RunRecord("r", "d", "d", "succeeded", hyperparameters={"C": 0.5, "fit_intercept": True, "penalty": "l2"})
    unset = RunRecord("u", "d", "d", "succeeded", hyperparameters={"max_depth": None})

    def kept(expression: str) -> list[str]:
        return [r.run_id for r in RunSearch("d", params=(param_filter(expression),)).apply([run, unset])]

    assert kept("C<=1") == ["r"] and kept("fit_intercept=true") == ["r"] and kept("penalty=l2") == ["r"]
    assert kept("max_depth=null") == ["u"] and kept("penalty!=l1") == ["r", "u"]
    with pytest.raises(RunsQueryError, match="is not a number"):
        kept("C>big")


def test_a_metric_name_matches_whatever_its_case() -> None:
    run = RunRecord("r", "d", "d", "succeeded", metrics={"roc_auc": 0.91})
    found = metric_filter("ROC_AUC>0.5")
    assert found.column == "roc_auc"
    assert RunSearch("d", metrics=(found,)).apply([run]) == [run]


def test_a_metric_equals_the_figure_runs_compare_prints() -> None:
    # `mlops runs compare` prints metrics with 6 significant digits (`.6g`); the stored value has them all.
    run = RunRecord("r", "d", "d", "succeeded", metrics={"roc_auc": 0.80089412345, "accuracy": 1.0})
    shown = f"{run.metrics['roc_auc']:.6g}"
    assert shown == "0.800894"

    def kept(expression: str) -> bool:
        return RunSearch("d", metrics=(metric_filter(expression),)).apply([run]) == [run]

    assert kept(f"roc_auc={shown}") and not kept(f"roc_auc!={shown}")
    assert not kept("roc_auc=0.800895") and kept("roc_auc!=0.800895")
    assert kept("roc_auc>0.800894"), "ordering compares the full value"
    assert kept("accuracy=1") and kept("accuracy=1.0")


def test_a_metric_no_searched_run_has_is_named_with_those_they_have() -> None:
    searched: list[dict[str, float | None]] = [
        {"accuracy": 0.9, "roc_auc": 0.95, "brier": None},
        {"accuracy": 0.8, "log_loss": 0.3},
    ]
    asked = (metric_filter("rmse<60"), metric_filter("roc_auc>0.99"), metric_filter("brier<0.1"))
    assert absent_metrics("churn", asked, searched) == (
        "no run of churn has rmse (a regression metric), brier (a binary classification metric); "
        "its runs have accuracy, log_loss, roc_auc"
    )
    assert absent_metrics("churn", (metric_filter("roc_auc>0.99"),), searched) is None, "present: the value is why"
    assert absent_metrics("churn", (metric_filter("rmse<60"),), []) is None, "no run searched: nothing to say"


def test_the_model_card_names_the_chosen_candidate_and_its_hyperparameters(registry: ModelRegistry) -> None:
    record_run(registry, "first", depth=6)
    card = model_card(registry.get_version("breast-cancer", 1) or {})
    assert (card["chosen_candidate"], card["parameters"]) == ("forest", {"n_estimators": 100, "max_depth": 6})


def test_a_search_says_which_way_it_sorted() -> None:
    # `--sort -auc` reads as "descending" to an MLflow user; here `-` is "the other way round", so the
    # CLI prints the order in words above the table.
    assert RunSearch("d").order == "newest first"
    assert RunSearch("d", sort="roc_auc").order == "sorted by roc_auc, best first"
    assert RunSearch("d", sort="-roc_auc").order == "sorted by roc_auc, worst first"
    assert RunSearch("d", sort="-log_loss").order == "sorted by log_loss, worst first"
    assert RunSearch("d", sort="version").order == "sorted by version, highest first"
