"""Serving: the HTTPS API (API Gateway) in front of the platform's request handlers."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.layers import Layers
from infra.constructs.platform_function import PlatformFunction
from infra.nag import acknowledge
from infra.settings import PlatformSettings

STAGE_NAME = "prod"


class Serving(Construct):
    """A REST API whose prediction routes need an API key bound to a throttled usage plan.

    Every stage logs access as JSON, traces with X-Ray and validates requests before a Lambda runs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PlatformSettings,
        architecture: lambda_.Architecture,
        layers: Layers,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            description="Serverless MLOps: predictions and model registry",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        self.validator = apigw.RequestValidator(
            self,
            "Validator",
            rest_api=self.api,
            validate_request_body=True,
            validate_request_parameters=True,
        )
        throttle = settings.prediction_throttle
        self.prediction_key = self.api.add_api_key("PredictionKey", description="Key for prediction clients")
        self.usage_plan = self.api.add_usage_plan(
            "PredictionPlan",
            description="Throttles prediction clients per key",
            throttle=apigw.ThrottleSettings(rate_limit=throttle.rate_limit, burst_limit=throttle.burst_limit),
            quota=apigw.QuotaSettings(limit=throttle.quota_per_day, period=apigw.Period.DAY)
            if throttle.quota_per_day
            else None,
        )
        self.usage_plan.add_api_key(self.prediction_key)
        self.usage_plan.add_api_stage(stage=self.api.deployment_stage)

        self.health = PlatformFunction(
            self,
            "Health",
            handler="handlers.health.handler",
            description="Answers GET /v1/health: proves a prediction key works and names the deployed platform.",
            service="serving",
            architecture=architecture,
            layers=layers.for_function("health"),
            log_retention=log_retention,
            memory_size=256,
            timeout=Duration.seconds(10),
        )
        self.v1 = self.api.root.add_resource("v1")
        self.models = self.v1.add_resource("models")
        self.v1.add_resource("health").add_method(
            "GET",
            apigw.LambdaIntegration(self.health.function),
            api_key_required=True,
            request_validator=self.validator,
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "WAF costs a fixed monthly fee that defeats near-zero idle cost; usage-plan throttling and API keys "
            "bound the traffic. Attach a WebACL to the stage where required.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "Prediction routes are called by machines holding an API key bound to a usage plan; registry routes "
            "use IAM authorization.",
        )
        acknowledge(
            self.api, "AwsSolutions-COG4", "No end-user identities: machine clients authenticate with API keys or IAM."
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs "
            "policy, which AWS maintains for exactly this role.",
        )

    @property
    def url(self) -> str:
        return str(self.api.url)
