"""The registry API's run routes as a client meets them: one run, two runs compared, a dataset's
runs searched, and every malformed expression or unknown run refused naming it. The registry is
moto's DynamoDB holding runs as the training pipeline records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlops.buckets import ArtifactsBucket
from mlops.registry.models import ModelRegistry
from tests.unit.handlers.support import QUIET, Context, FakeS3, loaded, rest_event
from tests.unit.registry.run_support import record_run

pytestmark = QUIET


@pytest.fixture(scope="module")
def registry_api() -> Iterator[Any]:
    with loaded("handlers.registry_api") as module:
        yield module


@pytest.fixture
def call(registry_api: Any, registry_table: Any) -> Iterator[Any]:
    registry = ModelRegistry(registry_table)
    record_run(registry, "shallow", depth=4, auc=0.96, started="2026-12-05T10:00:00+00:00")
    record_run(registry, "deep", depth=8, auc=0.99, started="2026-12-05T11:00:00+00:00")
    record_run(registry, "wine-run", dataset="wine", auc=0.97)
    services = registry_api.RegistryApiServices(registry, ArtifactsBucket(FakeS3(), "artifacts"))

    def answer(
        path: str, resource: str, parameters: dict[str, str], query: dict[str, list[str]] | None = None
    ) -> tuple[int, Any]:
        event = rest_event("GET", path, resource, parameters)
        if query:
            event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
            event["multiValueQueryStringParameters"] = query
        response = registry_api.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    with registry_api.services.replaced(services):
        yield answer


def test_a_run_is_shown_with_its_chosen_hyperparameters(call: Any) -> None:
    status, body = call("/v1/runs/deep", "/v1/runs/{run_id}", {"run_id": "deep"})
    assert status == 200, body
    run = body["run"]
    assert (run["selected"], run["hyperparameters"], run["searched"]) == (
        "forest",
        {"n_estimators": 100, "max_depth": 8},
        ["max_depth"],
    )
    assert run["metrics"]["roc_auc"] == pytest.approx(0.99) and run["gates_passed"] is True


def test_two_runs_compare_and_an_unknown_one_is_named(call: Any) -> None:
    resource = "/v1/runs/{run_id}/compare/{other_run_id}"
    status, body = call("/v1/runs/shallow/compare/deep", resource, {"run_id": "shallow", "other_run_id": "deep"})
    assert status == 200, body
    depth = next(r for r in body["rows"] if r["section"] == "hyperparameters" and r["name"] == "max_depth")
    assert (depth["a"], depth["b"], depth["differs"]) == (4, 8, True)
    assert body["same_dataset"] is True and body["differences"] > 0
    status, body = call("/v1/runs/shallow/compare/nope", resource, {"run_id": "shallow", "other_run_id": "nope"})
    assert status == 404 and body["error"]["message"].startswith("no training run 'nope'")


def test_runs_of_different_datasets_compare_and_say_so(call: Any) -> None:
    resource = "/v1/runs/{run_id}/compare/{other_run_id}"
    status, body = call("/v1/runs/deep/compare/wine-run", resource, {"run_id": "deep", "other_run_id": "wine-run"})
    assert status == 200 and body["same_dataset"] is False
    assert body["notes"][0].startswith("the runs trained on different datasets (breast-cancer and wine)")


def test_a_search_keeps_the_runs_matching_every_expression(call: Any) -> None:
    query = {"dataset": ["breast-cancer"], "metric": ["roc_auc>0.9", "accuracy>=0.9"], "sort": ["roc_auc"]}
    status, body = call("/v1/runs", "/v1/runs", {}, query)
    assert status == 200, body
    assert [r["run_id"] for r in body["runs"]] == ["deep", "shallow"]
    status, body = call("/v1/runs", "/v1/runs", {}, {**query, "param": ["max_depth<6"]})
    assert [r["run_id"] for r in body["runs"]] == ["shallow"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"metric": ["auc>0.9"]}, "metric 'auc>0.9': no metric 'auc' (did you mean roc_auc?)"),
        ({"param": ["max_depth"]}, "param 'max_depth': write PARAM OP VALUE"),
        ({"sort": ["-auc"]}, "sort '-auc': no metric 'auc'"),
    ],
    ids=["unknown-metric", "no-operator", "unknown-sort"],
)
def test_a_malformed_search_is_a_400_naming_the_expression(
    call: Any, query: dict[str, list[str]], message: str
) -> None:
    status, body = call("/v1/runs", "/v1/runs", {}, {"dataset": ["breast-cancer"], **query})
    assert status == 400 and body["error"]["message"].startswith(message), body
