"""A Distributed Map's items read from S3 as Step Functions reads them.

moto reads one `listObjectsV2` page (1,005 keys gave 1,000 items), crashes on a prefix that matches
nothing (the response has no `Contents`), hands the children boto3's `datetime` (which its own
DescribeExecution cannot serialise) and has no JSON Lines reader. Here the listing follows every
continuation token, an empty listing is zero items (the Map then succeeds with none), each item is
`{"Etag", "Key", "LastModified" (epoch seconds), "Size", "StorageClass"}`, a JSONL object gives one
item per line, and an S3 refusal (no such bucket or key) fails the Map with `States.ItemReaderFailed`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import resource_eval_s3
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_output_transformer.transformer import (  # noqa: E501
    ResourceOutputTransformer,
)

from localcloud.stepfunctions.map_failures import map_run_failure

Handler = Callable[[Any, Any, Any], None]
_reader = resource_eval_s3.ResourceEvalS3
_original_list: Handler = _reader._handle_list_objects_v2
_original_get: Handler = _reader._handle_get_object


def item_reader_failed(env: Any, cause: str) -> FailureEventException:
    """The error Step Functions raises when a Map cannot read its items."""
    return map_run_failure(env, StatesErrorNameType.StatesItemReaderFailed, cause)


def listed_object(entry: dict[str, Any]) -> dict[str, Any]:
    """One `listObjectsV2` entry as a child execution receives it."""
    return {
        "Etag": entry["ETag"],
        "Key": entry["Key"],
        "LastModified": int(entry["LastModified"].timestamp()),
        "Size": entry["Size"],
        "StorageClass": entry.get("StorageClass", "STANDARD"),
    }


def _list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    client = _reader._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
    parameters = dict(env.stack.pop())
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = client.list_objects_v2(**parameters)
            items.extend(listed_object(entry) for entry in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            parameters["ContinuationToken"] = page["NextContinuationToken"]
    except ClientError as error:
        raise item_reader_failed(env, f"listObjectsV2 on {parameters.get('Bucket')}: {error}") from error
    env.stack.append(items)


def _get_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    parameters = env.stack[-1]
    try:
        _original_get(env, resource_runtime_part, state_credentials)
    except ClientError as error:
        where = f"s3://{parameters.get('Bucket')}/{parameters.get('Key')}"
        raise item_reader_failed(env, f"getObject on {where}: {error}") from error


class JsonLinesTransformer(ResourceOutputTransformer):  # type: ignore[misc]
    """`InputType: JSONL`: one item per non-empty line, up to `MaxItems`."""

    def _eval_body(self, env: Any) -> None:
        reader_config = env.stack.pop()
        text: str = env.stack.pop()
        items: list[Any] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as error:
                raise item_reader_failed(env, f"line {number} is not JSON: {error}") from error
        env.stack.append(items[: reader_config["MaxItemsValue"]])


def install() -> None:
    _reader._handle_list_objects_v2 = staticmethod(_list_objects_v2)
    _reader._handle_get_object = staticmethod(_get_object)


def uninstall() -> None:
    _reader._handle_list_objects_v2 = staticmethod(_original_list)
    _reader._handle_get_object = staticmethod(_original_get)
