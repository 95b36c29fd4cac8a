"""Which deployment a command talks to: the stack outputs (from `cdk deploy --outputs-file`, or the
local cloud's `.local/outputs.json`) or a stack looked up by name, and which endpoint answers."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

DEFAULT_OUTPUTS = Path(".local/outputs.json")
LOCAL_ENDPOINT_KEY = "LocalCloudEndpoint"


class TargetError(RuntimeError):
    """No deployment could be found; the message says how to name one."""


@dataclass
class Target:
    outputs: dict[str, str]
    endpoint_url: str | None = None
    region: str | None = None
    _session: Any = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        return self._session.client(service, endpoint_url=self.endpoint_url)

    def resource(self, service: str) -> Any:
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        return self._session.resource(service, endpoint_url=self.endpoint_url)

    def credentials(self) -> Any:
        """The credentials the AWS calls use, for signing API requests."""
        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        credentials = self._session.get_credentials()
        if credentials is None:
            raise TargetError("no AWS credentials found: the registry API needs signed requests")
        return credentials.get_frozen_credentials()

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise TargetError(f"the stack has no output {name!r}; is it deployed from this version?") from None


def find_target(outputs_file: Path | None, stack: str | None, endpoint_url: str | None) -> Target:
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if stack:
        cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region)
        try:
            described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except Exception as error:
            raise TargetError(f"cannot describe stack {stack!r}: {error}") from error
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return Target(outputs, endpoint, region)
    path = outputs_file or DEFAULT_OUTPUTS
    if not path.exists():
        raise TargetError(
            f"no stack outputs at {path}: start the local cloud with `make up`, pass --outputs FILE "
            "(from `cdk deploy --outputs-file`), or --stack NAME"
        )
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or not document:
        raise TargetError(f"{path} holds no stack outputs")
    if len(document) > 1:
        raise TargetError(f"{path} holds several stacks ({', '.join(document)}); pass --stack NAME")
    outputs = dict(next(iter(document.values())))
    # The local cloud adds where it answers; a file from `cdk deploy` has no such key.
    endpoint = endpoint or outputs.get(LOCAL_ENDPOINT_KEY)
    return Target(outputs, endpoint, region)
