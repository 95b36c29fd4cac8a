"""Serving: the HTTPS API (API Gateway) in front of the platform's request handlers, and online
predictions behind their front door: a Lambda function URL with IAM auth by default, or the REST API's
key-and-usage-plan routes (`serving.front_door`). Files dropped in the raw bucket are scored by
`batch_scoring.py`."""

from __future__ import annotations

import json

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

from infra.constructs.alerts import SERVING_SERVICE
from infra.constructs.api_errors import add_gateway_responses
from infra.constructs.platform_function import API_TRACING, PlatformFunction
from infra.constructs.prediction_keys import PredictionKeysTable
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_objects
from infra.nag import acknowledge, skip_checkov
from mlops.names import CAPTURE_PREFIX, EXPLANATION_FILE, LABELS_PREFIX, MODEL_FILE, MODELS_PREFIX, SIGNATURE_FILE

STAGE_NAME = "prod"
# What serving (and batch scoring) reads of a registered version (its registry record names both).
SERVED_ARTIFACTS = (MODEL_FILE, SIGNATURE_FILE)
PREDICT_TIMEOUT = Duration.seconds(10)
# The alias the front door calls when provisioned concurrency is configured.
LIVE_ALIAS = "live"


def access_log_format(front_door: str) -> apigw.AccessLogFormat:
    """One JSON line a request with what an operator needs to trace it and say whom it was for, nothing
    more: CloudWatch Logs bills ingestion by the byte ($0.50/GB) on every request. The `$context`
    variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-variables-for-access-logging.html
    Left out: requestTime (CloudWatch stamps each event with its time), path (client text; the
    resource names the route), protocol (nothing an operator acts on), identity.user (under IAM auth
    the principal identity.caller names), responseLength (the latency says more about a slow answer;
    the function logs its rows)."""
    field = apigw.AccessLogField
    line = {
        # Traces the request: the id the client got (x-amzn-RequestId, `request_id` in an error body)
        # and the function's log lines carry.
        "id": field.context_request_id(),
        # Whom a request came from when no credential names anyone (refused, unsigned, keyless).
        "ip": field.context_identity_source_ip(),
        # Who: the IAM principal that signed (the principal id, e.g. AIDA… or AROA…:session) on the
        # IAM-authorized routes: the registry's, and health under the function URL front door.
        "caller": field.context_identity_caller(),
        "method": field.context_http_method(),
        # The route (`/v1/models/{name}/predict`), not the path as sent: `$context.path` is client text,
        # and written raw into this JSON line a quote in it could forge fields. Per-model traffic is the
        # `Predictions` metric's; a request is found by its id.
        "resource": field.context_resource_path(),
        "status": field.context_status(),
        # The whole request as API Gateway timed it, its own refusals included (integrationLatency is
        # "-" for those and misses the authorizer's and validator's time).
        "ms": field.context_response_latency(),
    }
    if front_door == "rest":
        # Who, on the prediction routes and health: the API key's id (not its value).
        line["key"] = field.context_identity_api_key_id()
    return apigw.AccessLogFormat.custom(json.dumps(line, separators=(",", ":")))


class Serving(Construct):
    """A REST API (registry routes, health) and the predict function's front door.

    Under `front_door: function_url` predictions go to a function URL with AWS_IAM auth and the REST API
    holds no key or usage plan (nothing would use them); /v1/health then needs a signed request like the
    registry routes. Under `front_door: rest` the prediction routes and health need an API key bound to a
    throttled usage plan. Every stage logs access as JSON, traces with X-Ray and validates requests
    before a Lambda runs.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, prediction_keys: PredictionKeysTable
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        rate = shared.settings.serving.trace_sample_rate
        self.api = apigw.RestApi(
            self,
            "Api",
            # A name of its own: the X-Ray sampling rule below finds the stage by "<name>/<stage>".
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Serverless MLOps: predictions and model registry",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=rate > 0,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=access_log_format(shared.settings.serving.front_door),
            ),
        )
        # RestApi always adds a `<id>Endpoint…` output with the stage URL (aws-cdk#25373: no prop turns
        # it off); the stack names the same URL as `ApiUrl`, so the duplicate goes.
        self.api.node.try_remove_child("Endpoint")
        if rate > 0:
            self._sample_traces(rate)
        # What API Gateway answers itself (no key, no route, throttled, over 10 MB, …) in the same
        # {"error": {"code", "message"}} shape as the functions, with the request id.
        add_gateway_responses(self.api)
        self.validator = apigw.RequestValidator(
            self,
            "Validator",
            rest_api=self.api,
            validate_request_body=True,
            validate_request_parameters=True,
        )
        self.front_door = shared.settings.serving.front_door
        self.prediction_key: apigw.IApiKey | None = None
        if self.front_door == "rest":
            throttle = shared.settings.prediction_throttle
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
            description="Answers GET /v1/health: proves a caller's key or credentials work and names the platform.",
            service=SERVING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("health"),
            log_retention=shared.log_retention,
            memory_size=256,
            timeout=Duration.seconds(10),
            synchronous_caller="API Gateway (GET /v1/health)",
            tracing=API_TRACING,
        )
        self.v1 = self.api.root.add_resource("v1")
        self.models = self.v1.add_resource("models")
        # Health answers whoever may call predictions: the key holders under `rest`, signed IAM principals
        # (as on the registry routes) under `function_url`, where no key exists.
        self.v1.add_resource("health").add_method(
            "GET",
            apigw.LambdaIntegration(self.health.function),
            api_key_required=self.front_door == "rest",
            authorization_type=apigw.AuthorizationType.IAM if self.front_door == "function_url" else None,
            request_validator=self.validator,
        )
        self._add_predict(shared, prediction_keys)
        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "WAF costs a fixed monthly fee that defeats near-zero idle cost; usage-plan throttling and API keys "
            "bound the traffic. Attach a WebACL to the stage where required.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "Prediction routes (front_door: rest) are called by machines holding an API key bound to a usage plan; "
            "registry routes, and health under front_door: function_url, use IAM authorization.",
        )
        acknowledge(
            self.api, "AwsSolutions-COG4", "No end-user identities: machine clients authenticate with API keys or IAM."
        )
        skip_checkov(
            self.api.deployment_stage,
            "CKV_AWS_120",
            "Nothing here is cacheable: a prediction is a POST whose answer depends on its body, which API "
            "Gateway's cache does not key on, and registry reads must show a promotion at once. A cache cluster "
            "is billed by the hour (about $14 a month at the smallest size) against near-zero idle cost.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs "
            "policy, which AWS maintains for exactly this role.",
        )

    def _sample_traces(self, rate: float) -> None:
        """`serving.trace_sample_rate` of the stage's requests traced, and no reservoir: X-Ray's default
        rule traces the first request each second, which for an API of a few requests a second is
        nearly all of them. API Gateway applies sampling rules to a stage with tracing on, and the
        functions behind it follow its decision (https://docs.aws.amazon.com/xray/latest/devguide/
        xray-console-sampling.html; Lambda's Tracing.PASS_THROUGH)."""
        self.sampling_rule = xray.CfnSamplingRule(
            self,
            "TraceSampling",
            sampling_rule=xray.CfnSamplingRule.SamplingRuleProperty(
                rule_name=Names.unique_resource_name(self, max_length=32, separator="-"),
                priority=1000,
                fixed_rate=rate,
                reservoir_size=0,
                service_name=f"{self.api.rest_api_name}/{STAGE_NAME}",
                service_type="AWS::ApiGateway::Stage",
                host="*",
                http_method="*",
                url_path="*",
                resource_arn="*",
                version=1,
            ),
        )

    def _add_predict(self, shared: SharedResources, prediction_keys: PredictionKeysTable) -> None:
        serving, data, registry = shared.settings.serving, shared.data, shared.registry
        self.predict = PlatformFunction(
            self,
            "Predict",
            handler="handlers.predict.handler",
            description="Answers POST /v1/models/{name}/predict and /feedback, and GET /v1/models/{name}/signature.",
            service=SERVING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("predict"),
            log_retention=shared.log_retention,
            # 1,769 MB is where Lambda allots one full vCPU, which onnxruntime's single-threaded session
            # uses whole: the inference benchmark measured 122 MB peak RSS for the whole handler (72 MB for
            # the serving core) with RF200, so memory only sets the floor; the CPU share sets the size.
            memory_size=serving.memory_size,
            timeout=PREDICT_TIMEOUT,
            environment={
                "REGISTRY_TABLE": registry.table.table_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "ALIAS_CACHE_SECONDS": f"{serving.alias_cache_seconds:g}",
                "CONFIG_CACHE_SECONDS": f"{serving.config_cache_seconds:g}",
                "CAPTURE_SAMPLE_RATE": f"{serving.capture_sample_rate:g}",
                "CAPTURE_MAX_ROWS": str(serving.capture_max_rows),
                "CAPTURE_MAX_AGE_SECONDS": f"{serving.capture_max_age_seconds:g}",
                "PREDICTION_KEYS_TABLE": prediction_keys.table.table_name,
            },
            synchronous_caller="API Gateway (the prediction routes)",
            tracing=API_TRACING,
        ).function
        # Reads aliases, versions and the deployed serving policy, loads model artifacts, writes captured
        # traffic and the labels clients send back: nothing else.
        registry.grant_items(self.predict, "dynamodb:GetItem", "dynamodb:Query")
        # A version's model, signature and explanation (a request with "explain": true) only: a run's
        # folder also holds raw test rows and fingerprints.
        for artifact in (*SERVED_ARTIFACTS, EXPLANATION_FILE):
            grant_objects(self.predict, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{artifact}")
        grant_objects(self.predict, data.artifacts, ["s3:PutObject"], f"{CAPTURE_PREFIX}*")
        # Label objects are written once under a new key each (never read back or overwritten here).
        grant_objects(self.predict, data.artifacts, ["s3:PutObject"], f"{LABELS_PREFIX}*")
        # The keys captured requests were answered with, and the lookup of the keys labels name.
        prediction_keys.grant_record(self.predict)
        prediction_keys.grant_resolve(self.predict)

        # Without provisioned concurrency or SnapStart the front door calls the function itself: no
        # version, no alias, nothing billed while idle. With either, every deploy publishes a version
        # behind the `live` alias: provisioned concurrency keeps that many execution environments
        # initialized (billed by the hour); SnapStart snapshots one after its init and resumes new ones
        # from it (billed for the snapshot's cache and each restore). Settings refuse both at once.
        target: lambda_.IFunction = self.predict
        self.live: lambda_.Alias | None = None
        if serving.snap_start:
            # On the L1 resource: PlatformFunction takes no SnapStart argument. SnapStart applies to
            # published versions only (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html).
            function = self.predict.node.default_child
            assert isinstance(function, lambda_.CfnFunction)
            function.snap_start = lambda_.CfnFunction.SnapStartProperty(apply_on="PublishedVersions")
            self.predict.add_environment("PRELOAD_CLIENTS", "true")
        if serving.provisioned_concurrency > 0 or serving.snap_start:
            self.live = lambda_.Alias(
                self,
                "PredictLive",
                alias_name=LIVE_ALIAS,
                version=self.predict.current_version,
                provisioned_concurrent_executions=serving.provisioned_concurrency or None,
                description="The version the front door calls, kept warm by provisioned concurrency."
                if serving.provisioned_concurrency
                else "The version the front door calls, resumed from its SnapStart snapshot.",
            )
            target = self.live

        if serving.reserved_concurrency > 0:
            # The bound the usage plan gives under `rest`: a function URL serves at most 10 requests a second
            # per concurrent execution (https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html,
            # "Throttling"), so this caps both concurrency and rate. On the L1 resource: PlatformFunction
            # takes no concurrency argument.
            function = self.predict.node.default_child
            assert isinstance(function, lambda_.CfnFunction)
            function.reserved_concurrent_executions = serving.reserved_concurrency
        self.function_url: lambda_.FunctionUrl | None = None
        if self.front_door == "function_url":
            self._add_function_url(target)
        else:
            self._add_rest_predict(target)

    def _add_function_url(self, target: lambda_.IFunction) -> None:
        """The default front door: SigV4-signed requests from IAM principals allowed
        `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` on the target (both needed for a URL
        created since October 2025, https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html). No CORS:
        machine clients send no preflight, and a browser has no SigV4 credentials to call it with."""
        self.function_url = lambda_.FunctionUrl(
            self,
            "PredictUrl",
            function=target,
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM,
            invoke_mode=lambda_.InvokeMode.BUFFERED,
        )
        # What a prediction client's role needs, as one managed policy to attach (README, "Calling predict").
        self.client_policy = iam.ManagedPolicy(
            self,
            "PredictionClientPolicy",
            description="Call the predict function URL (attach to a prediction client's role or user)",
            statements=[
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
                    resources=[target.function_arn],
                )
            ],
        )

    def _add_rest_predict(self, target: lambda_.IFunction) -> None:
        """The `rest` front door: the prediction routes on the REST API, behind the key and usage plan."""
        # Permissive on purpose: the body must be a JSON object (anything else is a 400 here); the
        # function checks `instances` itself and answers 413 above its row limit with a clear message.
        # A request model only validates bodies of its content type: other content types reach the
        # function, which answers 415.
        self.predict_request = apigw.Model(
            self,
            "PredictRequest",
            rest_api=self.api,
            content_type="application/json",
            description='A prediction request: a JSON object (e.g. {"instances": [{...}, ...]}).',
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="PredictRequest",
                type=apigw.JsonSchemaType.OBJECT,
            ),
        )
        integration = apigw.LambdaIntegration(target)
        # resource_for_path reuses `{name}`, which the registry API's routes share.
        self.models.resource_for_path("{name}/predict").add_method(
            "POST",
            integration,
            api_key_required=True,
            request_validator=self.validator,
            request_models={"application/json": self.predict_request},
        )
        self.models.resource_for_path("{name}/signature").add_method(
            "GET",
            integration,
            api_key_required=True,
            request_validator=self.validator,
        )
        # Labels for earlier predictions (#19): the same key and usage plan as predict; as there, a
        # permissive model, and the function checks each label (400 naming index and field, 413 over
        # its label limit).
        self.feedback_request = apigw.Model(
            self,
            "FeedbackRequest",
            rest_api=self.api,
            content_type="application/json",
            description='Labels for earlier predictions: a JSON object ({"labels": [{"request_id", "row", "label"}]}).',
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="FeedbackRequest",
                type=apigw.JsonSchemaType.OBJECT,
            ),
        )
        self.models.resource_for_path("{name}/feedback").add_method(
            "POST",
            integration,
            api_key_required=True,
            request_validator=self.validator,
            request_models={"application/json": self.feedback_request},
        )

    @property
    def url(self) -> str:
        return str(self.api.url)

    @property
    def predict_url_template(self) -> str:
        """`<front door>v1/models/{name}/predict` (the function URL ends in `/`); a client replaces {name}."""
        if self.function_url is not None:
            return f"{self.function_url.url}v1/models/{{name}}/predict"
        return str(self.api.url_for_path("/v1/models/{name}/predict"))
