"""What AWS checks for one request: the action by its IAM name, on the resource's ARN, with condition keys.

moto matches DynamoDB, SNS, Step Functions, Lambda, ECS RunTask, CloudWatch Logs stream and EC2
security-group rule requests against resource `*`; here each is matched against its ARN (table,
index, topic, state machine, execution, function, task definition, log stream, security group). A
TransactWriteItems is authorized item by item (PutItem, UpdateItem, DeleteItem, ConditionCheckItem),
as DynamoDB does; a CopyObject also needs read on its source; a listing carries its `s3:prefix`.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

# IAM's action prefix where it differs from the SigV4 signing name.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}


@dataclass(frozen=True)
class Check:
    """One authorization AWS makes for a request: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)


def _params(response: Any) -> dict[str, Any]:
    params = getattr(response, "params", None)
    if isinstance(params, dict) and params:
        return params
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, (str, bytes)) and body:
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                return parsed
    return {k: (v[0] if isinstance(v, list) and v else v) for k, v in (response.querystring or {}).items()}


def _dynamodb_checks(action: str, params: dict[str, Any], region: str, account: str) -> list[Check]:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if action == "TransactWriteItems":
        item_actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            Check(f"dynamodb:{item_actions[kind]}", table(body["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
            if kind in item_actions
        ]
    if action == "TransactGetItems":
        return [Check("dynamodb:GetItem", table(i["Get"]["TableName"])) for i in params.get("TransactItems", [])]
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [Check(f"dynamodb:{action}", table(name)) for name in params.get("RequestItems", {})]
    if "TableName" in params:
        return [Check(f"dynamodb:{action}", table(params["TableName"], params.get("IndexName")))]
    return [Check(f"dynamodb:{action}", "*")]


def _lambda_checks(response: Any, action: str, region: str, account: str) -> list[Check]:
    uri = getattr(response, "uri_match", None) or {}
    name = urllib.parse.unquote(str(uri.get("FunctionName") or _params(response).get("FunctionName") or ""))
    iam_action = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}.get(action, action)
    if not name:
        return [Check(f"lambda:{iam_action}", "*")]
    qualifier = (response.querystring or {}).get("Qualifier", [None])[0]
    if name.startswith("arn:"):
        arn = name
    elif ":" in name:  # name:qualifier
        base, _, qualifier = name.partition(":")
        arn = f"arn:aws:lambda:{region}:{account}:function:{base}"
    else:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return [Check(f"lambda:{iam_action}", arn)]


_LOG_STREAM_ACTIONS = {"CreateLogStream", "PutLogEvents", "GetLogEvents"}


def _task_definition_arn(definition: str, region: str, account: str) -> str:
    """The ARN of the revision RunTask would run: a bare family means its latest revision, as in ECS."""
    if definition == "*" or (definition.startswith("arn:") and definition.rsplit("/", 1)[-1].count(":") == 1):
        return definition
    from moto.ecs.models import ecs_backends

    try:
        return str(ecs_backends[account][region].describe_task_definition(definition).arn)
    except Exception:  # not registered: RunTask itself refuses it, after authorization
        family = definition.rsplit("/", 1)[-1]
        return f"arn:aws:ecs:{region}:{account}:task-definition/{family}"


def normal_checks(response: Any, service: str, action: str, moto_resource: str) -> list[Check]:
    """The authorizations AWS makes for one API request of a JSON or query service."""
    region, account = response.region, response.current_account
    prefix = _IAM_PREFIX.get(service, service)
    params = _params(response)
    if service == "dynamodb":
        return _dynamodb_checks(action, params, region, account)
    if service == "sns":
        arn = params.get("TopicArn") or params.get("TargetArn") or params.get("SubscriptionArn") or "*"
        return [Check(f"sns:{action}", str(arn))]
    if service == "states":
        arn = params.get("stateMachineArn") or params.get("executionArn") or "*"
        return [Check(f"states:{action}", str(arn))]
    if service == "lambda":
        return _lambda_checks(response, action, region, account)
    group, stream = params.get("logGroupName"), params.get("logStreamName")
    if service == "logs" and action in _LOG_STREAM_ACTIONS and group and stream:
        # On the stream's ARN, which a grant on the group's ARN as CloudFormation gives it (`log-group:NAME:*`) covers.
        return [Check(f"logs:{action}", f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}")]
    if service == "ecs" and action == "RunTask":  # on its task definition (revision included), as ECS checks it
        return [Check("ecs:RunTask", _task_definition_arn(str(params.get("taskDefinition") or "*"), region, account))]
    if service == "ec2" and action in _SECURITY_GROUP_RULE_ACTIONS and params.get("GroupId"):
        # On the group's ARN: the Service Authorization Reference gives these actions the security-group resource.
        return [Check(f"ec2:{action}", f"arn:aws:ec2:{region}:{account}:security-group/{params['GroupId']}")]
    if service == "events" and action == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])} or {"default"}
        return [
            Check("events:PutEvents", b if b.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{b}")
            for b in sorted(buses)
        ]
    return [Check(f"{prefix}:{action}", moto_resource)]


_SECURITY_GROUP_RULE_ACTIONS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
)
_S3_IAM_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets",
    "ListMultipartUploads": "ListBucketMultipartUploads",
}


def s3_checks(response: Any, bucket_name: str | None, key_name: str | None) -> list[Check]:
    """S3's authorizations: the action by its IAM name, `s3:prefix` on listings, and a copy's source."""
    api_action = str(response.data.get("Action") or "")
    action = _S3_IAM_ACTIONS.get(api_action, api_action)
    if bucket_name is None:
        resource = "*"
    elif key_name:
        resource = f"arn:aws:s3:::{bucket_name}/{key_name}"
    else:
        resource = f"arn:aws:s3:::{bucket_name}"
    context: dict[str, str | list[str]] = {}
    querystring = response.querystring or {}
    if action in ("ListBucket", "ListBucketVersions"):
        context["s3:prefix"] = str((querystring.get("prefix") or [""])[0])
    checks = [Check(f"s3:{action}", resource, context)]
    source = response.headers.get("x-amz-copy-source")
    if source and action == "PutObject":
        path, _, query = urllib.parse.unquote(source).lstrip("/").partition("?")
        read = "GetObjectVersion" if "versionId=" in query else "GetObject"
        checks.append(Check(f"s3:{read}", f"arn:aws:s3:::{path}"))
    return checks
