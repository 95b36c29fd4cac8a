"""Fakes for the handler tests: AWS clients as dicts, the events the services send, and each handler
module imported afresh with Powertools' environment.

A handler builds its clients on the first invocation (`services = PerContainer(...)`), so a test
puts its fakes in with `module.services.replaced(...)` and invokes the handler as Lambda does: no
moto, no network. The buckets, the registry and Step Functions are plain objects over dicts.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops.training.start import execution_arn

REGION = "us-east-1"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:training"
# A handler with nothing to count warns; that is not what these tests look at.
QUIET = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
# What Powertools reads when a handler module is imported (the Metrics namespace) and when it runs.
POWERTOOLS_ENV = {
    "POWERTOOLS_METRICS_NAMESPACE": "Test",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


class Context:
    """The Lambda context a handler reads: its request id and the time it has left."""

    function_name = "handler-test"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler-test"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-00000000c0de"

    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@contextlib.contextmanager
def loaded(name: str) -> Iterator[Any]:
    """Handler module `name` imported afresh, with Powertools' environment for as long as it is used,
    and forgotten afterwards (another test imports its own)."""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in POWERTOOLS_ENV.items():
            patch.setenv(variable, value)
        sys.modules.pop(name, None)
        try:
            yield importlib.import_module(name)
        finally:
            sys.modules.pop(name, None)


def emitted(out: str) -> dict[str, list[dict[str, Any]]]:
    """The EMF metric documents printed to stdout, by metric name (each with its dimensions' values)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        directives = document.get("_aws", {}).get("CloudWatchMetrics", [])
        for directive in directives:
            for metric in directive["Metrics"]:
                found.setdefault(metric["Name"], []).append(document)
    return found


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    """The log records with `message` (Powertools' Logger propagates to the logging module)."""
    return [r for r in caplog.records if r.getMessage() == message]


# --------------------------------------------------------------------------------------- AWS fakes


def _missing(operation: str, code: str = "NoSuchKey") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "not found"}}, operation)


class NoSuchKey(ClientError):  # noqa: N818 (the name boto3 gives it)
    pass


class _Body(io.BytesIO):
    """botocore's StreamingBody: read(), read(n) and close()."""


@dataclass
class FakeS3:
    """Buckets as dicts of key -> bytes; one version per key (its id counts the writes)."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    writes: int = 0

    class exceptions:  # noqa: N801 (boto3's shape)
        ClientError = ClientError
        NoSuchKey = NoSuchKey

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.writes += 1
        self.objects[(Bucket, Key)] = bytes(Body)
        self.versions[(Bucket, Key)] = f"v{self.writes}"
        return {"VersionId": self.versions[(Bucket, Key)]}

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise NoSuchKey({"Error": {"Code": "NoSuchKey", "Message": "not found"}}, "GetObject")
        body = self.objects[(Bucket, Key)]
        return {
            "Body": _Body(body),
            "VersionId": self.versions[(Bucket, Key)],
            "ETag": f'"etag-{len(body)}"',
            "ContentLength": len(body),
        }

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise _missing("HeadObject", "404")
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self.objects.pop((Bucket, Key), None)
        self.deleted.append((Bucket, Key))
        return {}

    def copy_object(self, Bucket: str, Key: str, CopySource: Mapping[str, str], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.objects[(Bucket, Key)] = self.objects[(CopySource["Bucket"], CopySource["Key"])]
        return {}

    def list_objects_v2(self, Bucket: str, Prefix: str = "", Delimiter: str = "", **_: Any) -> dict[str, Any]:  # noqa: N803
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix))
        if not Delimiter:
            return {"Contents": [{"Key": k} for k in keys], "KeyCount": len(keys), "IsTruncated": False}
        # S3 rolls keys up to the first delimiter after the prefix into CommonPrefixes.
        folders = sorted(
            {
                Prefix + k[len(Prefix) :].split(Delimiter, 1)[0] + Delimiter
                for k in keys
                if Delimiter in k[len(Prefix) :]
            }
        )
        files = [k for k in keys if Delimiter not in k[len(Prefix) :]]
        return {
            "Contents": [{"Key": k} for k in files],
            "CommonPrefixes": [{"Prefix": f} for f in folders],
            "KeyCount": len(files) + len(folders),
            "IsTruncated": False,
        }

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_objects_v2", operation
        s3 = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [s3.list_objects_v2(**kwargs)]

        return Paginator()

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def json(self, bucket: str, key: str) -> Any:
        return json.loads(self.objects[(bucket, key)])


class ExecutionAlreadyExists(Exception):  # noqa: N818 (the name boto3 gives it)
    pass


@dataclass
class FakeStepFunctions:
    """Step Functions' executions by name, and its refusal of a second one of the same name."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)

    class exceptions:  # noqa: N801 (boto3's shape)
        ExecutionAlreadyExists = ExecutionAlreadyExists

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803
        if name in self.started:
            raise ExecutionAlreadyExists(name)
        self.started[name] = json.loads(input)
        return {"executionArn": execution_arn(stateMachineArn, name)}


@dataclass
class FakeSns:
    published: list[dict[str, str]] = field(default_factory=list)

    def publish(self, **message: str) -> dict[str, str]:
        self.published.append(message)
        return {"MessageId": str(len(self.published))}


# ------------------------------------------------------------------------------------------- events


def rest_event(
    method: str,
    path: str,
    resource: str,
    path_parameters: Mapping[str, str],
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    request_id: str = "req-1",
    user_arn: str = f"arn:aws:iam::{ACCOUNT}:user/tester",
) -> dict[str, Any]:
    """An API Gateway REST proxy event; a dict or list body is sent as JSON."""
    given, body = _json_body(dict(headers or {}), body, "Content-Type")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": given,
        "multiValueHeaders": {k: [v] for k, v in given.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": dict(path_parameters),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": request_id,
            "accountId": ACCOUNT,
            "apiId": "a1b2c3d4e5",
            "identity": {"sourceIp": "203.0.113.7", "userArn": user_arn, "caller": "AIDATESTER"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def s3_event(bucket: str, *keys: str, version_id: str | None = None, size: int = 10) -> dict[str, Any]:
    """S3's ObjectCreated notification for `keys` (form-encoded, as S3 sends them)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-23T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "etag",
                        **({"versionId": version_id} if version_id else {}),
                        "sequencer": f"{i:016X}",
                    },
                },
            }
            for i, key in enumerate(keys)
        ]
    }


def _json_body(headers: dict[str, str], body: Any, content_type: str) -> tuple[dict[str, str], Any]:
    """A dict or list body sent as JSON, with its content type (under the header name the event uses)."""
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault(content_type, "application/json")
    return headers, body


def function_url_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    request_id: str = "req-1",
    user_arn: str = f"arn:aws:iam::{ACCOUNT}:user/tester",
) -> dict[str, Any]:
    """A Lambda function URL event (payload format 2.0, AWS_IAM auth) as Lambda sends it: lower-case
    headers, the caller under requestContext.authorizer.iam
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads)."""
    given, body = _json_body({k.lower(): v for k, v in (headers or {}).items()}, body, "content-type")
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": given,
        "queryStringParameters": dict(query) if query else None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "urlid0123456789",
            "authorizer": {
                "iam": {
                    "accessKey": "AKIATESTER",
                    "accountId": ACCOUNT,
                    "callerId": "AIDATESTER",
                    "userArn": user_arn,
                    "userId": "AIDATESTER",
                }
            },
            "domainName": "urlid0123456789.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "urlid0123456789",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795435200000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
