"""Handlers that leave visible traces (objects, items, metrics) so tests can see what ran."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import boto3

_s3 = boto3.client("s3")
_dynamodb = boto3.client("dynamodb")


def _emf(namespace: str, name: str, value: float) -> None:
    print(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": [["Probe"]],
                            "Metrics": [{"Name": name, "Unit": "Count"}],
                        }
                    ],
                },
                "Probe": "probe",
                name: value,
            }
        )
    )


def on_upload(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """S3 ObjectCreated: writes out/<key>.seen, or fails for keys containing 'fail'."""
    record = event["Records"][0]
    bucket = record["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    if "fail" in key:
        _emf("Probe", "Failures", 1)
        raise RuntimeError(f"refusing {key}")
    _s3.put_object(Bucket=bucket, Key=f"out/{key.split('/', 1)[1]}.seen", Body=os.environ["PROBE_GREETING"].encode())
    _emf("Probe", "Uploads", 1)
    return {"key": key}


def square(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Map iteration: squares `n`; n < 0 raises so the state machine's catch runs."""
    n = int(event["n"])
    if n < 0:
        raise ValueError(f"negative input {n}")
    return {"n": n, "square": n * n, "remaining_ms": context.get_remaining_time_in_millis()}


def slow(event: dict[str, Any], context: Any) -> None:
    """Sleeps past its 1-second timeout."""
    for _ in range(100):
        time.sleep(0.05)


def tick(event: dict[str, Any], context: Any) -> None:
    """A scheduled event: counts itself in the table, with the newest event's time and the time the
    handler read when it ran."""
    _dynamodb.update_item(
        TableName=os.environ["TABLE"],
        Key={"pk": {"S": "ticks"}},
        UpdateExpression="ADD #n :one SET #event = :event, #ran = :ran",
        ExpressionAttributeNames={"#n": "n", "#event": "event_time", "#ran": "ran_at"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":event": {"S": str(event.get("time", "-"))},  # an event invoked by hand has none
            ":ran": {"S": datetime.now(UTC).isoformat()},
        },
    )


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An API Gateway proxy handler that echoes what it received."""
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "id": (event.get("pathParameters") or {}).get("id"),
                "query": event.get("queryStringParameters"),
                "apiKeyId": event["requestContext"]["identity"].get("apiKeyId"),
            }
        ),
    }


def url(event: dict[str, Any], context: Any) -> Any:
    """A function URL handler: its path says what to answer (a plain string, an object with no
    statusCode, an error, a 503 answered without raising, an answer after `ms` milliseconds), anything
    else echoes the event it received with a full response."""
    path = event.get("rawPath")
    if path == "/unavailable":
        return {"statusCode": 503, "body": json.dumps({"message": "try later"})}
    if path == "/slow":
        time.sleep(int((event.get("queryStringParameters") or {}).get("ms", "0")) / 1000.0)
    if path == "/string":
        return "Hello, world!"
    if path == "/object":
        return {"message": "Hello, world!"}
    if path == "/fail":
        raise RuntimeError("asked to fail")
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-probe": "yes"},
        "cookies": ["flavour=oat; Max-Age=60"],
        "body": json.dumps({"event": event}),
    }
