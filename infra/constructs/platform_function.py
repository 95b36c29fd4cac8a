"""The one way the platform defines a Lambda function, so every function gets the same safe defaults."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from aws_cdk import Duration, FileSystem, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import CONCURRENCY_REASON, NO_VPC_REASON, XRAY_REASON, acknowledge, skip_checkov
from infra.paths import FUNCTIONS_DIR

METRICS_NAMESPACE = "ServerlessMlops"
# Every function's runtime (the layers are built for it). Python 3.12 is also the first that Lambda
# SnapStart supports (bench/cost_model.py prices SnapStart as an option for predict).
RUNTIME = lambda_.Runtime.PYTHON_3_12
# The functions behind the API trace only what the API stage sampled (its X-Ray sampling rule, in
# serving.py): Lambda's own sampling of a request with no upstream decision (the first request each
# second, then 5 %) would trace nearly every request of a quiet API, at $5 per million traces.
API_TRACING = lambda_.Tracing.PASS_THROUGH
# What a function's log group ingests, at $0.50 per GB (issue #21): JSON, so Lambda can filter by
# level; the application's own lines from INFO up (an EMF document has no "level" and counts as
# INFO, so a higher level would drop every custom metric with it); and Lambda's platform records
# only at WARN, which drops `platform.start` and `platform.report` (the START and REPORT lines,
# about 200 bytes an invocation). What REPORT said is in AWS/Lambda `Duration` and the function's
# X-Ray segments. https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
LOG_FORMAT = lambda_.LoggingFormat.JSON
APPLICATION_LOG_LEVEL = lambda_.ApplicationLogLevel.INFO
SYSTEM_LOG_LEVEL = lambda_.SystemLogLevel.WARN
# Transient Lambda-service errors a state machine's step retries; a handler's own error is not retried blindly.
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# The single code asset: the pure core package plus one thin handler module per function.
_CODE_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache"]


@functools.cache
def code_asset_hash() -> str:
    """The content hash CDK gives the functions' code asset (its `Code.S3Key` is `<hash>.zip`): the
    same fingerprint, of the same files, so the training functions can record which code trained a
    version (issue #22). tests/infra checks the two agree."""
    return str(FileSystem.fingerprint(str(FUNCTIONS_DIR), exclude=_CODE_EXCLUDES))


class PlatformFunction(Construct):
    """A Python 3.12 function on the platform's architecture, traced, with bounded logs (JSON, no
    platform lines: `SYSTEM_LOG_LEVEL`).

    Async callers (S3, EventBridge, SNS) hand failed events to `dead_letter_queue`, so no event is
    dropped after Lambda's retries; a function without one names its `synchronous_caller` instead, which
    receives every error itself.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        service: str,
        architecture: lambda_.Architecture,
        layers: Sequence[lambda_.ILayerVersion],
        log_retention: logs.RetentionDays,
        memory_size: int = 512,
        timeout: Duration | None = None,
        environment: Mapping[str, str] | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        synchronous_caller: str | None = None,
        tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
    ) -> None:
        super().__init__(scope, construct_id)
        if (dead_letter_queue is None) == (synchronous_caller is None):
            raise ValueError(
                f"{construct_id}: give exactly one of dead_letter_queue (asynchronous callers) and synchronous_caller"
            )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Own role instead of AWSLambdaBasicExecutionRole: it may write to its own log group and nothing else.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description[:1000]
        )
        self.log_group.grant_write(self.role)
        env = {
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "PLATFORM_STACK_NAME": Stack.of(self).stack_name,
        }
        env.update(environment or {})
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=architecture,
            handler=handler,
            code=lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=_CODE_EXCLUDES),
            description=description,
            layers=list(layers),
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(30),
            environment=env,
            tracing=tracing,
            log_group=self.log_group,
            logging_format=LOG_FORMAT,
            application_log_level_v2=APPLICATION_LOG_LEVEL,
            system_log_level_v2=SYSTEM_LOG_LEVEL,
            dead_letter_queue=dead_letter_queue,
            role=self.role,
        )
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 is pinned on purpose: the layers are built for the cp312 ABI, so the runtime moves "
            "together with the layer build, not by itself.",
        )
        skip_checkov(self.function, "CKV_AWS_115", CONCURRENCY_REASON)
        skip_checkov(self.function, "CKV_AWS_117", NO_VPC_REASON)
        skip_checkov(
            self.function,
            "CKV_AWS_173",
            "The environment holds resource names, ARNs and tuning values, never a secret (tests/infra/"
            "test_security.py checks every variable); Lambda encrypts it at rest with its AWS-managed key, and "
            "a customer-managed key would protect nothing further.",
        )
        if synchronous_caller is not None:
            skip_checkov(
                self.function,
                "CKV_AWS_116",
                f"Only {synchronous_caller} invokes this function, synchronously: the caller receives every "
                "error itself, and Lambda hands only asynchronous invocations to a dead-letter queue.",
            )
