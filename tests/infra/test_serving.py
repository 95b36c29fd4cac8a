"""Inference in the synthesized template: the predict front door (a function URL by default, the REST
routes under `front_door: rest`), least-privilege roles, batch scoring, optional provisioned and
reserved concurrency, and the alarms that watch them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.settings import ServingSettings, SettingsError, load_settings
from tests.infra import template_queries as tq


def _resource_paths(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> full path of every API Gateway resource."""
    resources = tq.resources(template, "AWS::ApiGateway::Resource")

    def path(logical: str) -> str:
        props = resources[logical]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical: path(logical) for logical in resources}


def _method(template: dict[str, Any], http_method: str, path: str) -> dict[str, Any]:
    paths = _resource_paths(template)
    found: list[dict[str, Any]] = [
        m["Properties"]
        for m in tq.resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == http_method
        and paths.get(m["Properties"]["ResourceId"].get("Ref", "")) == path
    ]
    assert len(found) == 1, f"{len(found)} {http_method} {path} methods"
    return found[0]


def _integration_target(method: dict[str, Any]) -> Any:
    """The function (or alias) a Lambda proxy integration calls: the URI part after `functions/`."""
    parts = method["Integration"]["Uri"]["Fn::Join"][1]
    marker = next(i for i, part in enumerate(parts) if isinstance(part, str) and part.endswith("/functions/"))
    return parts[marker + 1]


def _synth(tmp_path: Any, **serving: Any) -> dict[str, Any]:
    app, stack = build_app(
        context={"aws:cdk:bundling-stacks": [], "platform": {"serving": serving}}, outdir=str(tmp_path)
    )
    return dict(app.synth().get_stack_by_name(stack.stack_name).template)


# --------------------------------------------------------------------------------------------- front door


def test_predictions_go_through_an_iam_function_url_by_default(platform_template: dict[str, Any]) -> None:
    predict = tq.logical(platform_template, "AWS::Lambda::Function", "ServingPredictFunction")
    [(url_id, url)] = tq.resources(platform_template, "AWS::Lambda::Url").items()
    assert url["Properties"]["AuthType"] == "AWS_IAM"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [predict, "Arn"]}
    assert "Cors" not in url["Properties"]  # machine clients only: no browser may call it
    # Nothing public: no resource policy lets anyone in; callers need an identity policy.
    assert not [
        p
        for p in tq.resources(platform_template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Action"] == "lambda:InvokeFunctionUrl"
    ]
    outputs = platform_template["Outputs"]
    assert outputs["PredictFunctionUrl"]["Value"] == {"Fn::GetAtt": [url_id, "FunctionUrl"]}
    assert tq.render(outputs["PredictUrlTemplate"]["Value"]) == (
        tq.render(outputs["PredictFunctionUrl"]["Value"]) + "v1/models/{name}/predict"
    )


def test_no_prediction_key_or_usage_plan_exists_under_the_function_url(platform_template: dict[str, Any]) -> None:
    """Nothing would use them: the predict routes are not on the REST API, and health takes IAM."""
    assert tq.resources(platform_template, "AWS::ApiGateway::ApiKey") == {}
    assert tq.resources(platform_template, "AWS::ApiGateway::UsagePlan") == {}
    assert "PredictionApiKeyId" not in platform_template["Outputs"]
    paths = set(_resource_paths(platform_template).values())
    assert not {"/v1/models/{name}/predict", "/v1/models/{name}/signature", "/v1/models/{name}/feedback"} & paths
    health = _method(platform_template, "GET", "/v1/health")
    assert (health["AuthorizationType"], health.get("ApiKeyRequired", False)) == ("AWS_IAM", False)


def test_the_client_policy_grants_both_actions_a_function_url_needs(platform_template: dict[str, Any]) -> None:
    """InvokeFunctionUrl and InvokeFunction, both needed for a URL created since October 2025
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html), on the predict function only."""
    predict = tq.logical(platform_template, "AWS::Lambda::Function", "ServingPredictFunction")
    policy_id, policy = tq.one(platform_template, "AWS::IAM::ManagedPolicy", "ServingPredictionClientPolicy")
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert statement["Resource"] == {"Fn::GetAtt": [predict, "Arn"]}
    assert platform_template["Outputs"]["PredictionClientPolicyArn"]["Value"] == {"Ref": policy_id}


def test_reserved_concurrency_bounds_the_function_url(tmp_path: Any) -> None:
    """No usage plan stands in front of a function URL: reserved concurrency caps the predict function
    (and the URL's rate at 10 requests a second per environment); none is reserved by default."""
    template = _synth(tmp_path, reserved_concurrency=20)
    props = tq.one(template, "AWS::Lambda::Function", "ServingPredictFunction")[1]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 20


def test_the_default_reserves_no_concurrency(platform_template: dict[str, Any]) -> None:
    props = tq.one(platform_template, "AWS::Lambda::Function", "ServingPredictFunction")[1]["Properties"]
    assert "ReservedConcurrentExecutions" not in props


# --------------------------------------------------------------------------------------------- rest routes


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("POST", "/v1/models/{name}/predict"),
        ("GET", "/v1/models/{name}/signature"),
        ("POST", "/v1/models/{name}/feedback"),
    ],
)
def test_prediction_routes_need_a_key_and_the_validator(
    rest_template: dict[str, Any], http_method: str, path: str
) -> None:
    method = _method(rest_template, http_method, path)
    assert method["ApiKeyRequired"] is True
    assert method["AuthorizationType"] == "NONE"
    assert method["RequestValidatorId"] == {
        "Ref": tq.logical(rest_template, "AWS::ApiGateway::RequestValidator", "Serving")
    }
    assert method["Integration"]["Type"] == "AWS_PROXY"
    predict = tq.logical(rest_template, "AWS::Lambda::Function", "ServingPredictFunction")
    assert _integration_target(method) == {"Fn::GetAtt": [predict, "Arn"]}
    assert tq.resources(rest_template, "AWS::Lambda::Url") == {}
    assert _method(rest_template, "GET", "/v1/health")["ApiKeyRequired"] is True
    assert "PredictionApiKeyId" in rest_template["Outputs"]
    [plan] = tq.resources(rest_template, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"] == {"BurstLimit": 100, "RateLimit": 50}


def test_predict_body_is_validated_against_a_permissive_json_model(rest_template: dict[str, Any]) -> None:
    platform_template = rest_template
    method = _method(platform_template, "POST", "/v1/models/{name}/predict")
    model_id, model = tq.one(platform_template, "AWS::ApiGateway::Model", "ServingPredictRequest")
    assert method["RequestModels"] == {"application/json": {"Ref": model_id}}
    props = model["Properties"]
    assert props["ContentType"] == "application/json"
    # The row limit is the function's (413 with a clear message), not the gateway's.
    assert props["Schema"]["type"] == "object"
    assert "maxItems" not in json.dumps(props["Schema"])
    validator = tq.one(platform_template, "AWS::ApiGateway::RequestValidator", "Serving")[1]["Properties"]
    assert validator["ValidateRequestBody"] is True


def test_serving_and_registry_share_one_name_resource(platform_template: dict[str, Any]) -> None:
    paths = list(_resource_paths(platform_template).values())
    assert paths.count("/v1/models/{name}") == 1
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
    # The registry's IAM-authorized GET sits on the same resource as the key-authorized subpaths.
    assert _method(platform_template, "GET", "/v1/models/{name}")["AuthorizationType"] == "AWS_IAM"


def test_rest_routes_share_the_name_resource_with_the_registry(rest_template: dict[str, Any]) -> None:
    paths = list(_resource_paths(rest_template).values())
    assert paths.count("/v1/models/{name}") == 1
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)


# --------------------------------------------------------------------------------------------- predict


def test_predict_function_size_timeout_and_environment(platform_template: dict[str, Any]) -> None:
    props = tq.one(platform_template, "AWS::Lambda::Function", "ServingPredictFunction")[1]["Properties"]
    assert props["Handler"] == "handlers.predict.handler"
    assert props["MemorySize"] == 1769
    assert props["Timeout"] == 10
    env = props["Environment"]["Variables"]
    assert env["REGISTRY_TABLE"] == {"Ref": tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")}
    assert env["ARTIFACTS_BUCKET"] == {"Ref": tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")}
    assert env["POWERTOOLS_SERVICE_NAME"] == "serving"
    assert {
        k: env[k]
        for k in (
            "ALIAS_CACHE_SECONDS",
            "CONFIG_CACHE_SECONDS",
            "CAPTURE_SAMPLE_RATE",
            "CAPTURE_MAX_ROWS",
            "CAPTURE_MAX_AGE_SECONDS",
        )
    } == {
        # The template under test is the local cloud's synth (localcloud.deploy.LOCAL_SYNTH_CONTEXT),
        # which shortens the alias cache and the capture age; cdk.json keeps the defaults below.
        "ALIAS_CACHE_SECONDS": "5",
        "CONFIG_CACHE_SECONDS": "5",
        "CAPTURE_SAMPLE_RATE": "0.1",
        "CAPTURE_MAX_ROWS": "1000",
        "CAPTURE_MAX_AGE_SECONDS": "5",
    }
    defaults = ServingSettings.model_validate({})
    assert (defaults.alias_cache_seconds, defaults.config_cache_seconds, defaults.capture_max_age_seconds) == (
        30,
        60,
        60,
    )
    assert "ReservedConcurrentExecutions" not in props


def test_predict_role_reads_the_registry_and_models_and_writes_capture_and_labels_only(
    platform_template: dict[str, Any],
) -> None:
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    keys_table = tq.logical(platform_template, "AWS::DynamoDB::Table", "PredictionKeysTable")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    logs = tq.logical(platform_template, "AWS::Logs::LogGroup", "ServingPredictLogs")
    key = tq.logical(platform_template, "AWS::KMS::Key", "EncryptionKey")
    assert tq.grants(platform_template, "ServingPredictFunction") == {
        ("logs:CreateLogStream", f"<{logs}.Arn>"),
        ("logs:PutLogEvents", f"<{logs}.Arn>"),
        # X-Ray accepts no resource-level permissions.
        ("xray:PutTelemetryRecords", "*"),
        ("xray:PutTraceSegments", "*"),
        ("dynamodb:GetItem", f"<{table}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:Query", f"<{table}.Arn>"),
        ("dynamodb:Query", f"<{table}.Arn>/index/*"),
        # The keys captured requests were made with: written as capture lands, looked up for labels by key.
        ("dynamodb:BatchWriteItem", f"<{keys_table}.Arn>"),
        ("dynamodb:Query", f"<{keys_table}.Arn>"),
        # The tables' key, through DynamoDB only (a kms:ViaService condition); writing keys encrypts.
        ("kms:Decrypt", f"<{key}.Arn>"),
        ("kms:DescribeKey", f"<{key}.Arn>"),
        ("kms:Encrypt", f"<{key}.Arn>"),
        ("kms:GenerateDataKey", f"<{key}.Arn>"),
        # A version's model, signature and explanation, not the rest of its run's folder (raw test rows
        # live there).
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/model.onnx"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/signature.json"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/explanation.npz"),
        ("s3:PutObject", f"<{artifacts}.Arn>/capture/*"),
        # Labels clients send back (POST .../feedback): written, never read back here.
        ("s3:PutObject", f"<{artifacts}.Arn>/labels/*"),
    }


# --------------------------------------------------------------------------------------------- batch scoring


def test_batch_scoring_runs_on_uploads_under_batch(platform_template: dict[str, Any]) -> None:
    function_id, function = tq.one(platform_template, "AWS::Lambda::Function", "BatchScoringScorerFunction")
    props = function["Properties"]
    assert props["Handler"] == "handlers.batch_scoring.handler"
    assert props["MemorySize"] == 2048
    assert props["Timeout"] == 900
    assert props["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [tq.logical(platform_template, "AWS::SQS::Queue", "MonitoringDeadLetters"), "Arn"]}
    }
    env = props["Environment"]["Variables"]
    assert env["RAW_BUCKET"] == {"Ref": tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")}
    assert env["ARTIFACTS_BUCKET"] == {"Ref": tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")}
    assert env["REGISTRY_TABLE"] == {"Ref": tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")}
    assert env["SCORING_CHUNK_ROWS"] == "10000"

    notifications = tq.one(platform_template, "Custom::S3BucketNotifications", "DataRawNotifications")[1]["Properties"]
    assert notifications["BucketName"] == {"Ref": tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")}
    by_function = {
        c["LambdaFunctionArn"]["Fn::GetAtt"][0]: c
        for c in notifications["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    }
    assert by_function[function_id]["Events"] == ["s3:ObjectCreated:*"]
    assert by_function[function_id]["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "batch/"}]}}
    # Ingestion keeps its own trigger on the same bucket.
    ingest = tq.logical(platform_template, "AWS::Lambda::Function", "IngestionIngestFunction")
    assert by_function[ingest]["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}}
    Template.from_json(platform_template).has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "s3.amazonaws.com",
        },
    )


def test_batch_scoring_role_is_least_privilege(platform_template: dict[str, Any]) -> None:
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    raw = tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")
    queue = tq.logical(platform_template, "AWS::SQS::Queue", "MonitoringDeadLetters")
    key = tq.logical(platform_template, "AWS::KMS::Key", "EncryptionKey")
    parts = tq.logical(platform_template, "AWS::StepFunctions::StateMachine", "BatchScoringPartsStateMachine")
    grants = tq.grants(platform_template, "BatchScoringScorerFunction")
    assert {(a, r) for a, r in grants if not a.startswith(("logs:", "xray:"))} == {
        # A file past batch_scoring.parts_above_mb is handed to the parts state machine (its ARN).
        ("states:StartExecution", f"<{parts}>"),
        ("sqs:SendMessage", f"<{queue}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:Query", f"<{table}.Arn>"),
        ("dynamodb:Query", f"<{table}.Arn>/index/*"),
        ("kms:Decrypt", f"<{key}.Arn>"),
        ("kms:DescribeKey", f"<{key}.Arn>"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/model.onnx"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/signature.json"),
        ("s3:GetObject", f"<{raw}.Arn>/batch/*"),
        ("s3:PutObject", f"<{raw}.Arn>/batch/*"),
        ("s3:DeleteObject", f"<{raw}.Arn>/batch/*"),
    }
    assert not [a for a, _ in grants if a.endswith("*") or a.startswith("lambda:")]


# --------------------------------------------------------------------------------------------- provisioned concurrency


def test_default_stack_has_no_alias_and_no_provisioned_concurrency(platform_template: dict[str, Any]) -> None:
    assert tq.resources(platform_template, "AWS::Lambda::Alias") == {}
    assert tq.resources(platform_template, "AWS::Lambda::Version") == {}


def test_provisioned_concurrency_puts_the_function_url_on_a_live_alias(tmp_path: Any) -> None:
    template = _synth(tmp_path, provisioned_concurrency=2)
    predict = tq.logical(template, "AWS::Lambda::Function", "ServingPredictFunction")
    alias_id, _ = tq.one(template, "AWS::Lambda::Alias", "ServingPredictLive")
    [url] = tq.resources(template, "AWS::Lambda::Url").values()
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [predict, "Arn"]}
    assert (url["Properties"]["Qualifier"], url["DependsOn"]) == ("live", [alias_id])
    [statement] = tq.one(template, "AWS::IAM::ManagedPolicy", "ServingPredictionClientPolicy")[1]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert statement["Resource"] == {"Ref": alias_id}  # the alias's ARN: what the URL invokes


def test_provisioned_concurrency_puts_the_api_behind_a_live_alias(tmp_path: Any) -> None:
    template = _synth(tmp_path, provisioned_concurrency=2, front_door="rest")
    predict = tq.logical(template, "AWS::Lambda::Function", "ServingPredictFunction")
    alias_id, alias = tq.one(template, "AWS::Lambda::Alias", "ServingPredictLive")
    version_id, version = tq.one(template, "AWS::Lambda::Version", "ServingPredictFunctionCurrentVersion")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": predict}
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert version["Properties"]["FunctionName"] == {"Ref": predict}
    for http_method, path in (("POST", "/v1/models/{name}/predict"), ("GET", "/v1/models/{name}/signature")):
        assert _integration_target(_method(template, http_method, path)) == {"Ref": alias_id}
    invokers = [
        p["Properties"]
        for p in tq.resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and "models/*/predict" in json.dumps(p["Properties"]["SourceArn"])
    ]
    assert invokers and all(p["FunctionName"] == {"Ref": alias_id} for p in invokers)


def _api_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical: function
        for logical, function in tq.resources(template, "AWS::Lambda::Function").items()
        if any(logical.startswith(p) for p in ("ServingPredict", "ServingHealth", "RegistryApi"))
    }


def test_a_sampled_share_of_api_requests_is_traced_and_the_functions_behind_follow(
    platform_template: dict[str, Any],
) -> None:
    """1 % of the stage's requests, no reservoir: X-Ray's default (the first request each second, then
    5 %) traced nearly every request of a quiet API at $5 per million traces (issue #21). API Gateway
    applies sampling rules to a traced stage; the functions use PassThrough, so they trace only what
    the stage sampled, never by Lambda's own fixed rate."""
    [(_, api)] = tq.resources(platform_template, "AWS::ApiGateway::RestApi").items()
    [(_, stage)] = tq.resources(platform_template, "AWS::ApiGateway::Stage").items()
    [(_, rule)] = tq.resources(platform_template, "AWS::XRay::SamplingRule").items()
    sampling = rule["Properties"]["SamplingRule"]
    assert stage["Properties"]["TracingEnabled"] is True
    assert (sampling["FixedRate"], sampling["ReservoirSize"]) == (0.01, 0)
    assert sampling["ServiceName"] == f"{api['Properties']['Name']}/{stage['Properties']['StageName']}"
    assert sampling["ServiceType"] == "AWS::ApiGateway::Stage" and len(sampling["RuleName"]) <= 32
    functions = _api_functions(platform_template)
    assert len(functions) == 3
    assert {f["Properties"]["TracingConfig"]["Mode"] for f in functions.values()} == {"PassThrough"}


def test_trace_sample_rate_zero_traces_nothing(tmp_path: Any) -> None:
    app, stack = build_app(
        context={"aws:cdk:bundling-stacks": [], "platform": {"serving": {"trace_sample_rate": 0}}},
        outdir=str(tmp_path),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    [(_, stage)] = tq.resources(template, "AWS::ApiGateway::Stage").items()
    assert stage["Properties"].get("TracingEnabled") is False
    assert tq.resources(template, "AWS::XRay::SamplingRule") == {}
    assert {f["Properties"]["TracingConfig"]["Mode"] for f in _api_functions(template).values()} == {"PassThrough"}


def test_snap_start_snapshots_published_versions_behind_the_live_alias(tmp_path: Any) -> None:
    template = _synth(tmp_path, snap_start=True)
    predict_id, predict = tq.one(template, "AWS::Lambda::Function", "ServingPredictFunction")
    assert predict["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    # The handler builds its clients at init, so the snapshot holds them.
    assert predict["Properties"]["Environment"]["Variables"]["PRELOAD_CLIENTS"] == "true"
    alias_id, alias = tq.one(template, "AWS::Lambda::Alias", "ServingPredictLive")
    version_id, _ = tq.one(template, "AWS::Lambda::Version", "ServingPredictFunctionCurrentVersion")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]  # the two are exclusive on AWS
    [url] = tq.resources(template, "AWS::Lambda::Url").values()
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": [predict_id, "Arn"]}
    assert (url["Properties"]["Qualifier"], url["DependsOn"]) == ("live", [alias_id])
    # No other function snapshots: SnapStart bills each cached version.
    others = [f for k, f in tq.resources(template, "AWS::Lambda::Function").items() if k != predict_id]
    assert not [f for f in others if "SnapStart" in f["Properties"]]


def test_snap_start_with_provisioned_concurrency_is_refused_naming_both() -> None:
    # "You can't use SnapStart and provisioned concurrency on the same function version."
    # (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html)
    with pytest.raises(SettingsError, match=r"snap_start and provisioned_concurrency cannot both be on"):
        load_settings({"serving": {"snap_start": True, "provisioned_concurrency": 1}})


def test_the_default_stack_does_not_snapshot(platform_template: dict[str, Any]) -> None:
    assert not [
        f for f in tq.resources(platform_template, "AWS::Lambda::Function").values() if "SnapStart" in f["Properties"]
    ]


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"serving": {"trace_sample_rate": 1.5}}, "platform.serving.trace_sample_rate"),
        ({"serving": {"provisioned_concurrency": -1}}, "platform.serving.provisioned_concurrency"),
        ({"serving": {"capture_sample_rate": 1.5}}, "platform.serving.capture_sample_rate"),
        ({"serving": {"memory_size": 64}}, "platform.serving.memory_size"),
        ({"serving": {"warm": True}}, "platform.serving.warm"),
        ({"serving": {"front_door": "http"}}, "platform.serving.front_door"),
        ({"serving": {"reserved_concurrency": -1}}, "platform.serving.reserved_concurrency"),
    ],
)
def test_malformed_serving_settings_are_refused(context: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings(context)


# --------------------------------------------------------------------------------------------- alarms, outputs


def test_serving_alarms_notify_the_topic(platform_template: dict[str, Any]) -> None:
    topic = {"Ref": tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")}
    alarms: tq.Resources = {
        k: v["Properties"] for k, v in tq.resources(platform_template, "AWS::CloudWatch::Alarm").items()
    }

    def alarm(prefix: str) -> dict[str, Any]:
        found = [props for logical, props in alarms.items() if logical.startswith(f"Monitoring{prefix}")]
        assert len(found) == 1, prefix
        assert found[0]["AlarmActions"] == [topic] and found[0]["OKActions"] == [topic], prefix
        return found[0]

    # Errors and throttles of predict and batch scoring alarm through the pair on every function
    # (tests/infra/test_alerts.py); what is serving's own is below.
    for name, period in (("ModelLoadFailures", 300), ("BatchFilesFailed", 300), ("CaptureFailures", 900)):
        props = alarm(name)
        assert props["Namespace"] == "ServerlessMlops"
        assert props["MetricName"] == name
        # Powertools adds `service` (POWERTOOLS_SERVICE_NAME) to every metric; nothing else is expected.
        assert props["Dimensions"] == [{"Name": "service", "Value": "serving"}]
        assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", period, 1)
        assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_dashboard_shows_prediction_traffic_per_model_version(platform_template: dict[str, Any]) -> None:
    dashboard = tq.one(platform_template, "AWS::CloudWatch::Dashboard", "MonitoringDashboard")[1]
    body = "".join(
        part if isinstance(part, str) else "" for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    )
    assert 'SEARCH(\'{ServerlessMlops,service,model,version,variant} MetricName=\\"Predictions\\"' in body
    assert "Predict: invocations and errors" in body
    assert "BatchScoring: invocations and errors" in body


def test_every_metric_the_predict_function_emits_is_read_by_an_alarm_or_the_dashboard(
    platform_template: dict[str, Any],
) -> None:
    """Issue #21: a custom metric costs $0.30 a month while emitted; one nobody reads is waste (a
    stranger found six). The names are read from the handler's source, so a new one fails here."""
    import re

    from infra.paths import FUNCTIONS_DIR

    source = (FUNCTIONS_DIR / "handlers" / "predict.py").read_text()
    emitted = set(re.findall(r'Measure\(\s*"(\w+)"', source)) | set(re.findall(r'\("(\w+)", \w+\)', source))
    assert {"Predictions", "ModelLatency", "CapturedRows", "LabelsAccepted"} <= emitted  # the patterns still match
    dashboard = tq.one(platform_template, "AWS::CloudWatch::Dashboard", "MonitoringDashboard")[1]
    body = "".join(
        part if isinstance(part, str) else "" for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    )
    alarmed = {
        a["Properties"].get("MetricName") for a in tq.resources(platform_template, "AWS::CloudWatch::Alarm").values()
    }
    unread = sorted(name for name in emitted if f'MetricName=\\"{name}\\"' not in body and name not in alarmed)
    assert unread == []


def test_outputs_give_the_predict_url_and_no_duplicate_endpoint(rest_template: dict[str, Any]) -> None:
    outputs = rest_template["Outputs"]
    template_url = tq.render(outputs["PredictUrlTemplate"]["Value"])
    api_url = tq.render(outputs["ApiUrl"]["Value"])
    assert template_url == f"{api_url}v1/models/{{name}}/predict"
    assert "{name}" in outputs["PredictUrlTemplate"]["Description"]
    assert not [name for name in outputs if name.startswith("ServingApiEndpoint")]


def test_every_gateway_response_answers_in_the_platforms_error_shape(platform_template: dict[str, Any]) -> None:
    """What API Gateway answers itself (no key, no route, throttled, over 10 MB, a failed function) is
    customised for every response type AWS lists ("Gateway response types for API Gateway") to the
    functions' own shape, {"error": {"code", "message"}, "request_id"}, keeping AWS's status codes."""
    from infra.constructs.api_errors import GATEWAY_ERRORS

    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in tq.resources(platform_template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {e.response_type for e in GATEWAY_ERRORS}
    assert len(responses) == 21
    for error in GATEWAY_ERRORS:
        properties = responses[error.response_type]
        if error.response_type == "MISSING_AUTHENTICATION_TOKEN":  # no credential: 401 with its challenge
            assert properties["StatusCode"] == "401"
            assert properties["ResponseParameters"] == {"gatewayresponse.header.WWW-Authenticate": "'AWS4-HMAC-SHA256'"}
        else:
            assert "StatusCode" not in properties  # AWS's default status of the type
        template = properties["ResponseTemplates"]["application/json"]
        rendered = json.loads(
            template.replace("$context.error.messageString", '"AWS says no"').replace("$context.requestId", "r-1")
        )
        assert rendered["request_id"] == "r-1"
        assert rendered["error"]["code"] == error.code
        assert rendered["error"]["message"] == (error.message or "AWS says no")
    assert "batch/<model>/" in responses["REQUEST_TOO_LARGE"]["ResponseTemplates"]["application/json"]


def _access_log_fields(template: dict[str, Any]) -> dict[str, str]:
    [stage] = tq.resources(template, "AWS::ApiGateway::Stage").values()
    return dict(json.loads(stage["Properties"]["AccessLogSetting"]["Format"]))


def test_the_access_log_keeps_only_what_traces_and_attributes_a_request(
    platform_template: dict[str, Any], rest_template: dict[str, Any]
) -> None:
    """The access log is billed by the byte on every request (issue #21): request id, caller, source
    ip, method, route, status and latency; the API key's id only under `rest`, where keys exist."""
    traced = {
        "id": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "method": "$context.httpMethod",
        "resource": "$context.resourcePath",  # not $context.path: client text, raw in a JSON line
        "status": "$context.status",
        "ms": "$context.responseLatency",
    }
    assert _access_log_fields(platform_template) == traced
    assert _access_log_fields(rest_template) == {**traced, "key": "$context.identity.apiKeyId"}


def test_cdk_synth_with_a_bad_setting_says_which_in_one_line_not_a_traceback() -> None:
    """What `cdk synth -c platform='{...}'` runs (cdk.json's app) with settings AWS would refuse."""
    import os
    import subprocess
    import sys

    from infra.paths import PROJECT_ROOT

    context = {"platform": {"serving": {"snap_start": True, "provisioned_concurrency": 1}}}
    done = subprocess.run(
        [sys.executable, "-m", "infra.app"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": "/nonexistent-never-written"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "snap_start and provisioned_concurrency cannot both be on" in done.stderr
