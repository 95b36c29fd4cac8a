"""Validation of a partitioned upload (issue #20): a Standard state machine that the ingest function
starts for a file past `ingestion.single_file_max_mb` or a multi-file upload's commit marker.

plan (the upload's slices, as JSON Lines) -> Distributed Map: read each slice -> cut into parts ->
Distributed Map: check each part -> Map: repeats per hash bucket -> reduce (the report at today's
key, the version with its manifest last, or the quarantine and mail). Every step's error is caught
and handed to the reduce, which rejects the upload naming it, and the execution then fails (alarmed).
Payloads carry keys and counts; records travel through the run's work folder in S3.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.platform_function import PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_listing, grant_objects
from infra.nag import acknowledge, logical_id
from mlops.names import (
    CONTRACTS_PREFIX,
    DATASETS_PREFIX,
    RAW_PREFIX,
    VALIDATION_REPORTS_PREFIX,
    VALIDATION_WORK_PREFIX,
)

MB = 1 << 20
# step: (memory MB, timeout minutes). Reading a slice and checking a part hold ~128 MB of data a few
# times over (as the ingest function holds one file): 3,008 MB, as ingest has.
STEPS = {
    "plan": (1769, 15),
    "read_slice": (3008, 15),
    "cut": (512, 5),
    "check_part": (3008, 15),
    "bucket_repeats": (1769, 5),
    "reduce": (1769, 15),
}
_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


class WorkItemReader(sfn.S3JsonLItemReader):
    """The item list in the run's work folder: read access to that prefix only (CDK's own reader
    grants every object of the bucket). The batch scoring state machine's Maps use it too."""

    def __init__(self, bucket: s3.IBucket, key: str, work_prefix: str = VALIDATION_WORK_PREFIX) -> None:
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

    def __init__(self, bucket: s3.IBucket, prefix: str, work_prefix: str = VALIDATION_WORK_PREFIX) -> None:
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


class Validation(Construct):
    """The validation state machine and the functions behind its states."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, training: sfn.IStateMachine
    ) -> None:
        super().__init__(scope, construct_id)
        data, registry, alerts, settings = shared.data, shared.registry, shared.alerts, shared.settings.ingestion
        self.max_concurrency = settings.max_concurrency
        common = {
            "RAW_BUCKET": data.raw.bucket_name,
            "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
            "CURATED_BUCKET": data.curated.bucket_name,
            "PART_BYTES": str(settings.part_mb * MB),
            "SLICE_BYTES": str(settings.slice_mb * MB),
        }
        # Every step gets every variable (one handler module serves them all, and a local cloud loads it
        # once); what a step may touch is its role's grants, below.
        reduce_only = {
            "QUARANTINE_BUCKET": data.quarantine.bucket_name,
            "REGISTRY_TABLE": registry.table.table_name,
            "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
            "TRAINING_STATE_MACHINE_ARN": training.state_machine_arn,
        }
        self.functions: dict[str, lambda_.Function] = {}
        for step, (memory, minutes) in STEPS.items():
            function = PlatformFunction(
                self,
                "".join(part.title() for part in step.split("_")) + "Function",
                handler=f"handlers.validation.validation_{step}",
                description=f"Validation of a partitioned upload: {step.replace('_', ' ')}.",
                service="ingestion",
                architecture=shared.architecture,
                layers=shared.layers.for_function(f"validation_{step}"),
                log_retention=shared.log_retention,
                memory_size=memory,
                timeout=Duration.minutes(minutes),
                environment={**common, **reduce_only},
                synchronous_caller="the validation state machine (which hands every error to the reduce step)",
            ).function
            self.functions[step] = function
            grant_objects(function, data.artifacts, ["s3:GetObject", "s3:PutObject"], f"{VALIDATION_WORK_PREFIX}*")
        plan, read_slice, reduce = (self.functions[s] for s in ("plan", "read_slice", "reduce"))
        for reader in (plan, read_slice, reduce):
            grant_objects(reader, data.raw, ["s3:GetObject", "s3:GetObjectVersion"], f"{RAW_PREFIX}*")
        for lister in (plan, reduce):  # the files of an upload folder
            grant_listing(lister, data.raw, RAW_PREFIX)
        grant_objects(plan, data.artifacts, ["s3:GetObject"], f"{CONTRACTS_PREFIX}*")
        grant_listing(plan, data.artifacts)  # "no contract" is a 404, not a denied read
        grant_objects(reduce, data.artifacts, ["s3:PutObject"], f"{VALIDATION_REPORTS_PREFIX}*")
        # The parts reach the curated bucket only through the reduce, once accepted (a server-side copy
        # from the work folder: GetObject there, granted above, and PutObject here).
        grant_objects(reduce, data.curated, ["s3:GetObject", "s3:PutObject"], f"{DATASETS_PREFIX}*")
        grant_listing(reduce, data.curated)
        grant_objects(reduce, data.quarantine, ["s3:PutObject"], "*")
        registry.grant_items(reduce, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
        alerts.grant_publish(reduce)
        training.grant_start_execution(reduce)

        self.log_group = logs.LogGroup(
            self, "Logs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(data.artifacts)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(6),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        alerts.alarm(
            "ValidationFailed",
            self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="A partitioned upload's validation failed (its report, in quarantine, and the mail say why).",
        )
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing accept no "
            "resource-level permissions; AWS documents Resource '*' for them.",
        )
        executions = (
            "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{logical_id(self.state_machine)}"}}]}}]}}'
        )
        for pattern in (":*", "/*:*"):
            acknowledge(
                self.state_machine,
                f"AwsSolutions-IAM5[Resource::{executions}{pattern}]",
                "A Distributed Map starts its children as executions of this state machine, and describes and "
                "stops them and its map runs: CDK grants exactly that on this state machine's executions, whose "
                "names are not known in advance.",
            )
        acknowledge(
            self.state_machine.role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(data.artifacts)}.Arn>/{VALIDATION_WORK_PREFIX}*]",
            "The Distributed Maps read their item lists from, and write their result files to, the run's work "
            "folder: granted on that prefix only (WorkItemReader, WorkResultWriter).",
        )
        for function in self.functions.values():
            acknowledge(
                self.state_machine.role,
                f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "Invoking a function's versions and aliases needs the function ARN with ':*'; CDK grants exactly that.",
            )

    def _invoke(self, step: str, name: str, payload: dict[str, object], result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.functions[step],
            payload=sfn.TaskInput.from_object(payload),
            payload_response_only=True,
            result_path=result_path,
        )
        task.add_retry(errors=_TRANSIENT, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
        return task

    def _distributed(
        self, name: str, items_key: str, item_field: str, step: str, artifacts: s3.IBucket
    ) -> sfn.DistributedMap:
        """A Distributed Map over a JSON Lines item list the previous step wrote, one child per item,
        failing at the first failed child (ToleratedFailureCount 0)."""
        each = sfn.DistributedMap(
            self,
            name,
            item_reader=WorkItemReader(artifacts, sfn.JsonPath.string_at(items_key)),
            item_selector={"run.$": "$.run", f"{item_field}.$": "$$.Map.Item.Value"},
            max_concurrency=self.max_concurrency,
            tolerated_failure_count=0,
            result_writer=WorkResultWriter(artifacts, f"{VALIDATION_WORK_PREFIX}_map-results"),
            result_path=sfn.JsonPath.DISCARD,
        )
        each.item_processor(
            self._invoke(step, f"{name}: one", {"run.$": "$.run", f"{item_field}.$": f"$.{item_field}"}, "$"),
            mode=sfn.ProcessorMode.DISTRIBUTED,
            execution_type=sfn.ProcessorType.STANDARD,
        )
        return each

    def _definition(self, artifacts: s3.IBucket) -> sfn.IChainable:
        reduce = self._invoke("reduce", "Reduce", {"run.$": "$.run", "state.$": "$"}, "$.outcome")
        failed = sfn.Fail(self, "Validation failed", error="ValidationFailed", cause="see the upload's report")
        after_reduce = (
            sfn.Choice(self, "Did a step fail?")
            .when(sfn.Condition.is_present("$.error"), failed)
            .otherwise(sfn.Succeed(self, "Validated"))
        )
        reduce.next(after_reduce)

        def caught(state: sfn.TaskStateBase | sfn.MapBase) -> sfn.TaskStateBase | sfn.MapBase:
            state.add_catch(reduce, errors=["States.ALL"], result_path="$.error")
            return state

        plan = caught(self._invoke("plan", "Plan", {"run.$": "$.run"}, "$.plan"))
        read = caught(self._distributed("Read slices", "$.plan.items_key", "slice", "read_slice", artifacts))
        cut = caught(self._invoke("cut", "Cut into parts", {"run.$": "$.run", "slices.$": "$.plan.slices"}, "$.cut"))
        check = caught(self._distributed("Check parts", "$.cut.items_key", "part", "check_part", artifacts))
        repeats = sfn.Map(
            self,
            "Repeats per bucket",
            items_path="$.cut.buckets",
            max_concurrency=self.max_concurrency,
            item_selector={"run.$": "$.run", "bucket.$": "$$.Map.Item.Value", "parts.$": "$.cut.parts"},
            result_path=sfn.JsonPath.DISCARD,
        )
        repeats.item_processor(
            self._invoke(
                "bucket_repeats",
                "Repeats in one bucket",
                {"run.$": "$.run", "bucket.$": "$.bucket", "parts.$": "$.parts"},
                "$",
            )
        )
        caught(repeats)
        planned = (
            sfn.Choice(self, "Planned?")
            .when(sfn.Condition.is_present("$.plan.problem.code"), reduce)
            .otherwise(
                read.next(cut).next(
                    sfn.Choice(self, "Every slice read?")
                    .when(sfn.Condition.boolean_equals("$.cut.failed", True), reduce)
                    .otherwise(check.next(repeats).next(reduce))
                )
            )
        )
        return plan.next(planned)
