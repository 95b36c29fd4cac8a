"""Labels in (#19) in the synthesized template: the feedback route behind the prediction key, the
feedback function on its own notification prefix with a dead-letter queue, and exactly the grants
both need to store labels."""

from __future__ import annotations

from typing import Any

from tests.infra import template_queries as tq
from tests.infra.test_serving import _integration_target, _method


def test_the_feedback_route_needs_the_prediction_key_and_reaches_the_predict_function(
    rest_template: dict[str, Any],
) -> None:
    """Under `front_door: rest`; the default function URL takes /feedback like any path (test_serving.py)."""
    platform_template = rest_template
    method = _method(platform_template, "POST", "/v1/models/{name}/feedback")
    assert method["ApiKeyRequired"] is True and method["AuthorizationType"] == "NONE"
    assert method["RequestValidatorId"] == {
        "Ref": tq.logical(platform_template, "AWS::ApiGateway::RequestValidator", "Serving")
    }
    predict = tq.logical(platform_template, "AWS::Lambda::Function", "ServingPredictFunction")
    assert _integration_target(method) == {"Fn::GetAtt": [predict, "Arn"]}
    model_id, model = tq.one(platform_template, "AWS::ApiGateway::Model", "ServingFeedbackRequest")
    assert method["RequestModels"] == {"application/json": {"Ref": model_id}}
    # The label limit is the function's (413 with a clear message), not the gateway's.
    assert model["Properties"]["Schema"]["type"] == "object" and "maxItems" not in str(model["Properties"]["Schema"])


def test_feedback_files_notify_the_feedback_function_on_their_own_prefix(platform_template: dict[str, Any]) -> None:
    function_id, function = tq.one(platform_template, "AWS::Lambda::Function", "FeedbackIntakeFunction")
    props = function["Properties"]
    assert props["Handler"] == "handlers.feedback.handler" and props["Timeout"] == 300
    assert props["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [tq.logical(platform_template, "AWS::SQS::Queue", "MonitoringDeadLetters"), "Arn"]}
    }
    notifications = tq.one(platform_template, "Custom::S3BucketNotifications", "DataRawNotifications")[1]["Properties"]
    filters = {
        c["LambdaFunctionArn"]["Fn::GetAtt"][0]: c["Filter"]["Key"]["FilterRules"]
        for c in notifications["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    }
    assert filters[function_id] == [{"Name": "prefix", "Value": "feedback/"}]
    # S3 refuses overlapping prefixes ("Configuring event notifications using object key name
    # filtering", Amazon S3 User Guide): every rule on the raw bucket has its own.
    prefixes = [rule[0]["Value"] for rule in filters.values()]
    assert sorted(prefixes) == ["batch/", "feedback/", "raw/"]
    assert not [p for p in prefixes for q in prefixes if p != q and q.startswith(p)]


def test_the_feedback_function_reads_files_and_signatures_and_writes_labels_and_reports_only(
    platform_template: dict[str, Any],
) -> None:
    table = tq.logical(platform_template, "AWS::DynamoDB::Table", "RegistryTable")
    keys_table = tq.logical(platform_template, "AWS::DynamoDB::Table", "PredictionKeysTable")
    artifacts = tq.logical(platform_template, "AWS::S3::Bucket", "DataArtifacts")
    raw = tq.logical(platform_template, "AWS::S3::Bucket", "DataRaw")
    queue = tq.logical(platform_template, "AWS::SQS::Queue", "MonitoringDeadLetters")
    topic = tq.logical(platform_template, "AWS::SNS::Topic", "MonitoringAlerts")
    key = tq.logical(platform_template, "AWS::KMS::Key", "EncryptionKey")
    grants = tq.grants(platform_template, "FeedbackIntakeFunction")
    assert {(a, r) for a, r in grants if not a.startswith(("logs:", "xray:"))} == {
        ("sqs:SendMessage", f"<{queue}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>"),
        ("dynamodb:GetItem", f"<{table}.Arn>/index/*"),
        ("dynamodb:Query", f"<{table}.Arn>"),
        ("dynamodb:Query", f"<{table}.Arn>/index/*"),
        ("dynamodb:Query", f"<{keys_table}.Arn>"),  # the request keys and ids a file's labels name
        ("sns:Publish", f"<{topic}>"),
        # The table's and the topic's key (reading the table, publishing to the encrypted topic).
        ("kms:Decrypt", f"<{key}.Arn>"),
        ("kms:DescribeKey", f"<{key}.Arn>"),
        ("kms:GenerateDataKey", f"<{key}.Arn>"),
        ("s3:GetObject", f"<{raw}.Arn>/feedback/*"),
        ("s3:GetObjectVersion", f"<{raw}.Arn>/feedback/*"),
        ("s3:GetObject", f"<{artifacts}.Arn>/models/*/signature.json"),
        ("s3:PutObject", f"<{artifacts}.Arn>/labels/*"),
        ("s3:PutObject", f"<{artifacts}.Arn>/reports/feedback/*"),
    }


def test_the_ingest_function_still_hears_of_feedback_files_and_ignores_them(platform_template: dict[str, Any]) -> None:
    """One EventBridge pattern cannot leave out raw/, batch/ and feedback/ at once: the rule sends
    feedback/ keys to the ingest function too, whose handler skips them (tests/unit/handlers/test_ingest.py)."""
    rule = next(
        r["Properties"]
        for r in tq.resources(platform_template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type") == ["Object Created"]
    )
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"anything-but": {"prefix": "raw/"}}]
