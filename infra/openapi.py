"""`python -m infra.openapi > docs/openapi.json`: the published description of the platform's API.

The paths, parameters and registry request bodies come from the handlers' own Powertools resolvers
(the same route declarations that serve and validate requests); the predict body, checked by the
serving core rather than by pydantic, is described here from the same limits it enforces. Security
schemes say which credential each route takes. A test fails when the committed file is stale.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from infra.paths import PROJECT_ROOT

TITLE = "Serverless MLOps API"
PREDICTION_KEY = "predictionKey"
IAM = "sigv4"
HANDLER_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "REGISTRY_TABLE": "registry", "ARTIFACTS_BUCKET": "artifacts"}

_ROW = {"type": "object", "additionalProperties": True, "description": "field: value, one per model input"}
PREDICT_BODY: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["instances"],
            "properties": {"instances": {"type": "array", "items": _ROW, "minItems": 1, "maxItems": 1000}},
        },
        {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}, "minItems": 1, "maxItems": 1000},
            },
        },
    ]
}
ERROR = {
    "type": "object",
    "properties": {
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
                            "field": {"type": "string"},
                        },
                    },
                },
                "problem_count": {"type": "integer"},
            },
        }
    },
}


def _apps() -> tuple[Any, Any]:
    """The two resolvers; importing a handler module needs its environment (no AWS call is made)."""
    for name, value in HANDLER_ENV.items():
        os.environ.setdefault(name, value)
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
    paths: dict[str, Any] = {}
    for path, operations in registry["paths"].items():
        for operation in operations.values():
            operation["security"] = [{IAM: []}]
        paths[path] = operations
    for path, operations in predict["paths"].items():
        for method, operation in operations.items():
            operation["security"] = [{PREDICTION_KEY: []}]
            operation["responses"].update(
                {
                    str(code): {"description": why, "content": {"application/json": {"schema": ERROR}}}
                    for code, why in (
                        (400, "the body or a row is invalid; every problem listed by row and field"),
                        (404, "no such model, or no champion yet"),
                        (413, "more than 1,000 rows"),
                        (415, "not application/json"),
                        (503, "the champion's artifacts cannot be loaded"),
                    )
                }
            )
            if method == "post":
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": PREDICT_BODY}}}
        paths.setdefault(path, {}).update(operations)
    paths["/v1/health"] = {
        "get": {
            "summary": "Proves a prediction key works and names the deployed platform",
            "security": [{PREDICTION_KEY: []}],
            "responses": {"200": {"description": "the platform answers"}},
        }
    }
    document = {
        "openapi": registry["openapi"],
        "info": {
            "title": TITLE,
            "version": version,
            "description": "Predictions with an API key; the model registry with IAM (SigV4) authorization. "
            'Errors are {"error": {"code", "message", "problems"?}}.',
        },
        "servers": [
            {
                "url": "https://{api}.execute-api.{region}.amazonaws.com/prod",
                "variables": {"api": {"default": "your-api-id"}, "region": {"default": "us-east-1"}},
            }
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            **registry.get("components", {}),
            "securitySchemes": {
                PREDICTION_KEY: {"type": "apiKey", "in": "header", "name": "x-api-key"},
                IAM: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (service execute-api)",
                },
            },
        },
    }
    return document


def main() -> None:
    from mlops import __version__

    print(json.dumps(openapi_document(__version__), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
