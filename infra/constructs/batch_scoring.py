"""Batch scoring: files dropped under `batch/<model>/` in the raw bucket, scored with the same
onnxruntime session code as the predict API, chunk by chunk; a file past a configured size is scored
in parts by the batch scoring state machine (issue #20):

plan -> (gzip: split into plain pieces) -> Distributed Map: count each slice's rows -> number the
parts -> Distributed Map: score each item's parts -> finish (`_SUCCESS.json`, or `_FAILED.json`
naming the part). Every step's error is caught and handed to the finish, which fails the file
naming it, and the execution then fails (alarmed). Payloads carry keys and counts; slices, items
and figures travel through the run's work folder in the artifacts bucket (`batch-work/`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.alerts import SERVING_SERVICE
from infra.constructs.platform_function import PlatformFunction
from infra.constructs.serving import SERVED_ARTIFACTS
from infra.constructs.shared_resources import SharedResources
from infra.constructs.work_maps import acknowledge_work_machine, step_invoke, work_map
from infra.grants import grant_objects
from infra.nag import acknowledge_cdk_notifications_handler
from mlops.names import BATCH_PREFIX, BATCH_WORK_PREFIX, MODELS_PREFIX

MB = 1 << 20
# A starting size, not yet measured (ingestion's was): the function holds one model, one chunk of
# SCORING_CHUNK_ROWS rows and its predictions at a time, so memory does not grow with the file.
BATCH_SCORING_MEMORY_MB = 2048
SCORING_CHUNK_ROWS = 10_000
# The state machine's steps: (memory MB, timeout minutes). Count and score hold one chunk, as the
# batch function does; the split holds one plain piece (`slice_mb`) and one 8 MB read; the plan
# reads the file once in 8 MB ranges to find its cuts; number and finish read one small record per
# slice or item.
STEPS = {
    "plan": (1769, 15),
    "split": (1769, 15),
    "count": (1769, 15),
    "number": (1024, 15),
    "score": (BATCH_SCORING_MEMORY_MB, 15),
    "finish": (1024, 15),
}
# Outputs beside the input: batch/<model>/<stem>.predictions/...
OUTPUTS = f"{BATCH_PREFIX}*.predictions/"


class BatchScoring(Construct):
    """A file dropped under `batch/` in the raw bucket is scored by the model it names, chunk by chunk;
    one past `batch_scoring.parts_above_mb` by the batch scoring state machine, in parts.

    S3 invokes the function asynchronously: Lambda retries a failed event twice (its default, as for
    ingestion) and then hands it to the platform's dead-letter queue, which is alarmed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources) -> None:
        super().__init__(scope, construct_id)
        data, registry, settings = shared.data, shared.registry, shared.settings.batch_scoring
        self.max_concurrency = settings.max_concurrency
        self.function = PlatformFunction(
            self,
            "Scorer",
            handler="handlers.batch_scoring.handler",
            description="Scores files uploaded under batch/ in the raw bucket and writes the predictions beside them.",
            service=SERVING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("batch_scoring"),
            log_retention=shared.log_retention,
            memory_size=BATCH_SCORING_MEMORY_MB,
            timeout=Duration.minutes(15),
            dead_letter_queue=shared.alerts.dead_letters,
            environment={
                "RAW_BUCKET": data.raw.bucket_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "REGISTRY_TABLE": registry.table.table_name,
                "SCORING_CHUNK_ROWS": str(SCORING_CHUNK_ROWS),
                "PARTS_ABOVE_BYTES": str(settings.parts_above_mb * MB),
                "GZIP_PARTS_ABOVE_BYTES": str(settings.gzip_parts_above_mb * MB),
            },
        ).function
        registry.grant_items(self.function, "dynamodb:GetItem", "dynamodb:Query")
        for artifact in SERVED_ARTIFACTS:
            grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{artifact}")
        # Outputs are written beside the input, so reading and writing share the prefix.
        # Delete: a new version of an input replaces the outputs of the previous one (stale parts, markers).
        grant_objects(self.function, data.raw, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{BATCH_PREFIX}*")
        # The function's own outputs (batch/<model>/<stem>.predictions/…) match this prefix too and so
        # notify it again; the handler recognizes them by name and returns without scoring.
        data.raw.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=BATCH_PREFIX),
        )
        acknowledge_cdk_notifications_handler(self)
        self._parts(shared)

    def _parts(self, shared: SharedResources) -> None:
        """The batch scoring state machine, its steps' functions and their grants."""
        data, registry, alerts = shared.data, shared.registry, shared.alerts
        environment = {
            "RAW_BUCKET": data.raw.bucket_name,
            "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
            "REGISTRY_TABLE": registry.table.table_name,
            "SLICE_BYTES": str(shared.settings.batch_scoring.slice_mb * MB),
        }
        self.steps: dict[str, lambda_.Function] = {}
        for step, (memory, minutes) in STEPS.items():
            function = PlatformFunction(
                self,
                f"Parts{step.title()}Function",
                handler=f"handlers.batch_parts.batch_parts_{step}",
                description=f"Batch scoring of a file in parts: {step}.",
                service=SERVING_SERVICE,
                architecture=shared.architecture,
                layers=shared.layers.for_function(f"batch_parts_{step}"),
                log_retention=shared.log_retention,
                memory_size=memory,
                timeout=Duration.minutes(minutes),
                environment=environment,
                synchronous_caller="the batch scoring state machine (which hands every error to the finish step)",
            ).function
            self.steps[step] = function
            grant_objects(function, data.artifacts, ["s3:GetObject", "s3:PutObject"], f"{BATCH_WORK_PREFIX}*")
        for reader in ("plan", "split", "count", "score"):  # the input, at the version its event named
            grant_objects(self.steps[reader], data.raw, ["s3:GetObject", "s3:GetObjectVersion"], f"{BATCH_PREFIX}*")
        for loader in ("plan", "count", "score"):  # the pinned version, by number
            registry.grant_items(self.steps[loader], "dynamodb:GetItem")
            for artifact in SERVED_ARTIFACTS:
                grant_objects(self.steps[loader], data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{artifact}")
        grant_objects(self.steps["score"], data.raw, ["s3:PutObject"], f"{OUTPUTS}part-*")
        # The markers, a header-only part for a file with no rows, and stale parts of an earlier version.
        grant_objects(self.steps["finish"], data.raw, ["s3:PutObject", "s3:DeleteObject"], f"{OUTPUTS}*")

        self.log_group = logs.LogGroup(
            self, "PartsLogs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "PartsStateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(data.artifacts)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(6),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        self.state_machine.grant_start_execution(self.function)
        self.function.add_environment("PARTS_STATE_MACHINE_ARN", self.state_machine.state_machine_arn)
        alerts.alarm(
            "BatchPartsFailed",
            self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="A batch file scored in parts failed (its _FAILED.json names the part and why).",
        )
        acknowledge_work_machine(self.state_machine, data.artifacts, BATCH_WORK_PREFIX, self.steps.values())

    def _invoke(self, step: str, name: str, payload: dict[str, object], result_path: str) -> tasks.LambdaInvoke:
        return step_invoke(self, name, self.steps[step], payload, result_path)

    def _distributed(
        self, name: str, items_key: str, field: str, step: str, artifacts: s3.IBucket
    ) -> sfn.DistributedMap:
        return work_map(
            self,
            name,
            items_key=items_key,
            item_field=field,
            function=self.steps[step],
            bucket=artifacts,
            work_prefix=BATCH_WORK_PREFIX,
            max_concurrency=self.max_concurrency,
        )

    def _definition(self, artifacts: s3.IBucket) -> sfn.IChainable:
        finish = self._invoke("finish", "Finish", {"run.$": "$.run", "state.$": "$"}, "$.outcome")
        failed = sfn.Fail(self, "Scoring failed", error="BatchScoringFailed", cause="see the file's _FAILED.json")
        finish.next(
            sfn.Choice(self, "Did a step fail?")
            .when(sfn.Condition.is_present("$.error"), failed)
            .otherwise(sfn.Succeed(self, "Scored"))
        )

        def caught(state: sfn.TaskStateBase | sfn.MapBase) -> sfn.TaskStateBase | sfn.MapBase:
            state.add_catch(finish, errors=["States.ALL"], result_path="$.error")
            return state

        plan = caught(self._invoke("plan", "Plan", {"run.$": "$.run"}, "$.plan"))
        split = caught(self._invoke("split", "Split gzip", {"run.$": "$.run"}, "$.plan"))
        count = caught(self._distributed("Count rows", "$.plan.items_key", "slice", "count", artifacts))
        number = caught(
            self._invoke("number", "Number parts", {"run.$": "$.run", "slices.$": "$.plan.slices"}, "$.number")
        )
        score = caught(self._distributed("Score parts", "$.number.items_key", "item", "score", artifacts))
        count.next(number).next(
            sfn.Choice(self, "Any rows?")
            .when(sfn.Condition.number_equals("$.number.items", 0), finish)
            .otherwise(score.next(finish))
        )
        split.next(
            sfn.Choice(self, "Split?").when(sfn.Condition.is_present("$.plan.problem.code"), finish).otherwise(count)
        )
        return plan.next(
            sfn.Choice(self, "Planned?")
            .when(sfn.Condition.is_present("$.plan.problem.code"), finish)
            .when(sfn.Condition.boolean_equals("$.plan.gzip", True), split)
            .otherwise(count)
        )
