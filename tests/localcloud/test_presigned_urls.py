"""Presigned S3 URLs over plain HTTP in server mode, decided as S3 decides them: the signer named in
the query must be allowed to GetObject the key, the URL dies at its expiry, and a request with no
signature is anonymous (refused by a private bucket). moto's own authorizer reads the caller from an
`Authorization` header, which a presigned URL does not send.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud.cloud import LocalCloud
from localcloud.iam import role_credentials

BUCKET, KEY = "presign-probe", "models/churn/runs/r/model.onnx"
SIGV4 = Config(signature_version="s3v4")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[LocalCloud, str]]:
    port = _free_port()
    with LocalCloud.server(port=port) as cloud:
        url = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=url)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"onnx bytes")
        yield cloud, url


def _signer(endpoint: str, name: str, actions: list[str]) -> Any:
    """An S3 client signing (SigV4) as a fresh role allowed exactly `actions` on the bucket's objects."""
    iam = boto3.client("iam", endpoint_url=endpoint)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": actions, "Resource": f"arn:aws:s3:::{BUCKET}/models/*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=policy)
    credentials = role_credentials("123456789012", arn, name)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=SIGV4,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _presign(client: Any, seconds: int = 300) -> str:
    url: str = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=seconds)
    return url


def test_a_url_signed_by_a_role_that_may_read_the_key_downloads_it_over_http(endpoint: tuple[LocalCloud, str]) -> None:
    _, url = endpoint
    signed = _presign(_signer(url, "reader", ["s3:GetObject"]))
    assert "X-Amz-Credential=" in signed and "X-Amz-Security-Token=" in signed
    assert _get(signed) == (200, b"onnx bytes")


def test_a_url_can_do_no_more_than_its_signer(endpoint: tuple[LocalCloud, str]) -> None:
    _, url = endpoint
    status, body = _get(_presign(_signer(url, "writer", ["s3:PutObject"])))
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_an_expired_url_is_refused_saying_so(endpoint: tuple[LocalCloud, str]) -> None:
    cloud, url = endpoint
    signed = _presign(_signer(url, "late-reader", ["s3:GetObject"]), seconds=60)
    cloud.advance_clock(timedelta(seconds=61))
    status, body = _get(signed)
    assert status == 403 and b"<Message>Request has expired</Message>" in body


def test_an_unsigned_request_is_anonymous_and_refused(endpoint: tuple[LocalCloud, str]) -> None:
    _, url = endpoint
    assert _get(f"{url}/{BUCKET}/{KEY}")[0] == 403


def test_a_signature_version_2_url_names_its_signer_too(endpoint: tuple[LocalCloud, str]) -> None:
    """botocore presigns with version 2 unless told otherwise; S3 still serves those in us-east-1."""
    _, url = endpoint
    signed = boto3.client("s3", endpoint_url=url).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=60
    )
    assert "AWSAccessKeyId=" in signed and _get(signed) == (200, b"onnx bytes")
