"""Training orchestration: the Step Functions pipeline from a dataset version to a registered model."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.nag import acknowledge


class Training(Construct):
    """The state machine that trains, gates and registers models.

    Its states (prepare, fit candidates, select, evaluate, export, parity, gate, register, promote)
    are added by the training pipeline; this construct owns logging and tracing of every execution.
    """

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        definition = sfn.Pass(
            self,
            "Accept request",
            comment="Echoes the training request; the pipeline states replace this in the training issue.",
        ).next(sfn.Succeed(self, "Done"))
        self.state_machine = sfn.StateMachine(
            self,
            "Pipeline",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.hours(2),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing accept no "
            "resource-level permissions; AWS documents Resource '*' for them.",
        )
