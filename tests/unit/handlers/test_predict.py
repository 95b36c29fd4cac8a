"""The predict function as a client meets it: answers, canary and shadow, refusals, the signature
route, and what it captures for drift checks. The registry and bucket are dicts; the model is a
real registered version (tests/unit/serving/support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlops.serving.capture import CaptureBuffer, read_capture
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from mlops.serving.request_ids import answered_at
from tests.unit.handlers.predict_golden import Registry
from tests.unit.handlers.support import QUIET, Context, emitted, function_url_event, loaded, logged, rest_event
from tests.unit.serving.support import breast_cancer, churn

pytestmark = QUIET
MODEL = "churn"
ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with loaded("handlers.predict") as module:
        yield module


@dataclass
class Deployment:
    """One predict container over fakes: what it serves and what it captured."""

    module: Any
    registry: Registry
    serving: Serving
    written: dict[str, bytes]

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.module.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    def captured(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        self.serving.capture.flush()
        return [read_capture(body) for _, body in sorted(self.written.items())]


@pytest.fixture
def deployment(predict: Any) -> Iterator[Deployment]:
    """churn v1 as champion, v2 (the same artifacts) registered beside it; every request sampled."""
    registered = churn()
    artifacts = dict(registered.artifacts)
    registry = Registry(aliases_of={MODEL: {"champion": {"version": 1}}})
    for version in (1, 2):
        registry.records[(MODEL, version)] = {**registered.record, "version": version}
    other = breast_cancer()  # inputs churn's rows do not have: a shadow that fails on them
    artifacts.update(other.artifacts)
    registry.records[(MODEL, 3)] = {**other.record, "model": MODEL, "version": 3}
    written: dict[str, bytes] = {}
    serving = Serving(
        models=ServedModels(registry=registry, read_artifact=artifacts.__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=written.__setitem__, default_sample_rate=1.0),
    )
    with predict.services.replaced(predict.PredictServices(serving, "serving")):
        yield Deployment(predict, registry, serving, written)


def _predict(body: Any, *, model: str = MODEL, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return rest_event(
        "POST",
        f"/v1/models/{model}/predict",
        "/v1/models/{name}/predict",
        {"name": model},
        body=body,
        headers=headers,
        request_id="req-predict",
    )


def _signature(model: str = MODEL, query: dict[str, str] | None = None) -> dict[str, Any]:
    return rest_event(
        "GET", f"/v1/models/{model}/signature", "/v1/models/{name}/signature", {"name": model}, query=query
    )


def test_the_champion_answers_and_the_rows_are_captured(deployment: Deployment) -> None:
    status, body = deployment.call(_predict({"instances": [ROW, {**ROW, "age": None}]}))
    assert status == 200, body
    assert (body["model"], body["version"], body["variant"]) == (MODEL, 1, "champion")
    # The request id is a UUIDv7 the function minted (it says when), not API Gateway's id.
    assert len(body["predictions"]) == 2 and answered_at(body["request_id"]) is not None
    assert len(body["classes"]) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in body["probabilities"])
    [(meta, arrays)] = deployment.captured()
    assert (meta["model"], meta["version"], meta["rows"]) == (MODEL, 1, 2)
    assert arrays["variant"].tolist() == ["champion", "champion"]
    assert arrays["request_id"].tolist() == [body["request_id"]] * 2


def test_an_answer_emits_two_metrics_per_version_and_variant(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """Predictions and ModelLatency by model, version and variant; the request count is ModelLatency's
    SampleCount, not a third metric (each metric is $0.30 a month per version and variant; issue #21)."""
    capsys.readouterr()
    status, _ = deployment.call(_predict({"instances": [ROW, ROW, ROW]}))
    assert status == 200
    metrics = emitted(capsys.readouterr().out)
    assert set(metrics) - {"CapturedRows"} == {"Predictions", "ModelLatency"}
    [document] = metrics["Predictions"]
    assert (document["model"], document["version"], document["variant"]) == (MODEL, "1", "champion")
    assert document["Predictions"] == [3.0] and document["ModelLatency"][0] > 0


def test_a_full_canary_answers_with_the_challenger(deployment: Deployment) -> None:
    deployment.registry.aliases_of[MODEL]["challenger"] = {"version": 2, "rollout": {"mode": "canary", "weight": 1.0}}
    status, body = deployment.call(_predict({"instances": [ROW], "request_key": "customer-7"}))
    assert status == 200, body
    assert (body["version"], body["variant"]) == (2, "challenger")


def test_a_shadow_scores_the_same_rows_and_never_answers(deployment: Deployment) -> None:
    deployment.registry.aliases_of[MODEL]["challenger"] = {"version": 2, "rollout": {"mode": "shadow"}}
    status, body = deployment.call(_predict({"instances": [ROW]}))
    assert status == 200 and (body["version"], body["variant"]) == (1, "champion")
    variants = sorted(arrays["variant"].tolist()[0] for _, arrays in deployment.captured())
    assert variants == ["champion", "shadow"]


def test_a_shadow_that_fails_is_counted_and_the_client_still_gets_its_answer(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    deployment.registry.aliases_of[MODEL]["challenger"] = {"version": 3, "rollout": {"mode": "shadow"}}
    status, body = deployment.call(_predict({"instances": [ROW]}))
    assert status == 200 and body["variant"] == "champion"
    [failure] = emitted(capsys.readouterr().out)["ShadowFailures"]
    assert (failure["model"], failure["version"], failure["variant"]) == (MODEL, "3", "shadow")
    assert logged(caplog, "shadow scoring failed")


def test_a_refused_request_names_each_problem_and_is_captured_for_drift_checks(deployment: Deployment) -> None:
    status, body = deployment.call(_predict({"instances": [ROW, {**ROW, "city": "Paris"}]}))
    assert status == 400, body
    assert answered_at(body["request_id"]) is not None
    [problem] = body["error"]["problems"]
    assert (problem["row"], problem["field"], problem["code"]) == (1, "city", "unseen_category")
    [(meta, arrays)] = deployment.captured()
    assert meta["rows"] == 2 and arrays["answered"].tolist() == [False, False]
    assert arrays["refused:city"].tolist()[1] != ""


_REFUSED = [
    ({"instances": [ROW]}, {"model": "Not A Name"}, 400, "invalid_name"),
    ({"instances": [ROW]}, {"model": "unknown"}, 404, "not_found"),
    ("instances=1", {"headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, None),
    ('{"instances": [', {"headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ({"rows": [ROW]}, {}, 400, "invalid_body"),
]


@pytest.mark.parametrize("front_door", ["rest", "function_url"])
@pytest.mark.parametrize(
    ("body", "sent", "status", "code"),
    _REFUSED,
    ids=["name", "unknown-model", "not-json", "broken-json", "no-instances"],
)
def test_requests_the_api_cannot_answer_get_the_error_shape(
    deployment: Deployment, front_door: str, body: Any, sent: dict[str, Any], status: int, code: str | None
) -> None:
    """The same refusals through either front door's event (REST proxy or function URL payload 2.0)."""
    answered, answer = deployment.call(_predict(body, **sent) if front_door == "rest" else _by_url(body, **sent))
    assert answered == status, answer
    assert answer["error"]["message"]
    if code is not None:
        assert answer["error"]["code"] == code


def test_the_signature_names_every_answering_version_and_the_deployed_policy(deployment: Deployment) -> None:
    deployment.registry.aliases_of[MODEL]["challenger"] = {"version": 2, "rollout": {"mode": "canary", "weight": 0.25}}
    deployment.registry.deployed[MODEL] = {
        "out_of_range": "warn",
        "unseen_category": "reject",
        "deployed_at": "2026-11-23T12:00:00+00:00",
        "source": "configs/churn.yaml",
    }
    status, body = deployment.call(_signature(query={"request_key": "customer-7"}))
    assert status == 200, body
    assert [(v["version"], v["alias"], v["share"]) for v in body["versions"]] == [
        (1, "champion", 0.75),
        (2, "challenger", 0.25),
    ]
    assert {f["name"] for f in body["inputs"]} == set(ROW)
    assert body["limits"] == {"max_rows": 1000}
    assert body["policy"]["out_of_range"] == "warn" and "configs/churn.yaml" in body["policy"]["source"]
    assert body["request_key"]["key"] == "customer-7" and body["request_key"]["answered_by"] in (1, 2)


def test_an_unknown_route_is_a_404_in_the_error_shape(deployment: Deployment) -> None:
    for event in (rest_event("GET", "/v1/nothing", "/v1/nothing", {}), function_url_event("GET", "/v1/nothing")):
        status, body = deployment.call(event)
        assert status == 404 and body["error"]["code"] == "not_found"


def _by_url(body: Any, *, model: str = MODEL, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return function_url_event("POST", f"/v1/models/{model}/predict", body=body, headers=headers)


def test_the_function_url_front_door_answers_as_the_rest_api_does(deployment: Deployment) -> None:
    """The same body for the same rows through either event shape (payload format 2.0 or REST proxy)."""
    url_status, by_url = deployment.call(_by_url({"instances": [ROW]}))
    rest_status, by_rest = deployment.call(_predict({"instances": [ROW]}))
    assert url_status == rest_status == 200, by_url
    assert {k: v for k, v in by_url.items() if k != "request_id"} == {
        k: v for k, v in by_rest.items() if k != "request_id"
    }
    status, signature = deployment.call(function_url_event("GET", f"/v1/models/{MODEL}/signature"))
    assert status == 200 and {f["name"] for f in signature["inputs"]} == set(ROW)


def test_a_container_without_its_settings_names_the_missing_variable(
    predict: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    monkeypatch.setenv("REGISTRY_TABLE", "registry")
    predict.services.forget()
    with pytest.raises(Exception, match="ARTIFACTS_BUCKET"):
        predict.handler(_predict({"instances": [ROW]}), Context())
