"""Synthesize the CDK app and deploy the template into moto as `cdk deploy` would into AWS.

`cdk deploy` bootstraps (an SSM version parameter and an asset bucket), publishes assets, then
creates a CloudFormation stack. The same steps run here against moto. Resource types that moto's
CloudFormation skips are created through moto's own APIs (see localcloud.cloudformation), so a user finds them
with the AWS CLI as on AWS; a type the local cloud cannot create is named in a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json

from localcloud import cloudformation, lambda_
from localcloud.session import AwsSession

log = logging.getLogger(__name__)

BOOTSTRAP_QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "30"
# Context that makes the synthesized template runnable here: no Docker bundling, asset paths that
# point at the source directories (as SAM CLI does), and asset metadata on every resource.
LOCAL_SYNTH_CONTEXT: dict[str, Any] = {
    "aws:cdk:bundling-stacks": [],
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:disable-asset-staging": True,
}

if TYPE_CHECKING:  # importing aws_cdk starts CDK's Node.js kernel; only synthesize() needs it
    import aws_cdk as cdk

AppFactory = Callable[..., "tuple[cdk.App, cdk.Stack]"]


class DeployError(RuntimeError):
    """The template could not be synthesized or deployed; the message says which resource and why."""


@dataclass
class Synthesized:
    """A synthesized stack: its template and the assets `cdk deploy` would publish."""

    stack_name: str
    template: dict[str, Any]
    assets: dict[str, Any]
    outdir: Path


@dataclass
class DeployedStack:
    stack_name: str
    stack_id: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    template: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def function_name(self, logical_prefix: str) -> str:
        """The physical name of the one Lambda function whose logical id starts with `logical_prefix`."""
        return self._one("AWS::Lambda::Function", logical_prefix)

    def resource(self, resource_type: str, logical_prefix: str) -> str:
        return self._one(resource_type, logical_prefix)

    def _one(self, resource_type: str, logical_prefix: str) -> str:
        matches = [
            self.physical_ids[logical]
            for logical, body in self.template["Resources"].items()
            if body["Type"] == resource_type and logical.startswith(logical_prefix) and logical in self.physical_ids
        ]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} {resource_type} resources start with {logical_prefix!r}")
        return matches[0]


def synthesize(app_factory: AppFactory, context: dict[str, Any] | None = None) -> Synthesized:
    """Build the app in-process (no Docker, no CDK CLI) and return its one stack's template and assets.

    The caller names the app (as cdk.json names it for the CDK CLI): the local cloud deploys any."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    outdir = tempfile.mkdtemp(prefix="cdk-local-")
    try:
        app, stack = app_factory(context={**LOCAL_SYNTH_CONTEXT, **(context or {})}, outdir=outdir)
        assembly = app.synth()
    except Exception as exc:
        raise DeployError(f"cdk synth failed: {exc}") from exc
    artifact = assembly.get_stack_by_name(stack.stack_name)
    assets_path = Path(outdir) / f"{artifact.id}.assets.json"
    assets = json.loads(assets_path.read_text()) if assets_path.exists() else {"files": {}}
    return Synthesized(stack_name=stack.stack_name, template=artifact.template, assets=assets, outdir=Path(outdir))


def synthesize_in_subprocess(outdir: Path, app: str) -> Synthesized:
    """Synthesize `app` ("package.module:factory") in a child process, so a long-lived parent never
    hosts CDK's Node.js kernel.

    The kernel is a child of whichever process imports aws_cdk; a Ctrl-C reaches it too, and its
    shutdown hook then fails noisily in the parent.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    code = (
        "import importlib, json, sys; from localcloud.deploy import synthesize; "
        "module, _, factory = sys.argv[2].partition(':'); "
        "s = synthesize(getattr(importlib.import_module(module), factory)); "
        "out = sys.argv[1]; "
        "open(f'{out}/{s.stack_name}.template.json', 'w').write(json.dumps(s.template)); "
        "open(f'{out}/{s.stack_name}.assets.json', 'w').write(json.dumps(s.assets)); print(s.stack_name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(outdir), app],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
    )
    if result.returncode != 0:
        raise DeployError(f"cdk synth failed:\n{result.stderr.strip()[-4000:]}")
    return load_synthesized(outdir / f"{result.stdout.strip().splitlines()[-1]}.template.json")


def load_synthesized(template_path: Path) -> Synthesized:
    """A template written by `cdk synth` (cdk.out/<stack>.template.json) with its asset manifest."""
    if not template_path.exists():
        raise DeployError(f"no synthesized template at {template_path}: run `make synth` first")
    try:
        template = json.loads(template_path.read_text())
    except json.JSONDecodeError as exc:
        raise DeployError(f"{template_path} is not a CloudFormation template: line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise DeployError(f"{template_path} is not a CloudFormation template: it has no Resources section")
    stack_name = template_path.name.removesuffix(".template.json")
    assets_path = template_path.with_name(f"{stack_name}.assets.json")
    assets = json.loads(assets_path.read_text()) if assets_path.exists() else {"files": {}}
    return Synthesized(stack_name=stack_name, template=template, assets=assets, outdir=template_path.parent)


def bootstrap(session: AwsSession) -> str:
    """What `cdk bootstrap` leaves behind that a CDK template needs: the version parameter, the asset bucket."""
    session.client("ssm").put_parameter(
        Name=f"/cdk-bootstrap/{BOOTSTRAP_QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    bucket = f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{session.account_id}-{session.region}"
    s3 = session.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if session.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": session.region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**kwargs)
    return bucket


def publish_assets(session: AwsSession, synthesized: Synthesized) -> None:
    """Zip and upload every file asset, and tell the Lambda runtime where each zip's source lives."""
    s3 = session.client("s3")
    for asset_hash, asset in synthesized.assets.get("files", {}).items():
        source = synthesized.outdir / asset["source"]["path"]  # absolute paths stay as they are
        packaging = asset["source"].get("packaging", "file")
        if packaging == "zip" or source.is_dir():
            body = _zip_directory(source)
            lambda_.register_code(hashlib.sha256(body).hexdigest(), source)
        elif source.exists():
            body = source.read_bytes()
        else:
            log.warning("asset %s (%s) has no source at %s; skipped", asset_hash, asset.get("displayName"), source)
            continue
        for destination in asset.get("destinations", {}).values():
            bucket = _substitute(destination["bucketName"], session)
            s3.put_object(Bucket=bucket, Key=_substitute(destination["objectKey"], session), Body=body)


def deploy(session: AwsSession, synthesized: Synthesized, *, timeout_s: float = 120.0) -> DeployedStack:
    """Create the stack in moto and wait for it; types moto's CloudFormation lacks come from cloudformation."""
    cloudformation.register(session)
    bootstrap(session)
    publish_assets(session, synthesized)
    cfn = session.client("cloudformation")
    _refuse_logging_configs(synthesized.template)
    existing = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == synthesized.stack_name]
    if any(s["StackStatus"] != "DELETE_COMPLETE" for s in existing):
        raise DeployError(f"a stack named {synthesized.stack_name} already exists in this local cloud")
    try:
        stack_id = cfn.create_stack(
            StackName=synthesized.stack_name,
            TemplateBody=json.dumps(synthesized.template),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )["StackId"]
    except Exception as exc:
        raise DeployError(f"CloudFormation rejected the template: {exc}") from exc
    _wait_for_stack(cfn, stack_id, timeout_s)
    resources = cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("PhysicalResourceId")}
    stack = cloudformation_backends[session.account_id][session.region].get_stack(stack_id)
    parsed = stack.resource_map._parsed_resources
    warnings = []
    for logical, body in synthesized.template["Resources"].items():
        resource = parsed.get(logical)
        if resource is None and body["Type"] not in _NO_RESOURCE_TYPES:
            warnings.append(f"{logical} ({body['Type']}) is not supported by the local cloud: it exists only on AWS")
        elif hasattr(resource, "physical_resource_id"):
            physical.setdefault(logical, resource.physical_resource_id)
    _supplement_functions(stack, synthesized.template, physical)
    description = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    for warning in warnings:
        log.warning(warning)
    return DeployedStack(
        stack_name=synthesized.stack_name,
        stack_id=stack_id,
        outputs=outputs,
        physical_ids=physical,
        template=synthesized.template,
        warnings=warnings,
    )


# ---------------------------------------------------------------------------------------------
def _wait_for_stack(cfn: Any, stack_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return
        if status.endswith("FAILED") or status.startswith("ROLLBACK"):
            raise DeployError(f"stack {stack['StackName']} {status}: {stack.get('StackStatusReason', 'no reason')}")
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack['StackName']} still {status} after {timeout_s:.0f} s")
        time.sleep(0.05)


def _zip_directory(source: Path) -> bytes:
    """A deterministic zip of a directory (sorted entries, fixed timestamps), like CDK's asset zips."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(str(path.relative_to(source)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _substitute(text: str, session: AwsSession) -> str:
    return (
        text.replace("${AWS::AccountId}", session.account_id)
        .replace("${AWS::Region}", session.region)
        .replace("${AWS::Partition}", "aws")
    )


# Template entries that are not resources moto should create.
_NO_RESOURCE_TYPES = {"AWS::CDK::Metadata"}


def _refuse_logging_configs(template: dict[str, Any]) -> None:
    """A function's LoggingConfig that Lambda refuses fails the deploy, as its resource would on AWS
    (moto keeps no LoggingConfig and would accept it)."""
    for logical, body in template["Resources"].items():
        if body["Type"] != "AWS::Lambda::Function":
            continue
        try:
            lambda_.LoggingConfig.from_properties(body.get("Properties", {}).get("LoggingConfig"))
        except lambda_.LoggingConfigError as exc:
            raise DeployError(f"{logical} (AWS::Lambda::Function): {exc}") from exc


def _supplement_functions(stack: Any, template: dict[str, Any], physical: dict[str, str]) -> None:
    """Tell the Lambda runtime each function's log group and dead-letter target, which moto drops."""
    for logical, body in template["Resources"].items():
        if body["Type"] != "AWS::Lambda::Function" or logical not in physical:
            continue
        props = clean_json(body.get("Properties", {}), stack.resource_map)
        extras = lambda_.FunctionSupplement(
            log_group=(props.get("LoggingConfig") or {}).get("LogGroup"),
            dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
            logging=lambda_.LoggingConfig.from_properties(props.get("LoggingConfig")),
        )
        lambda_.supplement(physical[logical], extras)
