"""An AWS_IAM route answers only signers whose identity policies allow `execute-api:Invoke` on the
method: another signer gets API Gateway's 403 naming the user, the action and the resource.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.cloud import LocalCloud
from localcloud.deploy import DeployedStack
from localcloud.iam import role_credentials

OPERATOR = Credentials("testing", "testing")


def _role(name: str, statements: list[dict[str, Any]]) -> Credentials:
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=document)
    return role_credentials("123456789012", arn, name)


def _signed_get(url: str, credentials: Credentials) -> tuple[int, Any]:
    signing = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(signing)
    request = urllib.request.Request(url, headers=dict(signing.headers.items()))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_only_a_signer_allowed_to_invoke_the_method_reaches_it(probe_cloud: tuple[LocalCloud, DeployedStack]) -> None:
    cloud, stack = probe_cloud
    api_id = stack.outputs["ApiId"]
    url = cloud.serve_api(api_id).url("test") + "/admin"
    assert _signed_get(url, OPERATOR)[0] == 200  # the operator is an administrator
    method = f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/test/GET/admin"
    allowed = _role("admin-caller", [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": method}])
    assert _signed_get(url, allowed)[0] == 200
    other = _role("other-caller", [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}])
    status, body = _signed_get(url, other)
    assert status == 403
    assert body["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/other-caller/other-caller is not authorized to perform: "
        f"execute-api:Invoke on resource: {method}"
    )
