"""`python -m infra.openapi > docs/openapi.json`: the published description of the platform's API.

The paths, parameters and registry request bodies come from the handlers' own Powertools resolvers
(the same route declarations that serve and validate requests); the predict body, checked by the
serving core rather than by pydantic, is described here from the same limits it enforces. Security
schemes say which credential each route takes. Every status a route can answer is listed with its
body: the handlers' own errors and what API Gateway answers itself (its gateway responses, which the
template sets to the same error shape). A test fails when the committed file is stale, and
Schemathesis drives this document against the local gateway (tests/local/test_api_contract.py).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from infra.paths import PROJECT_ROOT

TITLE = "Serverless MLOps API"
PREDICTION_KEY = "predictionKey"
IAM = "sigv4"
FUNCTION_URL_IAM = "sigv4FunctionUrl"
# The prediction routes' two front doors (serving.front_door): the function URL by default, the REST
# stage under `rest`. One of them is deployed; the operation lists both, the default first.
FUNCTION_URL_SERVER = {
    "url": "https://{url_id}.lambda-url.{region}.on.aws",
    "description": "front_door: function_url (the default): the PredictFunctionUrl output; sign with SigV4, "
    "service lambda",
    "variables": {"url_id": {"default": "your-url-id"}, "region": {"default": "us-east-1"}},
}
REST_SERVER = {
    "url": "https://{api}.execute-api.{region}.amazonaws.com/prod",
    "description": "the REST API (ApiUrl): registry routes and health; the prediction routes under front_door: rest",
    "variables": {"api": {"default": "your-api-id"}, "region": {"default": "us-east-1"}},
}

_ROW = {
    "type": "object",
    "additionalProperties": True,
    "description": "field: value, one per model input (GET .../signature lists them; null where a field is nullable)",
}
_REQUEST_KEY = {
    "type": ["string", "integer"],
    "description": "sticky canary assignment: requests with the same key reach the same version (or the "
    "x-request-key header)",
}
PREDICT_BODY: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "array", "items": _ROW, "minItems": 1, "maxItems": 1000},
                "request_key": _REQUEST_KEY,
            },
        },
        {
            "type": "object",
            "required": ["columns", "data"],
            "additionalProperties": False,
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "data": {"type": "array", "items": {"type": "array"}, "minItems": 1, "maxItems": 1000},
                "request_key": _REQUEST_KEY,
            },
        },
    ]
}


def feedback_body(max_labels: int, max_rows: int, max_key_length: int) -> dict[str, Any]:
    """Labels for earlier predictions (POST /v1/models/{name}/feedback), with the limits
    mlops.monitoring.label_intake enforces."""
    return {
        "type": "object",
        "required": ["labels"],
        "additionalProperties": False,
        "properties": {
            "labels": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_labels,
                "items": _label(max_rows, max_key_length),
            }
        },
    }


def _label(max_rows: int, max_key_length: int) -> dict[str, Any]:
    """A label names its prediction one way: the answer's request_id, the request's x-request-key (with
    the row), or the row's id field (monitoring.performance.id_field), which names the row itself."""
    row = {
        "type": "integer",
        "minimum": 0,
        "maximum": max_rows - 1,
        "default": 0,
        "description": "the row's place in that predict request, from 0",
    }
    label = {
        "type": ["string", "number", "boolean"],
        "description": "what the prediction should have been: one of the model's classes as serving "
        "answers them (GET .../signature lists them), or a number for a regression",
    }
    by = {
        "request_id": ({"type": "string", "description": "the request_id the predict answer carried"}, True),
        "request_key": (
            {
                "type": "string",
                "minLength": 1,
                "maxLength": max_key_length,
                "description": "the x-request-key (or request_key) the predict request carried: the latest "
                "prediction made with it before the label arrived",
            },
            True,
        ),
        "id": (
            {
                "type": ["string", "integer"],
                "minLength": 1,
                "maxLength": max_key_length,
                "description": "the row's value of the model's id field (monitoring.performance.id_field; GET "
                ".../signature names it): the latest prediction of a row with that id",
            },
            False,
        ),
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": [name, "label"],
                "additionalProperties": False,
                "properties": {name: schema, **({"row": row} if with_row else {}), "label": label},
            }
            for name, (schema, with_row) in by.items()
        ]
    }


FEEDBACK_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "refused", "examples", "duplicates", "stored", "notes"],
    "properties": {
        "accepted": {"type": "integer", "description": "labels stored"},
        "refused": {
            "type": "object",
            "description": "labels not stored, by reason (the rest of the request is): an id this platform never "
            "issued, a key or id no captured prediction was made with, a prediction older than "
            "monitoring.performance.horizon_days, an answer time in the future",
            "properties": {
                r: {"type": "integer"} for r in ("unknown_id", "unknown_key", "too_late", "from_the_future")
            },
        },
        "examples": {
            "type": "array",
            "description": "the first refused labels, with their index in `labels`",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "reason": {"type": "string"},
                    "request_id": {"type": "string", "description": "the request id the label named"},
                    "request_key": {"type": "string", "description": "the request key the label named"},
                    "id": {"type": "string", "description": "the row id the label named"},
                    "message": {"type": "string"},
                },
            },
        },
        "duplicates": {"type": "integer", "description": "labels about a row an earlier label here named (all stored)"},
        "stored": {"type": "array", "items": {"type": "string"}, "description": "the label objects' keys"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR = {
    "type": "object",
    "required": ["error"],
    "description": "Every non-2xx answer, from a function or from API Gateway itself (its gateway responses)",
    "properties": {
        "request_id": {"type": "string", "description": "API Gateway's request id; quote it when reporting"},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "row": {"type": "integer"},
                            "index": {"type": "integer", "description": "a label's place in `labels` (feedback)"},
                            "field": {"type": "string"},
                        },
                    },
                },
                "problem_count": {"type": "integer"},
            },
        },
    },
}

# What API Gateway itself can answer on every route (gateway responses, in the error shape).
GATEWAY_STATUSES: dict[int, str] = {
    401: "no SigV4 signature on a registry route, or no route for this method and path (API Gateway's "
    "Missing Authentication Token covers both; WWW-Authenticate: AWS4-HMAC-SHA256)",
    403: "a missing or wrong prediction key, or a signature API Gateway refuses; at the function URL, an unsigned "
    'request or a caller not allowed to invoke it ({"Message": "Forbidden. ..."}, Lambda\'s own body)',
    413: "the request is over API Gateway's 10 MB payload limit, or the function URL's 6 MB (score big files with "
    "batch scoring)",
    429: "throttled (the prediction key's usage plan, or the account's limit) or the daily quota is used",
    500: "API Gateway could not call the function (a configuration error, not the request)",
    502: "the function failed (a bug, not the request)",
    504: "the function did not answer within API Gateway's timeout",
}
FEEDBACK_STATUSES: dict[int, str] = {
    400: 'the body is not {"labels": [...]}, or some label cannot be right (a class the model does not have, a '
    "wrong type, a bad row, a missing field): each named by index and field, and nothing was stored",
    404: "no such model, or no champion yet",
    409: "the model's champion was trained without monitoring.performance: it takes no labels (the message says "
    "how to turn it on)",
    413: "more than 10,000 labels (send more as a file under feedback/<model>/ in the raw bucket), or over API "
    "Gateway's 10 MB",
    415: "not application/json",
    503: "the champion's artifacts cannot be loaded",
}
PREDICT_STATUSES: dict[str, dict[int, str]] = {
    "post": {
        400: "the body or a row is invalid; every problem listed by row and field",
        404: "no such model, or no champion yet",
        413: "more than 1,000 rows (score more with batch scoring), or over API Gateway's 10 MB",
        415: "not application/json",
        503: "the champion's artifacts cannot be loaded",
    },
    "get": {
        400: "the model name is not one (lowercase letters, digits, - and _)",
        404: "no such model, or no champion yet",
        503: "the champion's artifacts cannot be loaded",
    },
}
# Registry routes: 400 for a request the route declarations or the registry refuse, 404 for an
# unknown model or version, 409 when the registry's state forbids the change (or it changed meanwhile).
REGISTRY_CONFLICTS = {"put", "delete", "post"}
# The handlers read these content types; anything else is a 415 (predict) or read as JSON (registry).
JSON_ONLY = "application/json"


def _error_responses(statuses: dict[int, str]) -> dict[str, Any]:
    return {
        str(code): {"description": why, "content": {JSON_ONLY: {"schema": ERROR_REF}}}
        for code, why in sorted(statuses.items())
    }


def _registry_statuses(path: str, method: str) -> dict[int, str]:
    statuses = {400: "the request is not valid (every problem named), or the registry refuses it"}
    if "{name}" in path:
        statuses[404] = "no such model, version or alias"
    if "{run_id}" in path:
        statuses[404] = "no such training run (the message names it)"
    if method in ("put", "post"):
        statuses[415] = "a body that is not application/json"
    if method in REGISTRY_CONFLICTS:
        statuses[409] = (
            "the registry's state forbids it (a version not approved, an alias holding the version, a "
            "signature change) or it changed meanwhile (expected_version); nothing was changed"
        )
    return statuses


def _apps() -> tuple[Any, Any]:
    """The two resolvers (a handler module reads no environment and makes no client on import)."""
    functions = str(PROJECT_ROOT / "functions")
    if functions not in sys.path:
        sys.path.insert(0, functions)
    predict = importlib.import_module("handlers.predict")
    registry = importlib.import_module("handlers.registry_api")
    return predict.app, registry.app


def openapi_document(version: str) -> dict[str, Any]:
    predict_app, registry_app = _apps()
    predict = json.loads(predict_app.get_openapi_json_schema(title=TITLE, version=version))
    registry = json.loads(registry_app.get_openapi_json_schema(title=TITLE, version=version))
    from mlops.monitoring.label_intake import MAX_LABELS
    from mlops.names import NAME_PATTERN
    from mlops.serving.inputs import MAX_ROWS
    from mlops.serving.prediction_keys import MAX_KEY_LENGTH

    paths: dict[str, Any] = {}
    for path, operations in registry["paths"].items():
        for method, operation in operations.items():
            operation["security"] = [{IAM: []}]
            # Powertools documents its own 422 {"detail"}; the handler answers 400 in the error shape.
            operation["responses"].pop("422", None)
            operation["responses"].update(_error_responses({**GATEWAY_STATUSES, **_registry_statuses(path, method)}))
        paths[path] = operations
    for path, operations in predict["paths"].items():
        for method, operation in operations.items():
            operation["security"] = [{FUNCTION_URL_IAM: []}, {PREDICTION_KEY: []}]
            operation["servers"] = [FUNCTION_URL_SERVER, REST_SERVER]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "name":
                    parameter["schema"]["pattern"] = NAME_PATTERN
            feedback = path.endswith("/feedback")
            statuses = FEEDBACK_STATUSES if feedback else PREDICT_STATUSES[method]
            operation["responses"].update(
                _error_responses({**GATEWAY_STATUSES, **statuses, 413: statuses.get(413, GATEWAY_STATUSES[413])})
            )
            if feedback:
                operation["summary"] = (
                    "Labels for earlier predictions, by the request_id each answer carried, the request key or the "
                    "row id"
                )
                operation["requestBody"] = {
                    "required": True,
                    "content": {JSON_ONLY: {"schema": feedback_body(MAX_LABELS, MAX_ROWS, MAX_KEY_LENGTH)}},
                }
                operation["responses"]["200"] = {
                    "description": "what was stored, and what was not and why",
                    "content": {JSON_ONLY: {"schema": FEEDBACK_ANSWER}},
                }
            elif method == "post":
                operation["requestBody"] = {"required": True, "content": {JSON_ONLY: {"schema": PREDICT_BODY}}}
        paths.setdefault(path, {}).update(operations)
    paths["/v1/health"] = {
        "get": {
            "summary": "Proves the caller's credentials work and names the deployed platform (a signed request "
            "under front_door: function_url, the prediction key under rest)",
            "operationId": "health_v1_health_get",
            "security": [{IAM: []}, {PREDICTION_KEY: []}],
            "responses": {
                "200": {
                    "description": "the platform answers",
                    "content": {
                        JSON_ONLY: {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"type": "string"}, "stack": {"type": "string"}},
                            }
                        }
                    },
                },
                **_error_responses(GATEWAY_STATUSES),
            },
        }
    }
    document = {
        "openapi": registry["openapi"],
        "info": {
            "title": TITLE,
            "version": version,
            "description": "Predictions at the predict function URL, signed with SigV4 (service lambda) by an IAM "
            "principal allowed lambda:InvokeFunctionUrl and lambda:InvokeFunction (the default front door), or on the "
            "REST API with an API key (serving.front_door: rest); the model registry and health on the REST API "
            "with IAM (SigV4, service execute-api) authorization. "
            'Every error, from a function or from API Gateway itself, is {"error": {"code", "message", '
            '"problems"?}, "request_id"?}. Request bodies are application/json.',
        },
        "servers": [REST_SERVER],
        "paths": _with_examples(dict(sorted(paths.items()))),
        "components": {
            **registry.get("components", {}),
            "schemas": {**_schemas_without_validation_error(registry), "Error": ERROR},
            "securitySchemes": {
                PREDICTION_KEY: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "the PredictionPlan usage plan's key (get-api-key --include-value); only under "
                    "serving.front_door: rest",
                },
                FUNCTION_URL_IAM: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (service lambda) by an IAM principal allowed "
                    "lambda:InvokeFunctionUrl and lambda:InvokeFunction on the predict function (the stack's "
                    "PredictionClientPolicyArn grants both)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
                IAM: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (service execute-api) by an IAM principal allowed "
                    "execute-api:Invoke on the route",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                },
            },
        },
    }
    return document


# What a reader (and Schemathesis's examples phase) tries first: a model and version that exist.
PATH_EXAMPLES = {"name": "churn", "version": 1, "alias": "champion", "run_id": "run-1", "other_run_id": "run-2"}


def _with_examples(paths: dict[str, Any]) -> dict[str, Any]:
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_EXAMPLES:
                    parameter["example"] = PATH_EXAMPLES[parameter["name"]]
    return paths


def _schemas_without_validation_error(registry: dict[str, Any]) -> dict[str, Any]:
    """Powertools' 422 schemas, which no route answers with any more."""
    schemas = dict(registry.get("components", {}).get("schemas", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return schemas


def main() -> None:
    from mlops import __version__

    print(json.dumps(openapi_document(__version__), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
