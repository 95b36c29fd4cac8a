"""Validation of a partitioned upload (issue #20): a Standard state machine that the ingest function
starts for a file past `ingestion.single_file_max_mb` or a multi-file upload's commit marker.

plan (the upload's slices, as JSON Lines) -> Distributed Map: read each slice -> cut into parts ->
Distributed Map: check each part -> Map: repeats per hash bucket -> reduce (the report at today's
key, the version with its manifest last, or the quarantine and mail). Every step's error is caught
and handed to the reduce, which rejects the upload naming it (a Map's failed child by its slice or
part, from the Map's result files), and the execution then fails (alarmed); an error of the reduce
itself is caught too, and a small step reports, mails and records the upload as not validated.
Payloads carry keys and counts; records travel through the run's work folder in S3.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.platform_function import PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.constructs.work_maps import acknowledge_work_machine, step_invoke, work_map
from infra.grants import grant_listing, grant_objects
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
    # The reduce's own failure: a report, a mail and a record, no data read.
    "record_failure": (512, 5),
}


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
        record_failure = self.functions["record_failure"]
        for reader in (plan, read_slice, reduce, record_failure):
            grant_objects(reader, data.raw, ["s3:GetObject", "s3:GetObjectVersion"], f"{RAW_PREFIX}*")
        for lister in (plan, reduce, record_failure):  # the files of an upload folder
            grant_listing(lister, data.raw, RAW_PREFIX)
        grant_listing(reduce, data.artifacts, VALIDATION_WORK_PREFIX)  # the Maps' result files of its run
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
        # The reduce's failure is reported, mailed and recorded: nothing is accepted or quarantined.
        grant_objects(record_failure, data.artifacts, ["s3:PutObject"], f"{VALIDATION_REPORTS_PREFIX}*")
        registry.grant_items(record_failure, "dynamodb:GetItem", "dynamodb:PutItem")
        alerts.grant_publish(record_failure)
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
        acknowledge_work_machine(self.state_machine, data.artifacts, VALIDATION_WORK_PREFIX, self.functions.values())

    def _invoke(self, step: str, name: str, payload: dict[str, object], result_path: str) -> tasks.LambdaInvoke:
        return step_invoke(self, name, self.functions[step], payload, result_path)

    def _distributed(
        self, name: str, items_key: str, item_field: str, step: str, artifacts: s3.IBucket
    ) -> sfn.DistributedMap:
        return work_map(
            self,
            name,
            items_key=items_key,
            item_field=item_field,
            function=self.functions[step],
            bucket=artifacts,
            work_prefix=VALIDATION_WORK_PREFIX,
            max_concurrency=self.max_concurrency,
            # The run's work folder (`WorkFolder.map_results`): the reduce names a failed child's slice or part.
            results_prefix=sfn.JsonPath.format(
                f"{VALIDATION_WORK_PREFIX}{{}}/{{}}/map-results",
                sfn.JsonPath.string_at("$.run.dataset"),
                sfn.JsonPath.string_at("$.run.run"),
            ),
        )

    def _definition(self, artifacts: s3.IBucket) -> sfn.IChainable:
        reduce = self._invoke("reduce", "Reduce", {"run.$": "$.run", "state.$": "$"}, "$.outcome")
        failed = sfn.Fail(self, "Validation failed", error="ValidationFailed", cause="see the upload's report")
        # A crash of the reduce itself: the upload is reported as not validated, mailed and recorded, and the
        # execution fails (alarmed) as for any other step's error.
        not_validated = self._invoke(
            "record_failure", "Record the failure", {"run.$": "$.run", "error.$": "$.reduce_error"}, "$.outcome"
        )
        reduce.add_catch(not_validated, errors=["States.ALL"], result_path="$.reduce_error")
        not_validated.next(failed)
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
