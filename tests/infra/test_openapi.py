"""The published API description (docs/openapi.json) is current and covers every deployed route,
each with the credential the gateway requires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

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


def test_every_deployed_route_is_described_with_its_credential(platform_template: dict[str, Any]) -> None:
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
        assert operation["security"] == [{scheme: []}], route
