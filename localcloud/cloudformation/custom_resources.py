"""CloudFormation custom resources: the event a handler gets, and the answer it sends back.

CloudFormation sends a custom resource's properties as strings and waits for the handler to PUT its
result to a pre-signed S3 URL; moto passes JSON types and ignores a failure. The local Lambda runtime
reshapes the event (`as_cloudformation_sends`), keeps the handler's PUT instead of sending it
(`capture_cfn_response`), and hands the answer to moto's stack, a failure included
(`deliver_cfn_response`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.cloudformation.models import cloudformation_backends

from localcloud.cloudformation.registration import stack_creation_lock

log = logging.getLogger(__name__)


def as_cloudformation_sends(event: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation sends custom-resource properties as strings; moto passes JSON types."""

    def stringify(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, dict):
            return {k: stringify(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stringify(v) for v in value]
        return value

    event = dict(event)
    for key in ("ResourceProperties", "OldResourceProperties"):
        if key in event:
            event[key] = {k: (v if k == "ServiceToken" else stringify(v)) for k, v in event[key].items()}
    return event


@contextlib.contextmanager
def capture_cfn_response(capture: dict[str, Any]) -> Iterator[None]:
    """Custom-resource handlers PUT their result to a pre-signed URL; keep it instead of sending it."""
    import urllib.request

    real_urlopen = urllib.request.urlopen

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> Any:
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        if "cfnresponse" in url:
            data: Any = request.data if isinstance(request, urllib.request.Request) else kwargs.get("data")
            capture["body"] = json.loads(data.decode() if isinstance(data, bytes) else str(data))
            return io.BytesIO(b"")
        return real_urlopen(request, *args, **kwargs)

    urllib.request.urlopen = urlopen  # type: ignore[assignment]
    try:
        yield
    finally:
        urllib.request.urlopen = real_urlopen


def deliver_cfn_response(fn: LambdaFunction, capture: dict[str, Any]) -> None:
    """Hand the custom resource's answer to moto's stack, including failures moto would ignore."""
    body = capture["body"]
    backend = cloudformation_backends[fn.account_id][fn.region]
    stack = backend.get_stack(body["StackId"])
    if body.get("Status") == "SUCCESS":
        stack.get_custom_resource(body["LogicalResourceId"]).set_data(body.get("Data") or {})
        with stack_creation_lock:  # after moto's own creation pass, never beside it
            stack.verify_readiness()
    else:
        reason = body.get("Reason") or "custom resource failed"
        log.error("custom resource %s failed: %s", body.get("LogicalResourceId"), reason)
        stack.status = "CREATE_FAILED"
        stack.status_reason = f"{body.get('LogicalResourceId')}: {reason}"
