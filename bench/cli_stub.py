"""A stand-in deployment that answers the `mlops` command's calls with canned records, at once.

The CLI start-up benchmark and the import-graph test run the real commands as subprocesses against
it: what they measure is then the command's own start-up (interpreter, imports, parsing, printing),
not a moto server or a Lambda. One HTTP server plays every endpoint the read-only commands call:
the registry API (`/prod/v1/...`), S3 (path-style `GET /<bucket>/<key>`), DynamoDB and Step
Functions (JSON protocol, told apart by `X-Amz-Target`) and API Gateway's `GET /apikeys/<id>`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MODEL = "breast-cancer"
DATASET_VERSION = "a1b2c3d4e5f6" + "0" * 52
RUN_ID = "breast-cancer-20260101T000000-abcdef"
STARTED = 1767225600.0  # 2026-01-01T00:00:00Z, as Step Functions' JSON protocol sends dates
CONFIG = {"dataset": MODEL, "problem_type": "binary", "label": "target", "selection_metric": "roc_auc"}
TRAINING_DATA = {"policy": "all", "rows": 569, "duplicates": 0, "versions": [{"version": DATASET_VERSION, "rows": 569}]}
VERSION = {
    "model": MODEL,
    "version": 1,
    "status": "registered",
    "created_at": "2026-01-01T00:05:00+00:00",
    "estimator": "logistic_regression",
    "dataset": MODEL,
    "dataset_version": DATASET_VERSION,
    "run_id": RUN_ID,
    "metrics": {"roc_auc": 0.99, "accuracy": 0.97, "f1_macro": 0.96},
    "artifacts": {"evaluation.json": {"key": f"runs/{RUN_ID}/evaluation.json"}},
    "training_data": TRAINING_DATA,
}
CARD = {
    "model": MODEL,
    "version": 1,
    "status": "registered",
    "estimator": "logistic_regression",
    "training_data": {"dataset": MODEL, "dataset_version": DATASET_VERSION},
    "lineage": {"training_run": RUN_ID, "code_version": "stub", "dataset_versions": TRAINING_DATA["versions"]},
    "evaluation": VERSION["metrics"],
    "quality_gates": [{"name": "absolute", "passed": True, "detail": "roc_auc 0.99 >= 0.9"}],
}
PERFORMANCE_CHECK = {
    "model": MODEL,
    "checked_at": "2026-12-08T00:00:00+00:00",
    "window_start": "2026-12-01T00:00:00+00:00",
    "window_end": "2026-12-08T00:00:00+00:00",
    "status": "ok",
    "message": "1 of 1 versions and variants scored, all within their floors",
    "labelled": 285,
    "min_labels": 100,
    "floor": {"accuracy": 0.9},
    "predicted": {"1": 1000},
    "coverage": {"1": 0.285},
    "label_delay": {"median_hours": 20.5, "p90_hours": 70.0},
    "variants": [
        {
            "version": 1,
            "variant": "champion",
            "labelled": 285,
            "status": "ok",
            "metrics": {"accuracy": {"value": 0.958, "low": 0.937, "high": 0.982, "test": 0.97}},
            "past_floor": [],
        }
    ],
}
REGISTRY_API: dict[str, Any] = {
    "/v1/models": {"models": [{"model": MODEL, "latest_version": 1}]},
    f"/v1/models/{MODEL}": {"model": {"model": MODEL, "latest_version": 1, "aliases": {"champion": {"version": 1}}}},
    f"/v1/models/{MODEL}/versions": {"versions": [VERSION]},
    f"/v1/models/{MODEL}/versions/1": {"version": VERSION, "model_card": CARD},
    f"/v1/models/{MODEL}/audit": {"events": []},
    f"/v1/models/{MODEL}/drift": {"checks": []},
    f"/v1/models/{MODEL}/performance": {"checks": [PERFORMANCE_CHECK]},
}
S3_OBJECTS = {f"runs/{RUN_ID}/config.json": CONFIG}


def _attribute(value: Any) -> dict[str, Any]:
    """A plain value in DynamoDB's JSON wire format."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: _attribute(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_attribute(v) for v in value]}
    return {"S": str(value)}


RUN_ITEM = {
    "run_id": RUN_ID,
    "dataset": MODEL,
    "dataset_version": DATASET_VERSION,
    "model": MODEL,
    "status": "succeeded",
    "version": 1,
    "reason": "requested from the command line",
    "prefix": f"runs/{RUN_ID}/",
    "metrics": VERSION["metrics"],
    "training_data": TRAINING_DATA,
}
DATASET_ITEM = {
    "dataset": MODEL,
    "version": DATASET_VERSION,
    "created_at": "2026-01-01T00:00:00+00:00",
    "rows": 569,
    "contract_version": 1,
    "manifest_key": f"datasets/{MODEL}/{DATASET_VERSION}/manifest.json",
    "source_key": f"raw/{MODEL}/patients.csv",
}


def _json_protocol(target: str, request: dict[str, Any], machine: str) -> dict[str, Any]:
    """DynamoDB and Step Functions answers (the operation is the part of X-Amz-Target after the dot)."""
    operation = target.rsplit(".", 1)[-1]
    execution = {
        "executionArn": machine.replace(":stateMachine:", ":execution:") + f":{RUN_ID}",
        "stateMachineArn": machine,
        "name": RUN_ID,
        "status": "SUCCEEDED",
        "startDate": STARTED,
        "stopDate": STARTED + 60,
    }
    if operation == "ListExecutions":
        return {"executions": [execution]}
    if operation == "DescribeExecution":
        return {**execution, "input": json.dumps({"dataset": MODEL})}
    if operation == "GetExecutionHistory":
        return {"events": []}
    if operation == "GetItem":
        key = request.get("Key", {}).get("pk", {}).get("S", "")
        return {"Item": {k: _attribute(v) for k, v in RUN_ITEM.items()}} if key.startswith("RUN#") else {}
    if operation == "Query":
        partition = json.dumps(request.get("ExpressionAttributeValues", {}))
        items = [RUN_ITEM] if "#RUNS" in partition else [DATASET_ITEM] if "#VERSIONS" in partition else []
        return {"Items": [{k: _attribute(v) for k, v in i.items()} for i in items], "Count": len(items)}
    return {}


@dataclass(frozen=True)
class StubDeployment:
    url: str
    outputs_file: Path


@contextmanager
def stub_deployment(folder: Path) -> Iterator[StubDeployment]:
    """The server on a free port, and an outputs file naming it (as `make up` writes one)."""
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:training"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/prod/"):
                found = REGISTRY_API.get(path.removeprefix("/prod"))
                body = {"error": {"code": "not_found", "message": path}} if found is None else found
                self._send(404 if found is None else 200, json.dumps(body).encode())
            elif path.startswith("/apikeys/"):
                self._send(200, json.dumps({"id": "stub", "value": "stub-key"}).encode())
            elif "list-type=2" in self.path:  # S3 ListObjectsV2: the deployed contracts
                listing = (
                    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>artifacts</Name>'
                    f"<KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>contracts/{MODEL}.yaml</Key>"
                    "<Size>10</Size></Contents></ListBucketResult>"
                )
                self._send(200, listing.encode(), "application/xml")
            else:  # S3, path-style: /<bucket>/<key>
                key = path.lstrip("/").partition("/")[2]
                if key in S3_OBJECTS:
                    self._send(200, json.dumps(S3_OBJECTS[key]).encode())
                else:
                    error = b"<Error><Code>NoSuchKey</Code><Message>none</Message></Error>"
                    self._send(404, error, "application/xml")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            target = self.headers.get("x-amz-target")
            if target:
                answer = _json_protocol(target, request, machine)
                self._send(200, json.dumps(answer).encode(), "application/x-amz-json-1.0")
            elif self.path.startswith(f"/prod/v1/models/{MODEL}/predict"):
                rows = len(request.get("instances") or request.get("data") or [])
                answer = {
                    "model": MODEL,
                    "version": 1,
                    "variant": "champion",
                    "request_id": "stub",
                    "predictions": [1] * rows,
                }
                self._send(200, json.dumps(answer).encode())
            else:
                self._send(404, b'{"error": {"code": "not_found", "message": "stub"}}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    outputs = {
        "ApiUrl": f"{url}/prod/",
        "ArtifactsBucketName": "artifacts",
        "CuratedBucketName": "curated",
        "RawBucketName": "raw",
        "RegistryTableName": "registry",
        "TrainingStateMachineArn": machine,
        "PredictionApiKeyId": "stub",
        "LocalCloudEndpoint": url,
    }
    outputs_file = folder / "outputs.json"
    outputs_file.write_text(json.dumps({"Stub": outputs}))
    try:
        yield StubDeployment(url, outputs_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# The commands that only read the registry, as the benchmark and the import-graph test run them.
READ_ONLY_COMMANDS: dict[str, list[str]] = {
    "models list": ["models", "list"],
    "models show": ["models", "show", MODEL],
    "models show --version": ["models", "show", MODEL, "--version", "1"],
    "models audit": ["models", "audit", MODEL],
    "runs": ["runs"],
    "runs --sort roc_auc": ["runs", "--sort", "roc_auc", "--filter", "status=succeeded"],
    "runs RUN_ID": ["runs", RUN_ID],
    "datasets list": ["datasets", "list"],
    "datasets show": ["datasets", "show", MODEL],
    "datasets show --version": ["datasets", "show", MODEL, "--version", DATASET_VERSION[:8]],
    "drift": ["drift", MODEL],
    "performance": ["performance", MODEL],
}
