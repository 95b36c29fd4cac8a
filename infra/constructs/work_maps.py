"""What the validation and batch scoring state machines are built from, one way: a Lambda step with
the platform's retries, a Distributed Map over a JSON Lines item list in a run's work folder (its
reader and result writer granted on that folder only), and the cdk-nag acknowledgements such a
machine needs, each with its reason."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.platform_function import TRANSIENT_LAMBDA_ERRORS
from infra.nag import acknowledge, logical_id


class WorkItemReader(sfn.S3JsonLItemReader):
    """The item list in the run's work folder: read access to that prefix only (CDK's own reader
    grants every object of the bucket)."""

    def __init__(self, bucket: s3.IBucket, key: str, work_prefix: str) -> None:
        super().__init__(bucket=bucket, key=key)
        self._scoped = bucket
        self._work_prefix = work_prefix

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self._scoped.arn_for_objects(f"{self._work_prefix}*")]
            )
        ]


class WorkResultWriter(sfn.ResultWriter):
    """The Map's result files, under the work folder's prefix only. (`ResultWriterV2` renders nothing
    without the `useDistributedMapResultWriterV2` feature flag, which this app does not set.)"""

    def __init__(self, bucket: s3.IBucket, prefix: str, work_prefix: str) -> None:
        super().__init__(bucket=bucket, prefix=prefix)
        self._scoped = bucket
        self._work_prefix = work_prefix

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                resources=[self._scoped.arn_for_objects(f"{self._work_prefix}*")],
            )
        ]


def step_invoke(
    scope: Construct, name: str, function: lambda_.IFunction, payload: dict[str, object], result_path: str
) -> tasks.LambdaInvoke:
    """A state that invokes one step's function, retried on Lambda's transient errors."""
    task = tasks.LambdaInvoke(
        scope,
        name,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(payload),
        payload_response_only=True,
        result_path=result_path,
    )
    task.add_retry(errors=TRANSIENT_LAMBDA_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
    return task


def work_map(
    scope: Construct,
    name: str,
    *,
    items_key: str,
    item_field: str,
    function: lambda_.IFunction,
    bucket: s3.IBucket,
    work_prefix: str,
    max_concurrency: int,
    results_prefix: str | None = None,
) -> sfn.DistributedMap:
    """A Distributed Map over a JSON Lines item list the previous step wrote, one child per item,
    failing at the first failed child (ToleratedFailureCount 0). Its children's results go under
    `results_prefix` (a JSONPath expression: the run's own folder, where a later step finds the
    failed ones), by default under `<work_prefix>_map-results`."""
    each = sfn.DistributedMap(
        scope,
        name,
        item_reader=WorkItemReader(bucket, sfn.JsonPath.string_at(items_key), work_prefix),
        item_selector={"run.$": "$.run", f"{item_field}.$": "$$.Map.Item.Value"},
        max_concurrency=max_concurrency,
        tolerated_failure_count=0,
        result_writer=WorkResultWriter(bucket, results_prefix or f"{work_prefix}_map-results", work_prefix),
        result_path=sfn.JsonPath.DISCARD,
    )
    each.item_processor(
        step_invoke(scope, f"{name}: one", function, {"run.$": "$.run", f"{item_field}.$": f"$.{item_field}"}, "$"),
        mode=sfn.ProcessorMode.DISTRIBUTED,
        execution_type=sfn.ProcessorType.STANDARD,
    )
    return each


def acknowledge_work_machine(
    machine: sfn.StateMachine, bucket: s3.IBucket, work_prefix: str, functions: Iterable[lambda_.IFunction]
) -> None:
    """The wildcards CDK's grants give a state machine of work maps, each acknowledged with why."""
    acknowledge(
        machine.role,
        "AwsSolutions-IAM5[Resource::*]",
        "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing accept no "
        "resource-level permissions; AWS documents Resource '*' for them.",
    )
    executions = (
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(machine)}"}}]}}]}}'
    )
    for pattern in (":*", "/*:*"):
        acknowledge(
            machine,
            f"AwsSolutions-IAM5[Resource::{executions}{pattern}]",
            "A Distributed Map starts its children as executions of this state machine, and describes and "
            "stops them and its map runs: CDK grants exactly that on this state machine's executions, whose "
            "names are not known in advance.",
        )
    acknowledge(
        machine.role,
        f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{work_prefix}*]",
        "The Distributed Maps read their item lists from, and write their result files to, the run's work "
        "folder: granted on that prefix only (WorkItemReader, WorkResultWriter).",
    )
    for function in functions:
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
            "Invoking a function's versions and aliases needs the function ARN with ':*'; CDK grants exactly that.",
        )
