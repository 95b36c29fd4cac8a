"""The local cloud in server mode: a moto server that handlers, boto3 and curl reach over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import boto3
import pytest

from localcloud.cloud import LocalCloud, LocalCloudError
from localcloud.deploy import Synthesized


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_handlers_reach_the_server_through_its_endpoint(probe_synth: Synthesized, tmp_path: Path) -> None:
    port = _free_port()
    with LocalCloud.server(port=port, inbox_path=tmp_path / "inbox.jsonl") as cloud:
        stack = cloud.deploy(probe_synth)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
        bucket = stack.outputs["BucketName"]
        s3.put_object(Bucket=bucket, Key="in/over-http.csv", Body=b"1")
        cloud.settle()
        # The handler wrote this through AWS_ENDPOINT_URL, i.e. over HTTP to the same server.
        assert s3.get_object(Bucket=bucket, Key="out/over-http.csv.seen")["Body"].read() == b"hello from the probe"


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalCloudError, match=f"port {port} on 127.0.0.1 is busy"), LocalCloud.server(port=port):
            pass
