"""CDK's own custom-resource providers written for Node.js, which the local Lambda runtime (Python)
cannot run: a Python stand-in per custom-resource type, making the calls the provider's handler makes
and answering CloudFormation as it does.

moto creates the provider's function (a Node.js runtime, handler `__entrypoint__.handler`) and sends
it the custom resource's event; run as it is, the handler is not found, no answer ever reaches the
stack and the deploy waits until it times out. With a stand-in, the function's invocation runs it
instead, with the function's role (IAM enforced), and a failed call fails the stack naming it.

- `Custom::VpcRestrictDefaultSG` (`ec2.Vpc(restrict_default_security_group=True)`): on Create, the
  VPC's default security group loses its default rules (ingress from itself, egress to 0.0.0.0/0,
  all protocols; a rule already gone is no error); on Delete they are granted back; on Update to
  another group, the old one gets them back and the new one loses them (aws-cdk,
  packages/@aws-cdk/custom-resource-handlers/lib/aws-ec2/restrict-default-security-group-handler).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

StandIn = Callable[[dict[str, Any]], dict[str, Any]]


def _ingress(group: str, account: str) -> dict[str, Any]:
    return {
        "GroupId": group,
        "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group, "UserId": account}]}],
    }


def _egress(group: str) -> dict[str, Any]:
    return {"GroupId": group, "IpPermissions": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}


def _revoke(ec2: Any, group: str, account: str) -> None:
    for call, rule in (
        (ec2.revoke_security_group_egress, _egress(group)),
        (ec2.revoke_security_group_ingress, _ingress(group, account)),
    ):
        try:
            call(**rule)
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidPermission.NotFound":
                raise


def _authorize(ec2: Any, group: str, account: str) -> None:
    ec2.authorize_security_group_ingress(**_ingress(group, account))
    ec2.authorize_security_group_egress(**_egress(group))


def restrict_default_security_group(event: dict[str, Any]) -> dict[str, Any]:
    properties = event["ResourceProperties"]
    group, account = properties["DefaultSecurityGroupId"], properties["Account"]
    ec2 = boto3.client("ec2")
    if event["RequestType"] == "Create":
        _revoke(ec2, group, account)
    elif event["RequestType"] == "Delete":
        _authorize(ec2, group, account)
    else:
        old = event.get("OldResourceProperties", {}).get("DefaultSecurityGroupId")
        if old and old != group:
            _authorize(ec2, old, account)
            _revoke(ec2, group, account)
    return {}


STAND_INS: dict[str, StandIn] = {"Custom::VpcRestrictDefaultSG": restrict_default_security_group}


def stand_in_for(runtime: str | None, event: Any) -> Callable[[Any, Any], None] | None:
    """The handler to run instead of a Node.js provider's, for the event of a type stood in for here."""
    if not (runtime or "").startswith("nodejs") or not isinstance(event, dict):
        return None
    stand_in = STAND_INS.get(str(event.get("ResourceType")))
    if stand_in is None or "ResponseURL" not in event:
        return None

    def handler(request: dict[str, Any], context: Any) -> None:
        """Run the stand-in, then answer CloudFormation on the event's response URL, as CDK's providers do."""
        answer = {
            "StackId": request["StackId"],
            "RequestId": request["RequestId"],
            "LogicalResourceId": request["LogicalResourceId"],
            "PhysicalResourceId": request.get("PhysicalResourceId") or request["LogicalResourceId"],
        }
        try:
            data = stand_in(request)
            answer |= {"Status": "SUCCESS", "Data": data}
        except ClientError as error:
            answer |= {"Status": "FAILED", "Reason": f"{error.response['Error']['Code']}: {error}"}
        body = json.dumps(answer).encode()
        put = urllib.request.Request(request["ResponseURL"], data=body, method="PUT")
        urllib.request.urlopen(put)

    return handler
