"""The predict API under sustained load, through its front door on the local cloud (issue #9, item 2;
issue #21).

The platform is deployed as `make up` deploys it (`python -m localcloud up` in its own process), using
`bench.bench_inference.local_cloud`. The front door soaked is the default deployment's: the predict
function URL with AWS_IAM auth, every request SigV4-signed for service `lambda` by the local cloud's
operator (as `tests/local/test_front_door.py` signs). SOAK_FRONT_DOOR=rest soaks the REST option
instead (`serving.front_door: rest`: the local API Gateway, the `x-api-key` header, the usage plan's
throttle raised so it answers no 429s). The local function URL does not emulate the predict function's
reserved concurrency (none is set by default), so a 429 here would be a fault like a 5xx. A logistic
regression fitted on scikit-learn's breast-cancer data by the platform's training core
(`tests.unit.serving.support.breast_cancer`) is registered in the deployed registry, its artifacts in
the deployed bucket, and made champion.

Then 32 client threads, each with one keep-alive connection to 127.0.0.1 (and under the function URL
signing each request it sends), run a closed loop for SOAK_SECONDS (default 60): valid requests of 1 and
of 10 rows, and about 10 % invalid ones (a text in a numeric field, or a missing field), which must be
answered 400 with a JSON error naming the row, the field and the problem. Asserted: no 5xx, no
connection errors, every 200 well-formed (the model, the registered version, one prediction and one
probability pair per row), every 400 the expected error. A summary line (naming the front door) is
printed and written to bench/results/soak.json.

    make soak                                   # or: pytest -m soak tests/soak -s
    make soak SOAK_SECONDS=10                   # a shorter run
    make soak SOAK_FRONT_DOOR=rest              # the REST option's gateway and API key
"""

from __future__ import annotations

import http.client
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.bench_inference import REGION, Deployment, connections, local_cloud, predict_route_deployed
from bench.bench_training import load
from mlops.registry.models import ModelRegistry
from tests.unit.serving.support import Registered, breast_cancer

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "soak.json"
MODEL = "breast-cancer"
AT = "2026-11-23T12:00:00+00:00"
CLIENTS = 32
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
FRONT_DOOR = os.environ.get("SOAK_FRONT_DOOR") or "function_url"  # infra.settings' serving.front_door values
FRONT_DOORS = ("function_url", "rest")
# The local cloud's operator: the key pair `make up` tells curl and the AWS CLI to sign with.
OPERATOR = Credentials("testing", "testing")
BATCH_ROWS = 10
INVALID_SHARE = 0.1
CASES = 2_000  # distinct request bodies, built before the load; the clients take turns through them
TIMEOUT_SECONDS = 60.0
MAX_REPORTED = 20  # malformed answers quoted in the failure message


# ------------------------------------------------------------------------------------ the requests


@dataclass(frozen=True)
class Case:
    """One request body and what its answer must be: `rows` predictions, or a 400 naming `problem`."""

    kind: str  # "1 row", "10 rows" or "invalid"
    body: bytes
    rows: int
    problem: tuple[int, str, str] | None = None  # (row, field, code) of the one problem


def cases(model: Registered, count: int, seed: int = 9) -> list[Case]:
    """`count` bodies from the dataset's rows: half the valid ones single rows, half 10 rows, and
    INVALID_SHARE of all of them with one bad row (a text in a numeric field or a missing field)."""
    rng = random.Random(seed)
    records = model.records(np.arange(len(next(iter(model.arrays.values()))), dtype=np.int64))
    features = list(model.prepared.meta.feature_spec.columns)
    invalid = round(count * INVALID_SHARE)
    built: list[Case] = []
    for i in range(count):
        rows = 1 if rng.random() < 0.5 else BATCH_ROWS
        instances = [dict(r) for r in rng.sample(records, rows)]
        if i < invalid:
            row, name = rng.randrange(rows), rng.choice(features)
            if i % 2:
                instances[row][name] = "large"
                problem = (row, name, "wrong_type")
            else:
                del instances[row][name]
                problem = (row, name, "missing_field")
            built.append(Case("invalid", json.dumps({"instances": instances}).encode(), rows, problem))
        else:
            kind = "1 row" if rows == 1 else f"{BATCH_ROWS} rows"
            built.append(Case(kind, json.dumps({"instances": instances}).encode(), rows))
    rng.shuffle(built)
    return built


def check(case: Case, status: int, payload: bytes, version: int) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    try:
        body = json.loads(payload)
    except ValueError:
        return f"{status}: not JSON: {payload[:200]!r}"
    if not isinstance(body, dict):
        return f"{status}: not a JSON object: {payload[:200]!r}"
    if case.problem is None:
        if status != 200:
            return f"valid {case.kind} answered {status}: {payload[:300]!r}"
        predictions, probabilities = body.get("predictions"), body.get("probabilities")
        if body.get("model") != MODEL or body.get("version") != version:
            return f"200 names model {body.get('model')!r} version {body.get('version')!r}"
        if not isinstance(predictions, list) or len(predictions) != case.rows:
            return f"200 has {predictions!r} for {case.rows} rows"
        if not all(p in (0, 1) for p in predictions):
            return f"200 predicts outside the classes: {predictions!r}"
        if not isinstance(probabilities, list) or len(probabilities) != case.rows:
            return f"200 has probabilities {probabilities!r} for {case.rows} rows"
        if not all(isinstance(p, list) and len(p) == 2 and abs(sum(p) - 1) < 1e-4 for p in probabilities):
            return f"200 has malformed probabilities {probabilities!r}"
        return None
    if status != 400:
        return f"invalid request ({case.problem}) answered {status}: {payload[:300]!r}"
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return f"400 without an error message: {payload[:300]!r}"
    found = {(p.get("row"), p.get("field"), p.get("code")) for p in error.get("problems") or []}
    if found != {case.problem}:
        return f"400 lists {sorted(found, key=str)}, expected {case.problem}"
    return None


# ------------------------------------------------------------------------------------ the load


@dataclass
class Seen:
    """What one client saw."""

    latencies_ns: dict[str, list[int]] = field(default_factory=dict)  # by case kind
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # connection errors, by exception type
    malformed: list[str] = field(default_factory=list)
    malformed_count: int = 0


def soak(
    pool: list[http.client.HTTPConnection],
    path: str,
    headers: Callable[[bytes], dict[str, str]],
    work: list[Case],
    version: int,
    seconds: float,
) -> tuple[list[Seen], float]:
    """One thread per connection, each sending one request after another (a closed loop) until
    `seconds` have passed since they all started, with the `headers` for each body (a signature is
    made per request, as a client makes it); what each saw and the elapsed time."""
    clients = len(pool)
    barrier = threading.Barrier(clients + 1)
    seen = [Seen() for _ in range(clients)]
    stop_at = [0.0]

    def client(k: int) -> None:
        mine, i = seen[k], k
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            case = work[i % len(work)]
            i += clients
            started = time.perf_counter_ns()
            try:
                pool[k].request("POST", path, body=case.body, headers=headers(case.body))
                response = pool[k].getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                mine.errors[type(error).__name__] += 1
                pool[k].close()
                pool[k] = http.client.HTTPConnection("127.0.0.1", pool[k].port, timeout=TIMEOUT_SECONDS)
                continue
            elapsed = time.perf_counter_ns() - started
            mine.latencies_ns.setdefault(case.kind, []).append(elapsed)
            mine.statuses[str(response.status)] += 1
            problem = check(case, response.status, payload, version)
            if problem is not None:
                mine.malformed_count += 1
                if len(mine.malformed) < MAX_REPORTED:
                    mine.malformed.append(problem)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=seconds + TIMEOUT_SECONDS + 30)
    assert not any(thread.is_alive() for thread in threads), "a client did not finish"
    return seen, time.perf_counter() - began


def percentiles_ms(latencies_ns: list[int]) -> dict[str, float]:
    if not latencies_ns:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    found = np.percentile(np.asarray(latencies_ns, dtype=np.float64) / 1e6, [50, 95, 99])
    return {"p50": round(float(found[0]), 2), "p95": round(float(found[1]), 2), "p99": round(float(found[2]), 2)}


def summarize(seen: list[Seen], elapsed: float, note: dict[str, Any]) -> dict[str, Any]:
    by_kind: dict[str, list[int]] = {}
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for client in seen:
        for kind, latencies in client.latencies_ns.items():
            by_kind.setdefault(kind, []).extend(latencies)
        statuses += client.statuses
        errors += client.errors
    every = [latency for latencies in by_kind.values() for latency in latencies]
    return {
        "clients": CLIENTS,
        "seconds": round(elapsed, 2),
        "requests": len(every),
        "rps": round(len(every) / elapsed, 1),
        "latency_ms": percentiles_ms(every),
        "latency_ms_by_kind": {
            kind: {"requests": len(by_kind[kind]), **percentiles_ms(by_kind[kind])} for kind in sorted(by_kind)
        },
        "statuses": dict(sorted(statuses.items())),
        "connection_errors": dict(sorted(errors.items())),
        "malformed": sum(client.malformed_count for client in seen),
        **note,
    }


def summary_line(summary: dict[str, Any]) -> str:
    latency = summary["latency_ms"]
    statuses = ", ".join(f"{count} x {status}" for status, count in summary["statuses"].items())
    return (
        f"soak ({summary['front_door']}): {summary['clients']} clients, {summary['seconds']:g} s: "
        f"{summary['requests']:,} requests, "
        f"{summary['rps']:g} req/s, p50 {latency['p50']:g} ms, p95 {latency['p95']:g} ms, p99 {latency['p99']:g} ms; "
        f"statuses {statuses}; connection errors {sum(summary['connection_errors'].values())}; "
        f"malformed {summary['malformed']}"
    )


# ------------------------------------------------------------------------------------ the front doors


@dataclass(frozen=True)
class FrontDoor:
    """Where the predict route answers on the local cloud and what each request carries to be let in."""

    name: str  # serving.front_door
    port: int
    path: str
    headers: Callable[[bytes], dict[str, str]]
    auth: str  # for soak.json


def signed_by_operator(port: int, path: str) -> Callable[[bytes], dict[str, str]]:
    """Headers for a POST of a body to the function URL, SigV4-signed for service `lambda` at the time
    of sending (the URL refuses a signature more than 5 minutes old, and a soak can outlast that)."""
    url = f"http://127.0.0.1:{port}{path}"

    def headers(body: bytes) -> dict[str, str]:
        signing = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(OPERATOR, "lambda", REGION).add_auth(signing)
        return dict(signing.headers.items())

    return headers


def front_door(name: str, deployment: Deployment, apigateway: Any) -> FrontDoor:
    """The deployment's predict route behind the front door it was synthesized with."""
    outputs = deployment.outputs
    if name == "function_url":
        # outputs.json names the URL where the local cloud serves it: http://127.0.0.1:<port>/
        local_url = outputs["PredictFunctionUrl"]
        port = int(local_url.rstrip("/").rsplit(":", 1)[1])
        path = f"/v1/models/{MODEL}/predict"
        return FrontDoor(name, port, path, signed_by_operator(port, path), "AWS_IAM, SigV4 (service lambda)")
    assert predict_route_deployed(apigateway), "the deployed API has no predict route"
    key = apigateway.get_api_key(apiKey=outputs["PredictionApiKeyId"], includeValue=True)["value"]
    stage = "/" + outputs["ApiUrl"].split("//", 1)[1].split("/", 1)[1].rstrip("/")  # "/prod"
    fixed = {"x-api-key": key, "Content-Type": "application/json"}
    path = f"{stage}/v1/models/{MODEL}/predict"
    return FrontDoor(name, deployment.api_port, path, lambda _body: fixed, "API key (x-api-key), usage plan")


# ------------------------------------------------------------------------------------ the test


def publish(model: Registered, table: Any, s3: Any, bucket: str) -> int:
    """The artifacts into the bucket, a version registered through the registry's write path and
    made champion, as a training run leaves them; the version number."""
    for key, body in model.artifacts.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    registry = ModelRegistry(table)
    run_id = f"soak-{uuid.uuid4().hex[:8]}"
    registry.start_run(run_id, {"dataset": MODEL, "started_at": AT})
    record = {k: v for k, v in model.record.items() if k not in ("model", "version")}
    dynamo_record = json.loads(json.dumps(record), parse_float=Decimal)  # DynamoDB takes no floats
    version = registry.register_version(MODEL, dynamo_record, run_id=run_id, at=AT)
    registry.set_alias(MODEL, "champion", version, reason="soak test", actor="soak", at=AT)
    return version


def test_32_clients_get_no_5xx_and_only_well_formed_answers(request: pytest.FixtureRequest) -> None:
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the soak test runs under `make soak` (pytest -m soak)")
    assert FRONT_DOOR in FRONT_DOORS, f"SOAK_FRONT_DOOR={FRONT_DOOR!r}: one of {FRONT_DOORS}"
    model = breast_cancer()
    work = cases(model, CASES)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, local_cloud(Path(tmp), FRONT_DOOR) as deployment:
        outputs = deployment.outputs
        session = boto3.Session(
            aws_access_key_id=OPERATOR.access_key, aws_secret_access_key=OPERATOR.secret_key, region_name=REGION
        )
        endpoint = outputs["LocalCloudEndpoint"]
        door = front_door(FRONT_DOOR, deployment, session.client("apigateway", endpoint_url=endpoint))
        s3 = session.client("s3", endpoint_url=endpoint)
        table = session.resource("dynamodb", endpoint_url=endpoint).Table(outputs["RegistryTableName"])
        version = publish(model, table, s3, outputs["ArtifactsBucketName"])

        first = http.client.HTTPConnection("127.0.0.1", door.port, timeout=120)
        started = time.perf_counter()
        first.request("POST", door.path, body=work[0].body, headers=door.headers(work[0].body))
        answer = first.getresponse()
        problem = check(work[0], answer.status, answer.read(), version)
        assert problem is None, problem
        cold_ms = (time.perf_counter() - started) * 1000
        first.close()

        pool = connections(door.port, CLIENTS)
        before = load()
        seen, elapsed = soak(pool, door.path, door.headers, work, version, SECONDS)
        after = load()
        for connection in pool:
            connection.close()

    summary = summarize(
        seen,
        elapsed,
        {
            "front_door": FRONT_DOOR,
            "auth": door.auth,
            "first_request_ms": round(cold_ms, 1),
            "model": f"{MODEL} (logistic regression, {len(model.prepared.meta.feature_spec.columns)} features)",
            "mix": f"valid 1-row and {BATCH_ROWS}-row requests, {INVALID_SHARE:.0%} invalid (400 expected)",
            "load": f"{before} -> {after} on {os.cpu_count()} CPUs",
        },
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print("\n" + summary_line(summary))

    quoted = [problem for client in seen for problem in client.malformed][:MAX_REPORTED]
    server_errors = {status: count for status, count in summary["statuses"].items() if status.startswith("5")}
    assert summary["requests"] > 0
    assert not server_errors, summary_line(summary)
    assert not summary["connection_errors"], summary_line(summary)
    assert summary["malformed"] == 0, "\n".join([summary_line(summary), *quoted])
    assert set(summary["statuses"]) <= {"200", "400"}, summary_line(summary)
