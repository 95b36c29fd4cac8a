"""`"explain": true` on a predict request, as a client meets it: each row's contributions by input
field adding up to the score the answer's probability or prediction comes from, and the 400s (too
many rows, not a boolean, a version without an explanation) and 503 (an artifact that is not the
registered one) in the documented error shape."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlops.serving.capture import CaptureBuffer
from mlops.serving.explain import MAX_EXPLAIN_ROWS, TOLERANCE
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from tests.unit.handlers.predict_golden import Registry
from tests.unit.handlers.support import QUIET, Context, loaded, rest_event
from tests.unit.serving.support import breast_cancer, churn, diabetes

pytestmark = QUIET
ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}


@pytest.fixture(scope="module")
def predict() -> Iterator[Any]:
    with loaded("handlers.predict") as module:
        yield module


@dataclass
class Deployment:
    module: Any
    registry: Registry
    artifacts: dict[str, bytes]

    def call(self, model: str, body: Any) -> tuple[int, dict[str, Any]]:
        event = rest_event(
            "POST", f"/v1/models/{model}/predict", "/v1/models/{name}/predict", {"name": model}, body=body
        )
        response = self.module.handler(event, Context())
        return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def deployment(predict: Any) -> Iterator[Deployment]:
    """churn (logistic regression), breast-cancer v2 (a random forest) and diabetes (ridge) as
    champions, each registered with its explanation artifact."""
    registry = Registry()
    artifacts: dict[str, bytes] = {}
    for name, registered in (("churn", churn()), ("cancer", breast_cancer(2)), ("diabetes", diabetes())):
        registry.aliases_of[name] = {"champion": {"version": 1}}
        registry.records[(name, 1)] = {**registered.record, "model": name, "version": 1}
        artifacts.update(registered.artifacts)
    serving = Serving(
        models=ServedModels(registry=registry, read_artifact=artifacts.__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=lambda key, body: None, default_sample_rate=0.0),
    )
    with predict.services.replaced(predict.PredictServices(serving, "serving")):
        yield Deployment(predict, registry, artifacts)


def _adds_up(row: dict[str, Any]) -> bool:
    total = float(row["base"]) + float(sum(row["contributions"].values()))
    score = float(row["score"])
    return abs(total - score) <= TOLERANCE * max(1.0, abs(score))


def test_a_linear_classifiers_contributions_add_up_to_the_log_odds_of_its_probability(
    deployment: Deployment,
) -> None:
    rows = [ROW, {**ROW, "age": 70.0, "city": "Quito"}, {**ROW, "age": None}]
    status, body = deployment.call("churn", {"instances": rows, "explain": True})
    assert status == 200, body
    explanation = body["explanation"]
    assert (explanation["method"], explanation["score"]) == ("linear", "log_odds")
    positive = body["classes"][1]
    for answered, probabilities in zip(explanation["rows"], body["probabilities"], strict=True):
        assert set(answered["contributions"]) == set(ROW)  # by input field: city's one-hot columns summed
        assert answered["class"] == positive and _adds_up(answered)
        # The log-odds explained is the one behind the probability served (ONNX's float32: 1e-5).
        assert abs(answered["score"] - math.log(probabilities[1] / probabilities[0])) < 1e-4


def test_a_forest_explains_its_probability_and_a_regressor_its_prediction(deployment: Deployment) -> None:
    cancer = breast_cancer(2)
    status, body = deployment.call(
        "cancer", {"instances": cancer.records(cancer.prepared.splits.rows_test[:5]), "explain": True}
    )
    assert status == 200, body
    assert (body["explanation"]["method"], body["explanation"]["score"]) == ("treeshap", "probability")
    for answered, probabilities in zip(body["explanation"]["rows"], body["probabilities"], strict=True):
        assert _adds_up(answered) and abs(answered["score"] - probabilities[1]) < 1e-5
    regression = diabetes()
    status, body = deployment.call(
        "diabetes", {"instances": regression.records(regression.prepared.splits.rows_test[:5]), "explain": True}
    )
    assert status == 200, body
    assert body["explanation"]["score"] == "prediction"
    for answered, prediction in zip(body["explanation"]["rows"], body["predictions"], strict=True):
        assert "class" not in answered and _adds_up(answered)
        assert abs(answered["score"] - prediction) <= 1e-4 * max(1.0, abs(prediction))


def test_without_explain_the_answer_has_no_explanation(deployment: Deployment) -> None:
    for body in ({"instances": [ROW]}, {"instances": [ROW], "explain": False}):
        status, answered = deployment.call("churn", body)
        assert status == 200 and "explanation" not in answered


def test_more_rows_than_the_explain_limit_is_a_400_naming_explain(deployment: Deployment) -> None:
    status, body = deployment.call("churn", {"instances": [ROW] * (MAX_EXPLAIN_ROWS + 1), "explain": True})
    assert status == 400
    [problem] = body["error"]["problems"]
    assert (problem["code"], problem["field"]) == ("explain_too_many_rows", "explain")
    assert str(MAX_EXPLAIN_ROWS) in body["error"]["message"]
    status, _ = deployment.call("churn", {"instances": [ROW] * (MAX_EXPLAIN_ROWS + 1)})
    assert status == 200  # the same rows without explain are answered


def test_explain_that_is_not_a_boolean_is_a_400_naming_explain(deployment: Deployment) -> None:
    status, body = deployment.call("churn", {"instances": [ROW], "explain": "yes"})
    assert status == 400 and body["error"]["problems"][0]["field"] == "explain"


def test_a_version_without_an_explanation_is_a_400_naming_its_estimator(deployment: Deployment) -> None:
    record = deployment.registry.records[("churn", 1)]
    artifacts = {k: v for k, v in record["artifacts"].items() if k != "explanation.npz"}
    deployment.registry.records[("churn", 1)] = {**record, "artifacts": artifacts}
    status, body = deployment.call("churn", {"instances": [ROW], "explain": True})
    assert status == 400, body
    assert body["error"]["code"] == "explain_unsupported" and "logistic_regression" in body["error"]["message"]
    assert body["error"]["problems"][0]["field"] == "explain"


def test_an_explanation_that_is_not_the_registered_one_is_refused(deployment: Deployment) -> None:
    key = deployment.registry.records[("churn", 1)]["artifacts"]["explanation.npz"]["key"]
    deployment.artifacts[key] = deployment.artifacts[key] + b"tampered"
    status, body = deployment.call("churn", {"instances": [ROW], "explain": True})
    assert status == 503 and body["error"]["code"] == "explanation_unavailable"
    assert "registered" in body["error"]["message"]
    status, _ = deployment.call("churn", {"instances": [ROW]})
    assert status == 200  # predictions are unaffected
