"""The synthesized platform template: security defaults, configuration and entry points."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from infra.app import build_app
from infra.constructs.encryption import Encryption
from infra.settings import SettingsError, load_settings
from tests.infra import template_queries as tq


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def test_every_bucket_is_encrypted_private_and_tls_only(platform_template: dict[str, Any]) -> None:
    buckets = _resources(platform_template, "AWS::S3::Bucket")
    assert len(buckets) == 5  # raw, curated, quarantine, artifacts, access logs
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in _resources(platform_template, "AWS::S3::BucketPolicy").values()
    }
    for logical, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical
        denies_plain_http = [
            s
            for s in policies[logical]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies_plain_http, f"{logical} accepts requests without TLS"


def test_data_buckets_are_versioned_and_transient_data_expires(platform_template: dict[str, Any]) -> None:
    buckets = _resources(platform_template, "AWS::S3::Bucket")
    by_name = {k.split("Data", 1)[1].rstrip("0123456789ABCDEF"): v["Properties"] for k, v in buckets.items()}
    for name in ("Raw", "Curated", "Quarantine", "Artifacts", "AccessLogs"):
        assert by_name[name]["VersioningConfiguration"] == {"Status": "Enabled"}, name
    for name in ("Raw", "Curated", "Quarantine", "Artifacts"):
        assert by_name[name]["LoggingConfiguration"]["DestinationBucketName"], name
    expiring = {
        name: [r for r in props.get("LifecycleConfiguration", {}).get("Rules", []) if "ExpirationInDays" in r]
        for name, props in by_name.items()
    }
    assert expiring["Raw"][0]["ExpirationInDays"] == 90
    assert expiring["Quarantine"][0]["ExpirationInDays"] == 180
    assert expiring["Artifacts"] == [
        {
            "ExpirationInDays": 90,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Prefix": "capture/",
            "Status": "Enabled",
        },
        {  # a partitioned upload's validation run: staged slices, records, item lists
            "ExpirationInDays": 7,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Prefix": "validation-work/",
            "Status": "Enabled",
        },
        {  # a batch file scored in parts: slices, counts, items, a gzip input's plain pieces
            "ExpirationInDays": 7,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Prefix": "batch-work/",
            "Status": "Enabled",
        },
    ]
    assert expiring["Curated"] == [], "accepted dataset versions must never expire"
    assert expiring["AccessLogs"] == [
        {"ExpirationInDays": 365, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}, "Status": "Enabled"}
    ]


def test_registry_table_is_on_demand_with_point_in_time_recovery(platform_template: dict[str, Any]) -> None:
    Template.from_json(platform_template).has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {
                        "SSEEnabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^EncryptionKey"), "Arn"]},
                    },
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_the_key_is_kept_with_the_data_it_encrypts(platform_template: dict[str, Any]) -> None:
    """The registry table outlives the stack by default; deleting its key would make it unreadable."""
    (key,) = _resources(platform_template, "AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Retain" and key["Properties"]["EnableKeyRotation"] is True
    throwaway = Stack(App(), "Throwaway")
    Encryption(throwaway, "Encryption", settings=load_settings({"retain_data_on_delete": False}))
    Template.from_stack(throwaway).has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})


def test_alerts_topic_is_encrypted_and_tls_only(platform_template: dict[str, Any]) -> None:
    template = Template.from_json(platform_template)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)


# CDK's functions that run only while a deployment writes bucket notifications or strips the VPC's
# default security group; CDK builds them (its role with AWSLambdaBasicExecutionRole, its runtime).
CDK_DEPLOY_TIME_HANDLERS = ("BucketNotificationsHandler", "CustomVpcRestrictDefaultSGCustomResourceProvider")


def test_functions_are_arm64_python312_traced_with_bounded_logs(platform_template: dict[str, Any]) -> None:
    functions = {  # CDK's own deploy-time handlers are CDK's to configure
        k: v
        for k, v in _resources(platform_template, "AWS::Lambda::Function").items()
        if not k.startswith(CDK_DEPLOY_TIME_HANDLERS)
    }
    # health, ingest, nine training steps and a Fargate fit's outcome, registry API, predict, batch scoring,
    # drift, performance, feedback, seven validation steps (six, and the reduce's failure recorded), six
    # steps of batch scoring in parts
    assert len(functions) == 31
    for logical, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", logical
        assert props["Architectures"] == ["arm64"], logical
        # Behind the API, a function follows the stage's sampling decision (test_serving.py).
        behind_the_api = logical.startswith(("ServingPredict", "ServingHealth", "RegistryApi"))
        assert props["TracingConfig"] == {"Mode": "PassThrough" if behind_the_api else "Active"}, logical
        assert "LogGroup" in props["LoggingConfig"], logical
    for logical, group in _resources(platform_template, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == 30, logical


def test_no_function_role_uses_a_managed_policy(platform_template: dict[str, Any]) -> None:
    for logical, role in _resources(platform_template, "AWS::IAM::Role").items():
        principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        if principal.get("Service") == "lambda.amazonaws.com" and not logical.startswith(CDK_DEPLOY_TIME_HANDLERS):
            assert "ManagedPolicyArns" not in role["Properties"], logical


def test_every_api_method_needs_a_signature_and_the_stage_is_traced(platform_template: dict[str, Any]) -> None:
    """Under the default front door (a function URL) no method takes a key: each is IAM-authorized.
    The key and usage plan of `front_door: rest` are tested in test_serving.py."""
    template = Template.from_json(platform_template)
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        },
    )
    for method in _resources(platform_template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        assert props.get("ApiKeyRequired") or props.get("AuthorizationType") == "AWS_IAM", props


def test_outputs_name_every_entry_point(platform_template: dict[str, Any]) -> None:
    assert set(platform_template["Outputs"]) >= {
        "RawBucketName",
        "CuratedBucketName",
        "QuarantineBucketName",
        "ArtifactsBucketName",
        "RegistryTableName",
        "TrainingStateMachineArn",
        "ApiUrl",
        "PredictFunctionUrl",
        "PredictionClientPolicyArn",
        "AlertsTopicArn",
        "DeadLetterQueueUrl",
        "PredictUrlTemplate",
    }


def test_errors_and_dead_letters_are_alarmed_to_the_topic(platform_template: dict[str, Any]) -> None:
    alarms = _resources(platform_template, "AWS::CloudWatch::Alarm")
    names = {(a["Properties"].get("Namespace"), a["Properties"].get("MetricName")) for a in alarms.values()}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in names
    assert ("AWS/Lambda", "Errors") in names
    for logical, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"], logical


def test_the_topic_policy_lets_this_stacks_alarms_and_only_them_publish(platform_template: dict[str, Any]) -> None:
    """A topic policy replaces SNS's default policy, so the TLS-only Deny alone leaves CloudWatch with
    nothing allowing it to publish: on AWS every alarm action then fails with "... is not authorized
    to perform: SNS:Publish ... because no resource-based policy allows the SNS:Publish action"
    (https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html; the alarm's own
    history shows it). The key's policy must also let CloudWatch use the topic's key
    (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger)."""
    alarms = {f"<{logical}.Arn>" for logical in _resources(platform_template, "AWS::CloudWatch::Alarm")}
    (policy,) = _resources(platform_template, "AWS::SNS::TopicPolicy").values()
    allows = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(allows) == 1 and allows[0]["Action"] == "sns:Publish"
    condition = allows[0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert {tq.render(arn) for arn in condition["ArnLike"]["aws:SourceArn"]} == alarms and len(alarms) >= 10
    (key,) = _resources(platform_template, "AWS::KMS::Key").values()
    assert any(
        "cloudwatch.amazonaws.com" in tq.as_list(s.get("Principal", {}).get("Service"))
        and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(tq.as_list(s["Action"]))
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    )


def test_no_function_reserves_concurrency(platform_template: dict[str, Any]) -> None:
    """Reserving concurrency fails the deploy when the account's unreserved concurrency would drop
    below 100 ("Specified ReservedConcurrentExecutions for function decreases account's
    UnreservedConcurrentExecution below its minimum value of [100]"); new accounts often have a
    limit of 10 (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""
    for logical, function in _resources(platform_template, "AWS::Lambda::Function").items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], logical


def test_the_register_step_may_write_every_item_of_its_promotion_transaction(platform_template: dict[str, Any]) -> None:
    """set_alias(champion) deletes the challenger alias in its TransactWriteItems when the challenger
    holds the promoted version; DynamoDB authorizes each item of a transaction by its own action
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)."""
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    grants = tq.grants(platform_template, "TrainingRegisterFunction")
    for action in ("PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"):
        assert (f"dynamodb:{action}", f"<{table}.Arn>") in grants, action
    assert ("dynamodb:DeleteItem", f"<{table}.Arn>") not in tq.grants(platform_template, "TrainingFitCandidate")


def test_alarm_email_from_context_subscribes_to_the_topic(tmp_path: Any) -> None:
    app, stack = build_app(
        context={"aws:cdk:bundling-stacks": [], "platform": {"alarm_email": "ops@example.com"}}, outdir=str(tmp_path)
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    Template.from_json(template).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"architecture": "sparc"}, "platform.architecture"),
        ({"log_retention_days": 31}, "platform.log_retention_days"),
        ({"alarm_email": "not-an-address"}, "platform.alarm_email"),
        ({"prediction_throttle": {"rate_limit": -1}}, "platform.prediction_throttle.rate_limit"),
        ({"unknown_setting": 1}, "platform.unknown_setting"),
    ],
)
def test_malformed_settings_are_refused_naming_the_field(context: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings(context)


def test_settings_given_on_the_cdk_command_line_are_read_as_json() -> None:
    """`cdk synth -c platform='{...}'` hands the app the value as text (the README's way to choose a
    front door); it is read as the same object cdk.json gives, and text that is not a JSON object is
    refused saying so."""
    assert load_settings('{"serving": {"front_door": "rest"}}').serving.front_door == "rest"
    assert load_settings('{"alarm_email": "ops@example.com"}').alarm_email == "ops@example.com"
    with pytest.raises(SettingsError, match=r"-c platform=\.\.\. is not JSON"):
        load_settings("{serving: rest}")
    with pytest.raises(SettingsError, match="must be a JSON object"):
        load_settings('["rest"]')
    with pytest.raises(SettingsError, match=r"platform\.serving\.front_door"):
        load_settings('{"serving": {"front_door": "carrier-pigeon"}}')


def _training_states(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of the training state machine, by name (Map item processors included)."""
    import json

    from tests.infra import template_queries as tq

    _, machine = tq.one(template, "AWS::StepFunctions::StateMachine", "Training")
    states: dict[str, dict[str, Any]] = {}

    def collect(graph: dict[str, Any]) -> None:
        for name, state in graph["States"].items():
            states[name] = state
            for nested in ("ItemProcessor", "Iterator"):
                if nested in state:
                    collect(state[nested])

    collect(json.loads(tq.render(machine["Properties"]["DefinitionString"])))
    return states


def test_the_register_step_retries_a_crash_since_it_is_idempotent_per_run(platform_template: dict[str, Any]) -> None:
    from infra.constructs.training import REGISTER_RETRIES

    register = _training_states(platform_template)["Register"]
    crash_retry = [r for r in register["Retry"] if r["ErrorEquals"] == ["States.TaskFailed"]]
    assert crash_retry == [
        {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": REGISTER_RETRIES, "BackoffRate": 2}
    ]
    assert REGISTER_RETRIES >= 1
    # After its retries the step still takes the failure path that records the run and tells people.
    assert [c["Next"] for c in register["Catch"]] == ["Record failure"]


def test_a_timed_out_candidate_is_retried_once_then_reported_not_failing_the_run(
    platform_template: dict[str, Any],
) -> None:
    fit = _training_states(platform_template)["Fit candidate"]
    timeout_retry = [r for r in fit["Retry"] if "Sandbox.Timedout" in r["ErrorEquals"]]
    assert [(sorted(r["ErrorEquals"]), r["MaxAttempts"]) for r in timeout_retry] == [
        (["Sandbox.Timedout", "States.Timeout"], 1)
    ]
    assert [(c["ErrorEquals"], c["Next"]) for c in fit["Catch"]] == [(["States.ALL"], "Candidate failed")]


def test_the_uncommitted_upload_check_runs_every_quarter_of_the_timeout_and_may_not_delete_records(
    platform_template: dict[str, Any],
) -> None:
    """The ingest function updates each upload folder's record (a file opens it, its marker or a report
    closes it) and queries the open ones on a schedule: UpdateItem and Query, never DeleteItem."""
    ingest = tq.logical(platform_template, "AWS::Lambda::Function", "IngestionIngestFunction")
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    [schedule] = [
        r["Properties"]["ScheduleExpression"]
        for r in tq.resources(platform_template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [ingest, "Arn"]} for t in r["Properties"].get("Targets", []))
        and "ScheduleExpression" in r["Properties"]
    ]
    assert schedule == "rate(15 minutes)"  # the default timeout: 60 minutes
    on_table = {a for a, r in tq.grants(platform_template, "IngestionIngestFunction") if r == f"<{table}.Arn>"}
    assert on_table == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}


def test_uploads_outside_raw_reach_the_ingest_function_through_eventbridge(platform_template: dict[str, Any]) -> None:
    """S3 refuses overlapping notification rules, so keys outside `raw/` (a file at the bucket's root)
    come through EventBridge: the raw bucket sends its events there and one rule targets ingest."""
    raw = tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")
    ingest = tq.logical(platform_template, "AWS::Lambda::Function", "IngestionIngestFunction")
    notifications = tq.one(platform_template, "Custom::S3BucketNotifications", "DataRawNotifications")[1]["Properties"]
    assert notifications["NotificationConfiguration"]["EventBridgeConfiguration"] == {}
    rules = [
        r["Properties"]
        for r in tq.resources(platform_template, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [ingest, "Arn"]} for t in r["Properties"].get("Targets", []))
        and "EventPattern" in r["Properties"]  # the other rule is the schedule of the uncommitted-upload check
    ]
    assert len(rules) == 1
    assert rules[0]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": raw}]}, "object": {"key": [{"anything-but": {"prefix": "raw/"}}]}},
    }
    target = rules[0]["Targets"][0]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2 and "DeadLetterConfig" in target
    Template.from_json(platform_template).has_resource_properties(
        "AWS::Lambda::Permission",
        {"FunctionName": {"Fn::GetAtt": [ingest, "Arn"]}, "Principal": "events.amazonaws.com"},
    )
    # It only reports such a file, never reads it: S3 reads stay on raw/* (and contracts), as before.
    on_raw = {(a, r) for a, r in tq.grants(platform_template, "IngestionIngestFunction") if r.startswith(f"<{raw}.")}
    # ListBucket (limited to raw/ by its s3:prefix condition): the uncommitted-upload check lists each
    # folder past the timeout.
    assert on_raw == {
        ("s3:GetObject", f"<{raw}.Arn>/raw/*"),
        ("s3:GetObjectVersion", f"<{raw}.Arn>/raw/*"),
        ("s3:ListBucket", f"<{raw}.Arn>"),
    }


def _training_memory(template: dict[str, Any]) -> dict[str, int]:
    return {
        step: tq.one(template, "AWS::Lambda::Function", f"Training{step}Function")[1]["Properties"]["MemorySize"]
        for step in ("Prepare", "ScoreChampion", "FitCandidate", "Evaluate", "Export", "Parity", "Gate")
    }


def test_the_steps_holding_the_training_set_get_the_configured_memory(
    platform_template: dict[str, Any], tmp_path: Any
) -> None:
    """Prepare holds about 220 MB plus 30 bytes per cell (README, "Limits"): the steps that hold the
    training set take `training.data_step_memory_mb` (3,008 by default: about 4.5M rows of 20
    features), up to Lambda's 10,240; the others keep their own sizes."""
    assert _training_memory(platform_template) == {
        "Prepare": 3008,
        "ScoreChampion": 3008,
        "FitCandidate": 3008,
        "Evaluate": 3008,
        "Export": 3008,
        "Parity": 3008,
        "Gate": 512,
    }
    app, stack = build_app(
        context={"aws:cdk:bundling-stacks": [], "platform": {"training": {"data_step_memory_mb": 10240}}},
        outdir=str(tmp_path),
    )
    larger = _training_memory(app.synth().get_stack_by_name(stack.stack_name).template)
    assert larger["Prepare"] == larger["Evaluate"] == 10240 and larger["FitCandidate"] == 3008
    with pytest.raises(SettingsError, match=r"platform\.training\.data_step_memory_mb"):
        load_settings({"training": {"data_step_memory_mb": 20000}})
