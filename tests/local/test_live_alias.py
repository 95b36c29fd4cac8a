"""The two cures for cold starts as a team deploys them, `serving.snap_start: true` and
`serving.provisioned_concurrency`: the template goes into the local cloud and the function URL on the
`live` alias answers. The local cloud neither snapshots nor keeps environments warm (what they save
is measurable only on AWS), so what is checked here is that each option deploys and serves; before
the local cloud made aliases (moto's CloudFormation skips AWS::Lambda::Alias), neither deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import synthesize
from tests.local.conftest import front_door


@pytest.mark.parametrize("serving", [{"snap_start": True}, {"provisioned_concurrency": 1}], ids=str)
def test_a_deployment_with_a_live_alias_serves_through_it(serving: dict[str, Any], tmp_path: Path) -> None:
    from infra.app import build_local_app

    synthesized = synthesize(build_local_app, {"platform": {"serving": serving}})
    with LocalCloud.in_process(inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(synthesized)
        door = front_door(cloud, stack)
        status, answer = door.request("GET", "/v1/models/unknown/signature")
        assert status == 404, answer
        assert answer["error"]["code"] == "not_found" and "unknown" in answer["error"]["message"]
        status, answer = door.post("/v1/models/unknown/predict", {"instances": [{"x": 1}]})
        assert status == 404, answer
        name = stack.outputs["PredictFunctionUrl"]
        functions = boto3.client("lambda")
        [predict] = [f for f in functions.list_functions()["Functions"] if "PredictFunction" in f["FunctionName"]]
        url = functions.get_function_url_config(FunctionName=predict["FunctionName"], Qualifier="live")
        assert url["FunctionUrl"].rstrip("/") == name.rstrip("/")
        alias = functions.get_alias(FunctionName=predict["FunctionName"], Name="live")
        assert alias["FunctionVersion"] != "$LATEST"  # a published version, as SnapStart needs
        preloaded = predict["Environment"]["Variables"].get("PRELOAD_CLIENTS")
        assert preloaded == ("true" if serving.get("snap_start") else None)
