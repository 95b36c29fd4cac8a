"""The published description is the contract: Schemathesis drives docs/openapi.json against the local
gateway serving the deployed template, with the prediction key and SigV4, and must find nothing.

Every Schemathesis check is on (server errors, undocumented statuses, content types, response
schemas and headers, valid data refused, invalid data accepted, ignored credentials, unsupported
methods, ...), over its four phases (examples, coverage, fuzzing, stateful), seeded and
deterministic so that two runs send the same requests. The config and the SigV4 hook are in
tests/local/contract/.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlops.registry.models import ModelRegistry
from tests.unit.serving.support import churn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACT = PROJECT_ROOT / "tests" / "local" / "contract"
MODEL = "churn"  # the name docs/openapi.json gives as its example
AT = "2026-11-23T12:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def deployed(platform_rest_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The platform in a local cloud (moto server and HTTP gateway), `churn` v1 champion and v2
    registered, as a training run leaves them; the gateway's stage URL and the prediction key.

    Deployed with `front_door: rest`, where one server (the REST stage) answers every route the document
    describes; the same handler answers the prediction routes behind the default function URL
    (test_front_door.py drives those, with the function URL's own refusals)."""
    tmp = tmp_path_factory.mktemp("contract")
    port = _free_port()
    with LocalCloud.server(port=port, inbox_path=tmp / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_rest_synth)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        table = boto3.resource("dynamodb", endpoint_url=endpoint).Table(stack.outputs["RegistryTableName"])
        registered = churn()
        for key, body in registered.artifacts.items():
            s3.put_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=key, Body=body)
        registry = ModelRegistry(table)
        record = json.loads(json.dumps(registered.record), parse_float=Decimal)
        for run in ("run-1", "run-2"):
            registry.start_run(run, {"dataset": MODEL, "started_at": AT})
            registry.register_version(
                MODEL, {k: v for k, v in record.items() if k not in ("model", "version")}, run_id=run, at=AT
            )
        registry.set_alias(MODEL, "champion", 1, reason="contract test", actor="test", at=AT)
        apigw = boto3.client("apigateway", endpoint_url=endpoint)
        for plan in apigw.get_usage_plans()["items"]:  # the fuzzer is not the load the plan throttles
            apigw.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[
                    {"op": "replace", "path": "/throttle/rateLimit", "value": "100000"},
                    {"op": "replace", "path": "/throttle/burstLimit", "value": "100000"},
                ],
            )
        key = apigw.get_api_key(apiKey=stack.outputs["PredictionApiKeyId"], includeValue=True)["value"]
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id)
        yield {"url": gateway.url("prod"), "key": key}


def test_schemathesis_finds_no_failure_in_the_published_contract(
    deployed: dict[str, str], tmp_path: Path, record_property: Any
) -> None:
    report = tmp_path / "schemathesis.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONTRACT / "schemathesis.toml"),
        "run",
        str(PROJECT_ROOT / "docs" / "openapi.json"),
        "--url",
        deployed["url"],
        "--checks",
        "all",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {
        **os.environ,
        "PREDICTION_KEY": deployed["key"],
        "SCHEMATHESIS_HOOKS": "tests.local.contract.hooks",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "functions")]),
    }
    started = time.monotonic()
    run = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    cases = re.search(r"Test cases:\s*\n?\s*(\d[\d,]*) generated", output)
    record_property("schemathesis_seconds", round(seconds, 1))
    record_property("schemathesis_cases", cases.group(1) if cases else "?")
    print(output[-3000:])
    assert run.returncode == 0, output[-20000:]
