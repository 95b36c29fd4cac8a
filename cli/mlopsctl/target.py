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
OUTPUTS_VARIABLE = "MLOPS_OUTPUTS"  # one setting for a shell: `export MLOPS_OUTPUTS=<state dir>/outputs.json`
LOCAL_ENDPOINT_KEY = "LocalCloudEndpoint"
# Where the local cloud's gateway and function URLs answer, not execute-api or lambda-url.
API_OUTPUTS = ("ApiUrl", "PredictUrlTemplate", "PredictFunctionUrl")


class TargetError(RuntimeError):
    """No deployment could be found; the message says how to name one."""


@dataclass
class Target:
    outputs: dict[str, str]
    endpoint_url: str | None = None
    region: str | None = None
    _session: Any = field(default=None, repr=False)
    # Why the API outputs cannot be used (a stack looked up in the local cloud whose gateway is unknown).
    api_problem: str | None = None

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
        if name in API_OUTPUTS and self.api_problem:
            raise TargetError(self.api_problem)
        try:
            return self.outputs[name]
        except KeyError:
            raise TargetError(f"the stack has no output {name!r}; is it deployed from this version?") from None


def outputs_path(outputs_file: Path | None) -> tuple[Path, str]:
    """The outputs file to read, and where that choice came from (for messages)."""
    if outputs_file is not None:
        return outputs_file, "--outputs"
    if os.environ.get(OUTPUTS_VARIABLE):
        return Path(os.environ[OUTPUTS_VARIABLE]), f"${OUTPUTS_VARIABLE}"
    return DEFAULT_OUTPUTS, "the default"


def _read_outputs(path: Path) -> dict[str, dict[str, str]]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or not document:
        raise TargetError(f"{path} holds no stack outputs")
    return {str(name): dict(outputs) for name, outputs in document.items()}


def find_target(outputs_file: Path | None, stack: str | None, endpoint_url: str | None) -> Target:
    """The deployment: `--stack NAME` (described through CloudFormation), else the outputs file
    (`--outputs`, then $MLOPS_OUTPUTS, then .local/outputs.json)."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    path, source = outputs_path(outputs_file)
    if stack:
        return _stack_target(stack, endpoint, region, path if path.exists() else None)
    if not path.exists():
        raise TargetError(
            f"no stack outputs at {path} ({source}): start the local cloud with `make up` (with `--state-dir DIR`, "
            f"`export {OUTPUTS_VARIABLE}=DIR/outputs.json`), pass --outputs FILE (from `cdk deploy --outputs-file`), "
            "or --stack NAME"
        )
    document = _read_outputs(path)
    if len(document) > 1:
        raise TargetError(f"{path} holds several stacks ({', '.join(document)}); pass --stack NAME")
    outputs = next(iter(document.values()))
    # The local cloud adds where it answers; a file from `cdk deploy` has no such key.
    endpoint = endpoint or outputs.get(LOCAL_ENDPOINT_KEY)
    return Target(outputs, endpoint, region)


def _stack_target(stack: str, endpoint: str | None, region: str, outputs_file: Path | None) -> Target:
    """A stack described by name. In the local cloud (an endpoint URL is set) its API answers at the
    local gateway, not at the execute-api URL CloudFormation reports: that comes from the outputs file
    the local cloud wrote for the same stack, or the API commands say how to name it."""
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region)
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as error:
        raise TargetError(f"cannot describe stack {stack!r}: {error}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    if not endpoint or ".amazonaws.com" not in outputs.get("ApiUrl", ".amazonaws.com"):
        return Target(outputs, endpoint, region)
    local = _read_outputs(outputs_file).get(stack) if outputs_file is not None else None
    if local is not None and local.get(LOCAL_ENDPOINT_KEY, endpoint).rstrip("/") == endpoint.rstrip("/"):
        outputs.update({key: local[key] for key in API_OUTPUTS if key in local})
        return Target(outputs, endpoint, region)
    problem = (
        f"stack {stack!r} is in the local cloud at {endpoint}, whose API answers at the local gateway, not at "
        f"{outputs.get('ApiUrl')}: pass --outputs <state dir>/outputs.json (the file `make up` writes; it names "
        f"the gateway) or `export {OUTPUTS_VARIABLE}=<state dir>/outputs.json`"
    )
    return Target(outputs, endpoint, region, api_problem=problem)
