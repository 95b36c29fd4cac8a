"""`mlops runs search` against a stand-in registry API that searches as the API does (the core's
RunSearch): expressions refused before any call, and an empty answer that says why it is empty."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from mlops.registry.run_comparison import RunRecord, RunSearch
from mlops.registry.run_query import RunsQueryError, metric_filter, param_filter
from mlopsctl.api import ApiError
from mlopsctl.commands import EXIT_ERROR, EXIT_OK
from mlopsctl.main import main
from mlopsctl.target import Target

CHURN = [
    RunRecord("r1", "churn", "churn", "succeeded", metrics={"accuracy": 0.9, "roc_auc": 0.80089412}),
    RunRecord(
        "r2", "churn", "churn", "succeeded", metrics={"accuracy": 0.7, "roc_auc": 0.75}, hyperparameters={"C": 2}
    ),
]


@dataclass
class _Api:
    """GET /v1/runs over CHURN (other datasets have no run); `deployed` the datasets with a contract."""

    deployed: list[str] = field(default_factory=lambda: ["churn", "fresh"])
    asked: list[dict[str, Any]] = field(default_factory=list)

    def call(self, target: Target, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        assert (method, path) == ("GET", "/v1/runs")
        self.asked.append(query)
        try:  # the route's own parsing, as registry_api.search_runs does it
            search = RunSearch(
                query["dataset"],
                metrics=tuple(metric_filter(m, flag="metric") for m in query.get("metric") or []),
                params=tuple(param_filter(p, flag="param") for p in query.get("param") or []),
                limit=query["limit"],
            )
        except RunsQueryError as error:
            raise ApiError(400, "invalid", str(error)) from None
        runs = CHURN if query["dataset"] == "churn" else []
        return {"runs": [r.as_json() for r in search.apply(runs)]}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> _Api:
    stand_in = _Api()
    monkeypatch.setattr("mlopsctl.commands.runs.deployment_target", lambda args: Target({"ApiUrl": "https://a/"}))
    monkeypatch.setattr("mlopsctl.api.call", stand_in.call)
    monkeypatch.setattr("mlopsctl.commands.datasets.deployed_datasets", lambda target: stand_in.deployed)
    return stand_in


def _search(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["runs", "search", "--dataset", *args])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        (("--metric", "roc_auc>nan"), "--metric 'roc_auc>nan': 'nan' is not a finite number"),
        (("--metric", "roc_auc>inf"), "--metric 'roc_auc>inf': 'inf' is not a finite number"),
        (("--param", "C>abc"), "--param 'C>abc': 'abc' is not a number (> orders numbers"),
    ],
)
def test_an_expression_the_api_would_refuse_is_refused_before_any_call(
    api: _Api, capsys: pytest.CaptureFixture[str], expression: tuple[str, str], said: str
) -> None:
    code, _, err = _search(capsys, "churn", *expression)
    assert code == EXIT_ERROR and said in err
    assert api.asked == []
    with pytest.raises(ApiError) as refused:  # the API answers the same words (its flag is the query's name)
        query = {"dataset": "churn", expression[0].removeprefix("--"): [expression[1]], "limit": 1}
        api.call(Target({}), "GET", "/v1/runs", query=query)
    assert said.removeprefix("--") in str(refused.value)


def test_a_metric_name_in_capitals_and_a_figure_copied_from_compare_match(
    api: _Api, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _search(capsys, "churn", "--metric", "ROC_AUC>0.5")
    assert code == EXIT_OK and out.startswith("2 run(s) of churn")
    code, out, _ = _search(capsys, "churn", "--metric", "roc_auc=0.800894")  # as `runs compare` prints it
    assert code == EXIT_OK and out.startswith("1 run(s) of churn") and "r1" in out


def test_a_metric_no_run_has_is_named_with_those_they_have(api: _Api, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _search(capsys, "churn", "--metric", "rmse<60")
    assert code == EXIT_OK
    assert out == (
        "no run of churn matches rmse<60: no run of churn has rmse (a regression metric); "
        "its runs have accuracy, roc_auc"
    )
    code, out, _ = _search(capsys, "churn", "--metric", "roc_auc>0.99")
    assert out == "no run of churn matches roc_auc>0.99", "the metric is there: its values are why"


def test_a_dataset_without_runs_says_whether_it_is_deployed(api: _Api, capsys: pytest.CaptureFixture[str]) -> None:
    assert _search(capsys, "fresh")[1] == "no recorded run of fresh yet (`mlops train --dataset fresh` starts one)"
    assert _search(capsys, "nope")[1] == (
        "no recorded run of nope: no dataset 'nope' is deployed (`mlops datasets list` names them)"
    )
    api.deployed = []
    assert "no dataset 'fresh' is deployed" in _search(capsys, "fresh", "--metric", "roc_auc>0.5")[1]
