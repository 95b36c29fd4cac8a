"""The registry API's download and lineage routes on moto's S3 and DynamoDB: a version's files come as
presigned SigV4 URLs that fetch exactly the registered bytes (through moto's own handling of the
signed URL, in process; over HTTP in tests/local/test_model_lineage.py), and its lineage names the
champion it was compared with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from mlops.buckets import ArtifactsBucket
from mlops.registry.models import ModelRegistry
from mlops.registry.versions import TrainedVersion
from tests.unit.handlers.support import QUIET, Context, loaded, rest_event

pytestmark = QUIET
MODEL, BUCKET, AT = "churn", "artifacts", "2026-11-23T12:00:00+00:00"
FILES = {"model.onnx": b"onnx bytes", "signature.json": b'{"inputs": []}', "profile.json": b'{"features": {}}'}


@pytest.fixture
def api(registry_table: Any) -> Iterator[Any]:
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket=BUCKET)
    registry = ModelRegistry(registry_table)
    for run, parent in (("run-1", None), ("run-2", 1)):
        prefix = f"models/{MODEL}/runs/{run}/"
        for name, body in FILES.items():
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}{name}", Body=body)
        artifacts = {n: {"key": f"{prefix}{n}", "sha256": hashlib.sha256(b).hexdigest()} for n, b in FILES.items()}
        registry.start_run(run, {"dataset": MODEL, "started_at": AT, "reason": "drift: x", "trigger": "drift"})
        trained = TrainedVersion(status="registered", artifacts=artifacts, parent_version=parent, trigger="drift")
        registry.register_version(MODEL, trained.attributes(), run_id=run, at=AT)
    with loaded("handlers.registry_api") as module:
        services = module.RegistryApiServices(registry, ArtifactsBucket(s3, BUCKET))
        with module.services.replaced(services):
            yield module


def _get(api: Any, version: int, route: str) -> tuple[int, Any]:
    path = f"/v1/models/{MODEL}/versions/{version}/{route}"
    event = rest_event(
        "GET", path, "/v1/models/{name}/versions/{version}/" + route, {"name": MODEL, "version": str(version)}
    )
    response = api.handler(event, Context())
    return response["statusCode"], json.loads(response["body"])


def test_each_file_comes_as_a_presigned_url_that_fetches_the_registered_bytes(api: Any) -> None:
    status, body = _get(api, 2, "artifacts")
    assert status == 200 and body["expires_in"] == 300
    assert [link["name"] for link in body["artifacts"]] == ["model.onnx", "signature.json", "profile.json"]
    for link in body["artifacts"]:
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link["url"] and "X-Amz-Expires=300" in link["url"]
        fetched = requests.get(link["url"], timeout=10)  # no credentials: the URL carries them
        assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == link["sha256"]


def test_an_unknown_version_has_no_files_and_no_lineage(api: Any) -> None:
    for route in ("artifacts", "lineage"):
        status, body = _get(api, 9, route)
        assert (status, body["error"]["code"]) == (404, "not_found"), route


def test_the_lineage_names_the_compared_champion_and_the_run_reason(api: Any) -> None:
    status, body = _get(api, 2, "lineage")
    assert status == 200
    lineage = body["lineage"]
    assert (lineage["parent_version"], lineage["trigger"], lineage["reason"], lineage["run_id"]) == (
        1,
        "drift",
        "drift: x",
        "run-2",
    )
