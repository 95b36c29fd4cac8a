"""ResultWriter: a Map Run's child executions exported to S3 in Step Functions' layout.

moto writes only a `manifest.json` listing no files. Step Functions writes, under
`<Prefix>/<map run id>/`, one file per status that has executions (`SUCCEEDED_0.json`,
`FAILED_0.json`, `PENDING_0.json`: JSON arrays of execution records) and a `manifest.json` naming
them with their sizes; the Map's output is then `{"MapRunArn", "ResultWriterDetails": {"Bucket",
"Key"}}`, the key being the manifest's. A write S3 refuses fails the Map with
`States.ResultWriterFailed`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
    ResultWriter,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials

from localcloud.stepfunctions.map_failures import map_run_failure

# The manifest's groups, and the child statuses each holds (a timed-out or aborted child did not succeed).
FILE_GROUPS = {"SUCCEEDED": ("SUCCEEDED",), "FAILED": ("FAILED", "TIMED_OUT", "ABORTED"), "PENDING": ("PENDING",)}


def write_results(
    env: Any, result_writer: Any, map_run_arn: str, records: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Write each status group's records and the manifest; the Map's output pointing at it."""
    result_writer.parargs.eval(env=env)
    parameters = env.stack.pop()
    result_writer.resource.eval(env=env)
    region = env.stack.pop().region
    # the module's own name, which the local cloud's IAM replaces to sign as the execution's role
    client = resource_eval_s3.boto_client_for(
        region=region, service="s3", state_credentials=StateCredentials(role_arn=env.aws_execution_details.role_arn)
    )
    bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{map_run_arn.rsplit(':', maxsplit=1)[-1]}/"
    manifest_key = f"{folder}manifest.json"
    files: dict[str, list[dict[str, Any]]] = {}
    try:
        for group, statuses in FILE_GROUPS.items():
            members = [record for status, record in records if status in statuses]
            files[group] = []
            if members:
                body = json.dumps(members).encode("utf-8")
                key = f"{folder}{group}_0.json"
                client.put_object(Bucket=bucket, Key=key, Body=body)
                files[group].append({"Key": key, "Size": len(body)})
        manifest = {
            "DestinationBucket": bucket,
            "MapRunArn": map_run_arn,
            "ResultFiles": {group: files[group] for group in ("FAILED", "PENDING", "SUCCEEDED")},
        }
        client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode("utf-8"))
    except ClientError as error:
        raise map_run_failure(
            env, StatesErrorNameType.StatesResultWriterFailed, f"putObject to s3://{bucket}/{folder}: {error}"
        ) from error
    return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}


def _written(self: Any, env: Any) -> None:
    """The ResultWriter's own step, after the run: the run (`map_run`) already wrote the results, its
    Parameters evaluated on the Map's input (a `Prefix.$` path included), and its output passes
    through. moto would evaluate the Parameters again, on that output, where a path finds nothing."""


_original_eval_body = ResultWriter._eval_body


def install() -> None:
    ResultWriter._eval_body = _written


def uninstall() -> None:
    ResultWriter._eval_body = _original_eval_body
