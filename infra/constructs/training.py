"""Training orchestration: the Step Functions pipeline from a dataset version to a registered model.

prepare -> score the serving champion on the run's test rows -> Map(fit each candidate: in the fit
Lambda, or in an ECS Fargate task when prepare placed it there (`fargate_fit`)) -> evaluate the
best (and both models on the same rows) -> export ONNX -> parity (onnxruntime) -> (the next-ranked
candidate while parity fails) -> quality gate -> register (registered, pending approval or rejected)
-> promote per policy -> notify.
Every task retries transient Lambda errors; a candidate that times out is retried once, then reported
as a failed candidate; the register step, idempotent per run, also retries its own errors (a crash
between its writes). Every failure path records a failed run with its reason and notifies.
Step payloads carry S3 keys, never data.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.alerts import Alerts
from infra.constructs.fargate_fit import FargateFit
from infra.constructs.platform_function import TRANSIENT_LAMBDA_ERRORS, PlatformFunction, code_asset_hash
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_listing, grant_objects
from infra.nag import acknowledge, logical_id, skip_checkov
from mlops.names import CONFIGS_PREFIX, CONTRACTS_PREFIX, DATASETS_PREFIX, MODELS_PREFIX

MAX_PARALLEL_CANDIDATES = 4
# The whole run's limit, and a Fargate fit's within it (evaluate, export, parity and register after).
PIPELINE_TIMEOUT = Duration.hours(2)
FARGATE_FIT_TIMEOUT = Duration.minutes(90)
# A candidate whose fit outlasts the fit function's timeout is tried this many more times, then
# reported as a failed candidate while the run goes on with the others.
FIT_TIMEOUT_RETRIES = 1
# The register step is idempotent per run (the run item remembers the version it registered, the
# champion is only moved if it is not there yet), so a crash between its writes is retried and the
# retry completes the registration instead of failing the run.
REGISTER_RETRIES = 2
# Steps whose handler is not handlers.training.<step>: they import less than the training package.
_HANDLERS = {
    "record_failure": "handlers.training_failure.record_failure",
    "parity": "handlers.parity.handler",
    "score_champion": "handlers.score_champion.handler",
}
# Steps that read and write no registry item.
_NO_REGISTRY = {"parity"}
# Steps that read registry items and write none.
_READS_REGISTRY = {"score_champion"}

# Memory per step: fitting is CPU-bound and Lambda allots CPU by memory, so the fit step gets 3,008 MB;
# the steps that hold the whole training set get `training.data_step_memory_mb` (README "Limits":
# about 220 MB plus 30 bytes per cell; None below); the rest hold records.
STEP_MEMORY_MB: dict[str, int | None] = {
    "prepare": None,
    "score_champion": None,
    "fit_candidate": 3008,
    "evaluate": None,
    "export": None,
    "parity": None,
    "gate": 512,
    "register": 512,
    "record_failure": 256,
}
# A step reading the whole training set may take longer than one reading records (Lambda bills time used).
_LONG_STEPS = {"fit_candidate", "prepare", "evaluate"}


def _any_revision_of(task_definition: str) -> str:
    """The resource CDK's runTask.sync grant names, `arn:...:task-definition/<family>:*`, as cdk-nag
    writes it: the task definition's ARN split apart with Fn::Select and Fn::Split."""
    arn = {"Ref": task_definition}
    parts = [json.dumps({"Fn::Select": [i, {"Fn::Split": [":", arn]}]}, separators=(",", ":")) for i in range(6)]
    name = json.loads(parts[5])
    family = [json.dumps({"Fn::Select": [i, {"Fn::Split": ["/", name]}]}, separators=(",", ":")) for i in range(2)]
    return "arn:" + ":".join(parts[1:5]) + ":" + "/".join(family) + ":*"


class Training(Construct):
    """The state machine that trains, gates and registers models, and the functions behind its states."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources) -> None:
        super().__init__(scope, construct_id)
        data, registry, alerts = shared.data, shared.registry, shared.alerts
        environment = {
            "CURATED_BUCKET": data.curated.bucket_name,
            "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
            "REGISTRY_TABLE": registry.table.table_name,
            "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
            # Which code trains: each run and the version it registers record it (their lineage).
            "CODE_ASSET_HASH": code_asset_hash(),
        }
        self.functions: dict[str, lambda_.Function] = {}
        for step, memory in STEP_MEMORY_MB.items():
            function = PlatformFunction(
                self,
                "".join(part.title() for part in step.split("_")) + "Function",
                handler=_HANDLERS.get(step, f"handlers.training.{step}"),
                description=f"Training pipeline step: {step.replace('_', ' ')}.",
                service="training",
                architecture=shared.architecture,
                layers=shared.layers.for_function(step),
                log_retention=shared.log_retention,
                memory_size=memory if memory is not None else shared.settings.training.data_step_memory_mb,
                timeout=Duration.minutes(15 if step in _LONG_STEPS else 5),
                environment=environment,
                synchronous_caller="the training state machine (which retries transient errors and records a "
                "failed run)",
            ).function
            self.functions[step] = function
            grant_objects(function, data.artifacts, ["s3:GetObject", "s3:PutObject"], f"{MODELS_PREFIX}*")
            if step in _NO_REGISTRY:
                continue
            if step in _READS_REGISTRY:
                registry.grant_items(function, "dynamodb:GetItem")
                continue
            grant_listing(function, data.artifacts)
            registry.grant_items(
                function,
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "dynamodb:ConditionCheckItem",
            )
        # Promoting to champion ends a challenger rollout on the same version: a Delete of the
        # challenger alias inside set_alias's transaction, which AWS authorizes item by item.
        registry.grant_items(self.functions["register"], "dynamodb:DeleteItem")
        prepare = self.functions["prepare"]
        grant_objects(prepare, data.artifacts, ["s3:GetObject"], f"{CONFIGS_PREFIX}*")
        grant_objects(prepare, data.artifacts, ["s3:GetObject"], f"{CONTRACTS_PREFIX}*")
        grant_objects(prepare, data.curated, ["s3:GetObject"], f"{DATASETS_PREFIX}*")
        grant_listing(prepare, data.curated)
        alerts.grant_publish(self.functions["record_failure"])

        self.fargate = FargateFit(
            self,
            "FargateFit",
            shared=shared,
            fit_function=self.functions["fit_candidate"],
            layers=shared.layers.for_function("fit_candidate"),
        )
        outcome = PlatformFunction(
            self,
            "FitTaskOutcomeFunction",
            handler="handlers.fit_task_outcome.handler",
            description="Training pipeline step: a Fargate fit's outcome, or its failure with its last log lines.",
            service="training",
            architecture=shared.architecture,
            layers=shared.layers.for_function("fit_task_outcome"),
            log_retention=shared.log_retention,
            memory_size=256,
            timeout=Duration.minutes(1),
            environment={
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "FIT_TASK_LOG_GROUP": self.fargate.log_group.log_group_name,
            },
            synchronous_caller="the training state machine (which reports a failed candidate)",
        ).function
        self.functions["fit_task_outcome"] = outcome
        grant_objects(outcome, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*")
        streams = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.fargate.log_group.log_group_name}:log-stream:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        outcome.add_to_role_policy(iam.PolicyStatement(actions=["logs:GetLogEvents"], resources=[streams]))
        acknowledge(
            outcome.role,  # type: ignore[arg-type]
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            f"<{logical_id(self.fargate.log_group)}>:log-stream:*]",
            "Reads the log streams of the Fargate fit tasks' own log group only; a stream is named after its "
            "task, which exists only once the task runs.",
        )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Pipeline",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition(alerts)),
            timeout=PIPELINE_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        alerts.grant_publish(self.state_machine)
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing accept no "
            "resource-level permissions; AWS documents Resource '*' for them. CDK's runTask.sync integration "
            "grants ecs:StopTask and ecs:DescribeTasks on '*': the task ARNs exist only once RunTask answers.",
        )
        acknowledge(
            self.state_machine.role,
            f"AwsSolutions-IAM5[Resource::{_any_revision_of(logical_id(self.fargate.task_definition))}]",
            "ecs:RunTask on the Fargate fit task definition's family, any revision (CDK's runTask.sync grant): a "
            "deploy that changes the task definition registers a new revision.",
        )
        # Found after synthesis: CDK adds the runTask.sync statements to the role's default policy.
        policy = self.state_machine.role.node.find_child("DefaultPolicy")
        skip_checkov(
            policy,
            "CKV_AWS_111",
            "ecs:StopTask on '*' is CDK's runTask.sync grant: Step Functions stops the fit task it started when "
            "the execution is stopped or times out, and the task's ARN exists only once RunTask answers.",
        )
        for function in self.functions.values():
            acknowledge(
                self.state_machine.role,
                f"AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "Invoking a function's versions and aliases needs the function ARN with ':*'; CDK grants exactly that.",
            )

    def _task(
        self,
        step: str,
        *,
        result_path: str | None = "$.result",
        comment: str = "",
        payload: dict[str, Any] | None = None,
        state_name: str | None = None,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_name or step.replace("_", " ").capitalize(),
            lambda_function=self.functions[step],
            payload=sfn.TaskInput.from_object(payload) if payload else None,
            payload_response_only=True,
            result_path=result_path,
            comment=comment or None,
        )
        task.add_retry(errors=TRANSIENT_LAMBDA_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
        return task

    def _fargate_fit(self, candidate_failed: sfn.Pass) -> sfn.IChainable:
        """RunTask (.sync) with only a pointer in its overrides, then the outcome as the fit Lambda's."""
        fargate = self.fargate
        run_task = tasks.EcsRunTask(
            self,
            "Fit on Fargate",
            comment="one candidate in an ECS Fargate task; its input payload is in S3 under fit.input_key",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            # Below the pipeline's own timeout, so a fit that runs away fails its candidate (caught into
            # the outcome step, States.Timeout) and the others are still evaluated.
            task_timeout=sfn.Timeout.duration(FARGATE_FIT_TIMEOUT),
            cluster=fargate.cluster,
            task_definition=fargate.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            assign_public_ip=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[fargate.security_group],
            cpu=sfn.JsonPath.string_at("$.fit.cpu"),
            memory_mib=sfn.JsonPath.string_at("$.fit.memory"),
            container_overrides=[
                tasks.ContainerOverride(
                    container_definition=fargate.container,
                    environment=[
                        tasks.TaskEnvironmentVariable(
                            name="FIT_INPUT_KEY", value=sfn.JsonPath.string_at("$.fit.input_key")
                        )
                    ],
                    memory_limit=sfn.JsonPath.number_at("$.fit.memory_mib"),
                )
            ],
            result_selector={
                "TaskArn.$": "$.TaskArn",
                "CreatedAt.$": "$.CreatedAt",
                "StoppedAt.$": "$.StoppedAt",
            },
            result_path="$.task",
        )
        outcome = tasks.LambdaInvoke(
            self,
            "Fargate fit outcome",
            lambda_function=self.functions["fit_task_outcome"],
            payload_response_only=True,
            comment="the task's stored outcome, or its failure with its last log lines",
        )
        outcome.add_retry(errors=TRANSIENT_LAMBDA_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
        outcome.add_catch(candidate_failed, errors=["States.ALL"], result_path="$.error")
        run_task.add_catch(outcome, errors=["States.ALL"], result_path="$.error")
        return run_task.next(outcome)

    def _definition(self, alerts: Alerts) -> sfn.IChainable:
        failed = sfn.Fail(self, "Run failed", error="TrainingFailed", cause="see the run's failure record")
        record_failure = tasks.LambdaInvoke(
            self,
            "Record failure",
            lambda_function=self.functions["record_failure"],
            payload=sfn.TaskInput.from_object(
                {"state": sfn.JsonPath.object_at("$"), "execution_name": sfn.JsonPath.string_at("$$.Execution.Name")}
            ),
            payload_response_only=True,
            result_path=sfn.JsonPath.DISCARD,
        )
        record_failure.add_retry(
            errors=TRANSIENT_LAMBDA_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2
        )
        record_failure.next(failed)

        def guarded(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
            task.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")
            return task

        prepare_input = {
            "request": sfn.JsonPath.object_at("$"),
            "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
            "execution_arn": sfn.JsonPath.string_at("$$.Execution.Id"),
        }
        prepare = guarded(
            self._task(
                "prepare", result_path="$.run", comment="load, split, profile, start the run", payload=prepare_input
            )
        )
        score_champion = guarded(
            self._task(
                "score_champion",
                result_path="$.champion",
                comment="the serving champion's ONNX model on this run's test rows, for a fair max_regression gate",
                payload={"run": sfn.JsonPath.object_at("$.run")},
            )
        )
        fit = self._task("fit_candidate", result_path=None, comment="one candidate in its own invocation")
        fit.add_retry(
            errors=["States.Timeout", "Sandbox.Timedout"],
            interval=Duration.seconds(5),
            max_attempts=FIT_TIMEOUT_RETRIES,
        )
        candidate_failed = sfn.Pass(
            self,
            "Candidate failed",
            parameters={
                "name.$": "$.candidate.name",
                "status": "failed",
                "reason.$": "$.error.Cause",
                "error.$": "$.error.Error",
            },
        )
        fit.add_catch(candidate_failed, errors=["States.ALL"], result_path="$.error")
        fit_each = sfn.Map(
            self,
            "Fit candidates",
            items_path="$.run.candidates",
            max_concurrency=MAX_PARALLEL_CANDIDATES,
            item_selector={
                "run.$": "$.run",
                "candidate.$": "$$.Map.Item.Value",
                # Where prepare placed this candidate (mlops.training.fit_placement), same order as candidates.
                "fit.$": "States.ArrayGetItem($.run.fits, $$.Map.Item.Index)",
            },
            result_path="$.candidates",
        )
        # A Fargate fit whose memory estimate is over the task's memory fails without a task: it would
        # be killed for its memory after minutes of start-up (mlops.training.fit_placement).
        too_big = sfn.Pass(
            self,
            "Too big for the task",
            parameters={
                "name.$": "$.candidate.name",
                "status": "failed",
                "reason.$": "$.fit.reason",
                "runs_on": "fargate",
            },
        )
        fit_each.item_processor(
            sfn.Choice(self, "Fit where?", comment="the fit Lambda, or a Fargate task past the Lambda's limits")
            .when(sfn.Condition.boolean_equals("$.fit.task_fits", False), too_big)
            .when(sfn.Condition.string_equals("$.fit.runs_on", "fargate"), self._fargate_fit(candidate_failed))
            .otherwise(fit)
        )
        fit_each.add_catch(record_failure, errors=["States.ALL"], result_path="$.error")

        evaluate = guarded(self._task("evaluate", result_path="$.evaluation", comment="select the best, test it"))
        export = guarded(self._task("export", result_path="$.export", comment="ONNX + scikit-learn's answers"))
        parity = guarded(self._task("parity", result_path="$.parity", comment="onnxruntime vs scikit-learn, latency"))
        gate = guarded(self._task("gate", result_path="$.gate", comment="absolute, champion, segment, latency"))
        register = self._task(
            "register",
            result_path="$.registration",
            comment="registered, pending approval or rejected; promotes per policy (idempotent per run)",
        )
        register.add_retry(
            errors=["States.TaskFailed"], interval=Duration.seconds(1), max_attempts=REGISTER_RETRIES, backoff_rate=2
        )
        guarded(register)
        notify = tasks.SnsPublish(
            self,
            "Notify outcome",
            topic=alerts.topic,
            subject=sfn.JsonPath.string_at("$.registration.subject"),
            message=sfn.TaskInput.from_json_path_at("$.registration.message"),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
        done = sfn.Succeed(self, "Run finished")
        # A candidate whose ONNX export does not answer as scikit-learn does is passed over for the
        # next-ranked one; the run fails parity only when none is left, naming each it tried.
        evaluate_next = guarded(
            self._task(
                "evaluate",
                state_name="Evaluate next candidate",
                result_path="$.evaluation",
                comment="the next-ranked candidate, after the previous one failed parity",
                payload={
                    "run": sfn.JsonPath.object_at("$.run"),
                    "candidates": sfn.JsonPath.object_at("$.candidates"),
                    "attempt": sfn.JsonPath.number_at("$.parity.next_attempt"),
                },
            )
        )
        evaluate_next.next(export)
        parity_ok = (
            sfn.Choice(self, "Parity holds?")
            .when(sfn.Condition.boolean_equals("$.parity.parity_passed", True), gate)
            .when(sfn.Condition.boolean_equals("$.parity.try_next", True), evaluate_next)
            .otherwise(
                sfn.Pass(
                    self,
                    "Parity failed",
                    parameters={"Error": "ParityFailed", "Cause.$": "$.parity.parity_message"},
                    result_path="$.error",
                ).next(record_failure)
            )
        )
        gate.next(register).next(notify).next(done)
        return prepare.next(score_champion).next(fit_each).next(evaluate).next(export).next(parity).next(parity_ok)
