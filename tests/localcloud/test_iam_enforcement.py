"""IAM enforcement in the local cloud, on a bare cloud: requests are authorized as AWS authorizes them
(a transaction item by item, a listing by its prefix, a copy on its source), and a function's role
is held per thread, never in the environment.

The platform's own grants, removed one at a time from the deployed stack, are tested in
tests/local/test_access_control.py.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.iam import acting_as, role_credentials


@pytest.fixture
def bare_cloud() -> Any:
    with LocalCloud.in_process() as cloud:
        yield cloud


def _role_client(service: str, name: str, statements: list[dict[str, Any]]) -> Any:
    """A client signing as a fresh role that holds exactly `statements`."""
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name, PolicyName="only", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )
    credentials = role_credentials("123456789012", arn, name)
    factory: Any = boto3.client  # the stubs type client() per service literal; this takes any name
    return factory(
        service,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )


def test_a_transaction_is_authorized_item_by_item(bare_cloud: LocalCloud) -> None:
    """https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html"""
    dynamodb = boto3.client("dynamodb")
    table = dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "old"}})
    writer = _role_client("dynamodb", "writer", [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table}])
    items = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}},
        {"Delete": {"TableName": "t", "Key": {"pk": {"S": "old"}}}},
    ]
    with pytest.raises(writer.exceptions.ClientError) as refused:
        writer.transact_write_items(TransactItems=items)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:DeleteItem on resource: " + table in str(refused.value)
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"pk": {"S": "new"}}), "nothing of it was written"
    writer.put_item(TableName="t", Item={"pk": {"S": "single"}})  # the ARN-scoped grant itself works
    other = _role_client("dynamodb", "other", [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": table + "-x"}])
    with pytest.raises(other.exceptions.ClientError, match="dynamodb:GetItem"):
        other.get_item(TableName="t", Key={"pk": {"S": "old"}})


def test_listing_is_held_to_its_prefix_and_a_copy_needs_read_on_its_source(bare_cloud: LocalCloud) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="capture/a", Body=b"a")
    s3.put_object(Bucket="data", Key="secret/b", Body=b"b")
    reader = _role_client(
        "s3",
        "reader",
        [
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::data",
                "Condition": {"StringLike": {"s3:prefix": ["capture/*"]}},
            },
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/copies/*"},
        ],
    )
    assert [o["Key"] for o in reader.list_objects_v2(Bucket="data", Prefix="capture/")["Contents"]] == ["capture/a"]
    for prefix in ("secret/", ""):
        with pytest.raises(reader.exceptions.ClientError, match="AccessDenied"):
            reader.list_objects_v2(Bucket="data", Prefix=prefix)
    with pytest.raises(reader.exceptions.ClientError, match="AccessDenied"):
        reader.copy_object(Bucket="data", Key="copies/b", CopySource={"Bucket": "data", "Key": "secret/b"})
    reader.put_object(Bucket="data", Key="copies/own", Body=b"mine")


def test_credentials_are_per_thread_never_through_the_environment(bare_cloud: LocalCloud) -> None:
    """A harness client used while a function's role is active on another thread keeps the operator."""
    iam = boto3.client("iam")
    arn = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    credentials = role_credentials("123456789012", arn, "some-function")
    seen: dict[str, str] = {}
    inside = threading.Event()
    release = threading.Event()

    def as_function() -> None:
        with acting_as(credentials):
            seen["function"] = boto3.client("sts").get_caller_identity()["Arn"]
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=as_function)
    worker.start()
    assert inside.wait(10)
    seen["harness"] = boto3.client("sts").get_caller_identity()["Arn"]
    release.set()
    worker.join()
    assert seen["function"].endswith(":assumed-role/fn-role/some-function")
    assert ":assumed-role/" not in seen["harness"], seen["harness"]


def test_a_thread_an_invocation_starts_signs_as_the_invocations_role(bare_cloud: LocalCloud) -> None:
    """On AWS every thread of a Lambda process holds the function's credentials. Here the functions of
    one handler module share its clients (bound to whichever role created them), so a worker thread
    (the validation reduce's parallel copies) must take the role of the invocation that started it,
    not the client's: it did not, and the reduce's copies were denied as another function's role."""
    from concurrent.futures import ThreadPoolExecutor

    iam = boto3.client("iam")
    creator = role_credentials(
        "123456789012", iam.create_role(RoleName="plan", AssumeRolePolicyDocument="{}")["Role"]["Arn"], "plan"
    )
    reducer = role_credentials(
        "123456789012", iam.create_role(RoleName="reduce", AssumeRolePolicyDocument="{}")["Role"]["Arn"], "reduce"
    )
    with acting_as(creator):
        shared = boto3.client("sts")  # created in the plan's invocation, bound to its role
    with acting_as(reducer), ThreadPoolExecutor(max_workers=2) as pool:
        on_workers = list(pool.map(lambda _: shared.get_caller_identity()["Arn"], range(4)))
    assert all(arn.endswith(":assumed-role/reduce/reduce") for arn in on_workers), on_workers
    outside = threading.Thread(target=lambda: on_workers.append(boto3.client("sts").get_caller_identity()["Arn"]))
    outside.start()
    outside.join()
    assert ":assumed-role/" not in on_workers[-1], "a thread started by the harness keeps the operator"
