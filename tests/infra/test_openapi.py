"""The published API description (docs/openapi.json) is current and covers every deployed route,
each with the credential the gateway requires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from infra.paths import PROJECT_ROOT
from tests.infra import template_queries as tq

DOCUMENT = PROJECT_ROOT / "docs" / "openapi.json"


def _generated() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "functions"), str(PROJECT_ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", "infra.openapi"], capture_output=True, check=True, env=env, cwd=PROJECT_ROOT, timeout=120
    )
    return dict(json.loads(out.stdout))


def test_the_committed_description_is_current() -> None:
    assert json.loads(DOCUMENT.read_text()) == _generated(), (
        "docs/openapi.json is stale; regenerate it with `make openapi`"
    )


@pytest.mark.parametrize("front_door", ["function_url", "rest"])
def test_every_deployed_route_is_described_with_its_credential(
    platform_template: dict[str, Any], rest_template: dict[str, Any], front_door: str
) -> None:
    """Under either front door each REST method's credential is one the document offers for it."""
    platform_template = rest_template if front_door == "rest" else platform_template
    document = json.loads(DOCUMENT.read_text())
    resources = tq.resources(platform_template, "AWS::ApiGateway::Resource")

    def path(logical: str) -> str:
        props = resources[logical]["Properties"]
        parent = props["ParentId"]
        return (path(parent["Ref"]) if "Ref" in parent else "") + "/" + str(props["PathPart"])

    for method in tq.resources(platform_template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        route = path(props["ResourceId"]["Ref"])
        operation = document["paths"].get(route, {}).get(props["HttpMethod"].lower())
        assert operation is not None, f"{props['HttpMethod']} {route} is deployed but not described"
        scheme = "sigv4" if props.get("AuthorizationType") == "AWS_IAM" else "predictionKey"
        assert {scheme: []} in operation["security"], route


def test_the_prediction_routes_are_described_at_the_function_url_first(platform_template: dict[str, Any]) -> None:
    """The default front door is not a REST route: the document names its server and SigV4 for service
    lambda first on each prediction route, the REST stage and the key second (front_door: rest)."""
    document = json.loads(DOCUMENT.read_text())
    assert tq.resources(platform_template, "AWS::Lambda::Url")
    for path in ("/v1/models/{name}/predict", "/v1/models/{name}/signature", "/v1/models/{name}/feedback"):
        for operation in document["paths"][path].values():
            assert operation["security"] == [{"sigv4FunctionUrl": []}, {"predictionKey": []}], path
            assert [".lambda-url." in server["url"] for server in operation["servers"]] == [True, False], path
    scheme = document["components"]["securitySchemes"]["sigv4FunctionUrl"]
    assert "service lambda" in scheme["description"] and "lambda:InvokeFunctionUrl" in scheme["description"]
