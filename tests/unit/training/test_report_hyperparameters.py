"""The run report names the hyperparameters the registered model was fitted with, and which of them
its search chose (issue #22: a reviewer coming from MLflow looks for the chosen grid values)."""

from __future__ import annotations

from mlops.training.chain import run_training
from mlops.training.search_space import Candidate, Search
from tests.unit.training.support import sklearn_dataset, small_config


def test_the_report_shows_the_chosen_candidates_parameters_and_what_its_search_chose() -> None:
    arrays, columns = sklearn_dataset("breast_cancer")
    grid = Candidate(
        name="logreg", estimator="logistic_regression", params={"max_iter": 500}, search=Search(grid={"C": [0.1, 1.0]})
    )
    config = small_config("binary", candidates=[grid.model_dump()])
    run = run_training(arrays, columns, config, latency_repeats=5)
    chosen = run.selected.best_params["C"]
    assert run.selected.params == {"max_iter": 500, "C": chosen}
    page = run.report_html
    assert f"<code>C={chosen}</code>, <code>max_iter=500</code>" in page
    assert "(C chosen by grid search, 2 trials)" in page
