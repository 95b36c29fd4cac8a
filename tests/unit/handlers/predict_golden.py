"""The predict function's answers to a fixed set of requests, recorded from the pre-#21 handler
(`bench/predict_before.py`, a frozen copy of it) and compared with today's, byte for byte.

Each case is one API Gateway REST proxy event: valid requests of 1 and 100 rows for a model with every
input kind (churn), a logistic regression with contract bounds (breast-cancer) and a regression
(diabetes), and every kind of request the tests know to refuse. What is recorded per case: the
status, the response's headers and its body bytes, and the EMF metrics the invocation printed (name,
unit, namespace, dimensions and values, ModelLatency's value aside). The one part that legitimately
differs between two runs, the request id the function mints (a UUIDv7), is replaced by a marker.

    PYTHONPATH=functions:. .venv/bin/python -m tests.unit.handlers.predict_golden bench.predict_before

rewrites `predict_golden.json` from the module named (run it only to record a deliberate change).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlops.registry.versions import ModelVersion
from mlops.serving.capture import CaptureBuffer
from mlops.serving.models import ServedModels
from mlops.serving.policy import DeployedPolicies
from mlops.serving.predict import Serving
from tests.unit.handlers.support import POWERTOOLS_ENV, Context, rest_event
from tests.unit.serving.support import Registered, breast_cancer, churn, diabetes

GOLDEN = Path(__file__).with_name("predict_golden.json")
MINTED_ID = re.compile(rb'"request_id": "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"')
MINTED = b'"request_id": "<minted>"'
CHURN_ROW = {"age": 41.0, "income": 52000.0, "member": True, "city": "Oslo"}
MODELS = {"churn": churn, "breast-cancer": breast_cancer, "diabetes": diabetes}


@dataclass
class Registry:
    """Aliases, version records and deployed policies, as the registry table answers them."""

    aliases_of: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    deployed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return self.aliases_of.get(name, {})

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.records.get((name, version))
        return ModelVersion.from_item(item) if item else None

    def serving_policy(self, name: str) -> dict[str, Any] | None:
        return self.deployed.get(name)


def serving() -> Serving:
    """churn, breast-cancer and diabetes as champions (capture on for every request: it must not
    change an answer); `churn-warn` is churn under a deployed policy that warns instead of refusing."""
    registry = Registry()
    artifacts: dict[str, bytes] = {}
    for name, make in MODELS.items():
        registered: Registered = make()
        registry.aliases_of[name] = {"champion": {"version": 1}}
        registry.records[(name, 1)] = {**registered.record, "model": name}
        artifacts.update(registered.artifacts)
    registry.aliases_of["churn-warn"] = {"champion": {"version": 1}}
    registry.records[("churn-warn", 1)] = {**churn().record, "model": "churn-warn"}
    registry.deployed["churn-warn"] = {"out_of_range": "warn", "unseen_category": "warn", "source": "golden.yaml"}
    return Serving(
        models=ServedModels(registry=registry, read_artifact=artifacts.__getitem__),
        policies=DeployedPolicies(read=registry.serving_policy),
        capture=CaptureBuffer(write=lambda key, body: None, default_sample_rate=1.0),
    )


def _rows(model: str, count: int) -> list[dict[str, Any]]:
    registered = MODELS[model]()
    inputs = set(registered.prepared.meta.feature_spec.columns)
    records = registered.records(registered.prepared.splits.rows_test[:count])
    return [{k: v for k, v in r.items() if k in inputs} for r in records]


def _predict(model: str, body: Any, headers: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
    event = rest_event(
        "POST",
        f"/v1/models/{model}/predict",
        "/v1/models/{name}/predict",
        {"name": model},
        body=body,
        headers=headers,
        request_id="golden-gateway-id",
    )
    event.update(changes)
    return event


def _raw(model: str, text: str, content_type: str = "application/json", **changes: Any) -> dict[str, Any]:
    return _predict(model, text, headers={"Content-Type": content_type}, **changes)


def cases() -> dict[str, dict[str, Any]]:
    """Every request the golden file answers, by name."""
    row = CHURN_ROW
    churn_100 = _rows("churn", 100)
    return {
        "churn-1-row": _predict("churn", {"instances": _rows("churn", 1)}),
        "churn-100-rows": _predict("churn", {"instances": churn_100}),
        "churn-columns-and-data": _predict(
            "churn", {"columns": list(row), "data": [list(r.values()) for r in [row, {**row, "age": None}]]}
        ),
        "churn-nulls": _predict("churn", {"instances": [{"age": None, "income": None, "member": None, "city": None}]}),
        "churn-request-key-body": _predict("churn", {"instances": [row], "request_key": "customer-7"}),
        "churn-request-key-header": _predict("churn", {"instances": [row]}, headers={"x-request-key": "customer-8"}),
        "churn-request-key-not-text": _predict("churn", {"instances": [row], "request_key": {"a": 1}}),
        "breast-cancer-1-row": _predict("breast-cancer", {"instances": _rows("breast-cancer", 1)}),
        "breast-cancer-100-rows": _predict("breast-cancer", {"instances": _rows("breast-cancer", 100)}),
        "diabetes-1-row": _predict("diabetes", {"instances": _rows("diabetes", 1)}),
        "diabetes-100-rows": _predict("diabetes", {"instances": _rows("diabetes", 100)}),
        "warn-policy-answers-with-warnings": _predict(
            "churn-warn", {"instances": [{**row, "city": "Paris"}, {**row, "age": -3.0}]}
        ),
        "base64-body": _raw(
            "churn", base64.b64encode(json.dumps({"instances": [row]}).encode()).decode(), isBase64Encoded=True
        ),
        "content-type-with-charset": _raw("churn", json.dumps({"instances": [row]}), "Application/JSON; charset=utf-8"),
        "content-type-lower-case-header": _predict(
            "churn", json.dumps({"instances": [row]}), headers={"content-type": "application/json"}
        ),
        # Refusals: per row and field
        "unknown-field": _predict("churn", {"instances": [{**row, "colour": "red"}]}),
        "missing-field": _predict("churn", {"instances": [{k: v for k, v in row.items() if k != "income"}]}),
        "wrong-types": _predict(
            "churn", {"instances": [{"age": "41", "income": [1], "member": "yes", "city": 7.5}, {**row, "age": True}]}
        ),
        "null-not-allowed": _predict("breast-cancer", {"instances": [dict.fromkeys(_rows("breast-cancer", 1)[0])]}),
        "nan-and-infinity": _raw(
            "churn", '{"instances": [{"age": NaN, "income": Infinity, "member": true, "city": "Oslo"}]}'
        ),
        "negative-infinity-in-columns": _raw(
            "churn", '{"columns": ["age", "income", "member", "city"], "data": [[-Infinity, 1e999, false, "Oslo"]]}'
        ),
        "huge-integer": _raw(
            "churn", '{"instances": [{"age": ' + str(10**400) + ', "income": 1, "member": true, "city": "Oslo"}]}'
        ),
        "integer-past-the-digit-limit": _raw("churn", '{"instances": [{"age": ' + "9" * 5000 + "}]}"),
        "out-of-range": _predict("churn", {"instances": [row, {**row, "age": -1.0}]}),
        "out-of-range-breast-cancer": _predict(
            "breast-cancer", {"instances": [{k: 1e9 for k in _rows("breast-cancer", 1)[0]}]}
        ),
        "unseen-category": _predict("churn", {"instances": [{**row, "city": "Paris"}]}),
        "many-problems-in-100-rows": _predict(
            "churn", {"instances": [{**r, "city": "Atlantis", "age": -2} for r in churn_100]}
        ),
        "row-not-an-object": _predict("churn", {"instances": [row, 3, "x", None]}),
        "columns-rows-of-wrong-length": _predict("churn", {"columns": list(row), "data": [[1, 2]]}),
        "columns-repeated": _predict("churn", {"columns": ["age", "age"], "data": [[1, 2]]}),
        "columns-not-names": _predict("churn", {"columns": [1, 2], "data": []}),
        "no-rows": _predict("churn", {"instances": []}),
        "both-forms": _predict("churn", {"instances": [row], "columns": ["age"], "data": [[1]]}),
        "unknown-top-level-key": _predict("churn", {"rows": [row]}),
        "body-not-an-object": _predict("churn", [row]),
        "instances-not-a-list": _predict("churn", {"instances": {"age": 1}}),
        "too-many-rows": _predict("churn", {"instances": [row] * 1001}),
        "not-json-content-type": _raw("churn", "instances=1", "application/x-www-form-urlencoded"),
        "no-content-type": _predict("churn", json.dumps({"instances": [row]}), headers={}),
        "invalid-json": _raw("churn", '{"instances": ['),
        "empty-body": _raw("churn", ""),
        "no-body": _predict("churn", None, headers={"Content-Type": "application/json"}),
        "nested-too-deeply": _raw("churn", "[" * 20_000 + "]" * 20_000),
        "bad-base64": _raw("churn", "not base64 at all!", isBase64Encoded=True),
        "base64-of-not-utf8": _raw("churn", base64.b64encode(b"\xff\xfe{}").decode(), isBase64Encoded=True),
        "utf8-bom": _raw("churn", '\ufeff{"instances": []}'),
        "unknown-model": _predict("nobody", {"instances": [row]}),
        "invalid-model-name": _predict("Not A Name", {"instances": [row]}),
        "name-with-a-slash": _predict("churn/x", {"instances": [row]}),
        "get-on-predict": rest_event(
            "GET", "/v1/models/churn/predict", "/v1/models/{name}/predict", {"name": "churn"}, request_id="g"
        ),
        "unknown-route": rest_event("GET", "/v1/nothing", "/v1/nothing", {}, request_id="golden-gateway-id"),
        "signature": rest_event(
            "GET", "/v1/models/churn/signature", "/v1/models/{name}/signature", {"name": "churn"}, request_id="g"
        ),
        "signature-with-request-key": rest_event(
            "GET",
            "/v1/models/churn-warn/signature",
            "/v1/models/{name}/signature",
            {"name": "churn-warn"},
            query={"request_key": "customer-7"},
            request_id="g",
        ),
        "signature-unknown-model": rest_event(
            "GET", "/v1/models/nobody/signature", "/v1/models/{name}/signature", {"name": "nobody"}, request_id="g"
        ),
        "feedback-not-monitored": rest_event(
            "POST",
            "/v1/models/churn/feedback",
            "/v1/models/{name}/feedback",
            {"name": "churn"},
            body={"labels": [{"request_id": "x", "label": "churn"}]},
            request_id="golden-feedback",
        ),
        "feedback-bad-body": rest_event(
            "POST",
            "/v1/models/churn/feedback",
            "/v1/models/{name}/feedback",
            {"name": "churn"},
            body={"nothing": 1},
            request_id="golden-feedback",
        ),
    }


def _metrics(out: str) -> list[dict[str, Any]]:
    """The EMF documents printed, without their timestamp and with ModelLatency's value as a marker."""
    found = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        if "_aws" not in document:
            continue
        document["_aws"].pop("Timestamp", None)
        if "ModelLatency" in document:
            document["ModelLatency"] = "<ms>"
        found.append(document)
    return sorted(found, key=lambda d: json.dumps(d, sort_keys=True))


def answer(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    """What a client and CloudWatch see of one invocation, with the minted request id as a marker."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        response = module.handler(event, Context())
    body = MINTED_ID.sub(MINTED, response["body"].encode())
    headers = response.get("multiValueHeaders") or {k: [v] for k, v in (response.get("headers") or {}).items()}
    return {
        "status": response["statusCode"],
        "headers": headers,
        "base64": response.get("isBase64Encoded", False),
        "body": body.decode(),
        "metrics": _metrics(printed.getvalue()),
    }


@contextlib.contextmanager
def deployed(module_name: str) -> Iterator[Any]:
    """The handler module imported afresh with Powertools' environment (and the service name the
    function's environment has) and the golden models in place."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in {**POWERTOOLS_ENV, "POWERTOOLS_SERVICE_NAME": "serving"}.items():
            patch.setenv(variable, value)
        sys.modules.pop(module_name, None)
        module = importlib.import_module(module_name)
        try:
            with module.services.replaced(module.PredictServices(serving(), "serving")):
                yield module
        finally:
            sys.modules.pop(module_name, None)


def record(module_name: str) -> dict[str, Any]:
    with deployed(module_name) as module:
        return {name: answer(module, event) for name, event in cases().items()}


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    answers = record(sys.argv[1] if len(sys.argv) > 1 else "handlers.predict")
    GOLDEN.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(answers)} answers written to {GOLDEN}")
