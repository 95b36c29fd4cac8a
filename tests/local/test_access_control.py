"""The local cloud refuses what AWS refuses: remove one grant, one resource-policy statement or one
permission from the deployed platform and the user-visible path fails the way it would on AWS.

Grants are removed the way an operator would change a deployed stack, through the IAM, SNS and Lambda
APIs, so each test starts from the template `cdk deploy` ships and changes exactly one thing. The
enforcement itself, on a bare local cloud: tests/localcloud/test_iam_enforcement.py.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from localcloud import lambda_
from localcloud.deploy import DeployedStack
from tests.local.test_training import DATASET, Platform, _config, _item, _train


def _role_of(function_name: str) -> str:
    return str(boto3.client("lambda").get_function_configuration(FunctionName=function_name)["Role"]).rsplit("/", 1)[1]


def _revoke(role: str, action: str) -> int:
    """Remove `action` from every inline policy of `role`; the number of statements it was in."""
    iam = boto3.client("iam")
    removed = 0
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document: Any = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        kept = []
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                removed += 1
                actions = [a for a in actions if a != action]
            if actions:
                kept.append({**statement, "Action": actions})
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept}))
    return removed


def _invocations(function_name: str) -> list[lambda_.Invocation]:
    return [i for i in lambda_.history() if i.function_name == function_name]


def _broken_upload(stack: DeployedStack) -> None:
    """A file the contract rejects: ingestion quarantines it and notifies the team."""
    from tests.local.test_ingestion import _csv, _deploy_contract, _frame

    _deploy_contract(stack)
    frame = _frame()
    frame.loc[4, "mean_radius"] = -1.0
    boto3.client("s3").put_object(
        Bucket=stack.outputs["RawBucketName"], Key=f"raw/{DATASET}/broken.csv", Body=_csv(frame)
    )


def test_the_ingest_function_without_sns_publish_fails_with_access_denied_and_its_event_is_dead_lettered(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    ingest = stack.function_name("IngestionIngestFunction")
    mails_before = len(cloud.inbox.messages())
    assert _revoke(_role_of(ingest), "sns:Publish") == 1
    _broken_upload(stack)
    cloud.settle()
    attempts = _invocations(ingest)[-3:]
    assert [a.errored for a in attempts] == [True, True, True], "Lambda retries an async event twice"
    error = json.loads(attempts[-1].payload)
    assert error["errorType"] == "AuthorizationErrorException" or "AuthorizationError" in error["errorMessage"]
    assert (
        f"assumed-role/{_role_of(ingest)}/{ingest} is not authorized to perform: sns:Publish" in error["errorMessage"]
    )
    assert stack.outputs["AlertsTopicArn"] in error["errorMessage"]
    assert len(cloud.inbox.messages()) == mails_before, "no mail without the grant"
    queue_url = stack.resource("AWS::SQS::Queue", "MonitoringDeadLetters")  # a queue's physical id is its URL
    (dead,) = boto3.client("sqs").receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert "broken.csv" in dead["Body"], "the S3 event waits in the dead-letter queue for a retry"
    reason = dead["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert "is not authorized to perform: sns:Publish" in reason, "Lambda says why, as on AWS"
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == attempts[-1].request_id


def test_the_register_step_without_condition_check_item_fails_the_run_naming_the_action(
    breast_cancer_platform: Platform,
) -> None:
    """The register step writes the version in one TransactWriteItems with a ConditionCheck of the run
    item; DynamoDB authorizes each item by its own action, so losing that one grant fails the step."""
    _, stack = breast_cancer_platform
    register = stack.function_name("TrainingRegisterFunction")
    assert _revoke(_role_of(register), "dynamodb:ConditionCheckItem") == 1
    execution = _train(stack, _config(), "denied-run")
    assert execution["status"] == "FAILED"
    run = _item(stack, "RUN#denied-run", "META")
    assert run is not None and run["status"] == "failed"
    assert "AccessDeniedException" in json.dumps(run, default=str)
    assert "dynamodb:ConditionCheckItem" in json.dumps(run, default=str)
    assert _item(stack, f"MODEL#{DATASET}", "ALIAS#champion") is None


def test_without_its_lambda_grant_the_state_machine_cannot_start_a_step(breast_cancer_platform: Platform) -> None:
    """Step Functions invokes each task with the state machine's role, not the caller's."""
    _, stack = breast_cancer_platform
    machine_role = stack.resource("AWS::IAM::Role", "TrainingPipelineRole")
    assert _revoke(machine_role, "lambda:InvokeFunction") >= 1
    execution = _train(stack, _config(), "no-invoke")
    assert execution["status"] == "FAILED"
    history = boto3.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    failures = [e for e in history if e["type"] == "LambdaFunctionFailed" or e["type"].endswith("Failed")]
    assert any("lambda:InvokeFunction" in json.dumps(e, default=str) for e in failures)


def _alarm(stack: DeployedStack) -> str:
    name = stack.resource("AWS::CloudWatch::Alarm", "MonitoringDeadLettersWaiting")
    return name


def _fire_test_alarm(alarm: str) -> None:
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="access-control test")


def _last_action(alarm: str) -> dict[str, Any]:
    items = boto3.client("cloudwatch").describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")
    return dict(items["AlarmHistoryItems"][0])


def test_a_test_alarm_reaches_the_team_through_the_topic_policy(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    alarm = _alarm(stack)
    _fire_test_alarm(alarm)
    assert any(alarm in m.subject and m.subject.startswith("ALARM") for m in cloud.inbox.messages())
    assert _last_action(alarm)["HistorySummary"].startswith("Successfully executed action")


def test_without_cloudwatch_in_the_topic_policy_no_mail_arrives_and_the_history_says_why(
    breast_cancer_platform: Platform,
) -> None:
    cloud, stack = breast_cancer_platform
    topic = stack.outputs["AlertsTopicArn"]
    sns = boto3.client("sns")
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "AllowThisStacksAlarmsToPublish"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    alarm = _alarm(stack)
    mails_before = len(cloud.inbox.messages())
    _fire_test_alarm(alarm)
    assert len(cloud.inbox.messages()) == mails_before
    action = _last_action(alarm)
    assert action["HistorySummary"] == f"Failed to execute action {topic}"
    error = json.loads(action["HistoryData"])["error"]
    assert error.startswith("CloudWatch Alarms is not authorized to perform: sns:Publish on resource: " + topic)
    assert "because no resource-based policy allows the sns:Publish action" in error


def test_without_cloudwatch_in_the_key_policy_the_alarm_cannot_publish(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    kms = boto3.client("kms")
    key = stack.resource("AWS::KMS::Key", "EncryptionKey")
    stored: Any = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    policy = json.loads(stored) if isinstance(stored, str) else stored  # moto keeps CloudFormation's dict
    for statement in policy["Statement"]:
        services = statement.get("Principal", {}).get("Service")
        if services:
            statement["Principal"]["Service"] = [
                s for s in ([services] if isinstance(services, str) else services) if s != "cloudwatch.amazonaws.com"
            ]
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    mails_before = len(cloud.inbox.messages())
    _fire_test_alarm(_alarm(stack))
    assert len(cloud.inbox.messages()) == mails_before
    assert "kms:GenerateDataKey" in json.loads(_last_action(_alarm(stack))["HistoryData"])["error"]


def test_an_s3_notification_needs_the_functions_permission(breast_cancer_platform: Platform) -> None:
    cloud, stack = breast_cancer_platform
    ingest = stack.function_name("IngestionIngestFunction")
    lam = boto3.client("lambda")
    statements = json.loads(lam.get_policy(FunctionName=ingest)["Policy"])["Statement"]
    for statement in statements:
        if statement["Principal"] == {"Service": "s3.amazonaws.com"}:
            lam.remove_permission(FunctionName=ingest, StatementId=statement["Sid"])
    before = len(_invocations(ingest))
    _broken_upload(stack)
    cloud.settle()
    assert len(_invocations(ingest)) == before, "S3 invokes nothing without the permission"
    refused = [r for r in lambda_.refused_deliveries() if r.target_arn.endswith(f":{ingest}")]
    assert refused and "s3.amazonaws.com is not authorized to perform: lambda:InvokeFunction" in refused[-1].reason


def test_a_function_without_sqs_send_message_loses_its_dead_letter_and_counts_it(
    breast_cancer_platform: Platform,
) -> None:
    """Lambda writes a failed async event to the DLQ with the function's own role; without the grant the
    event is dropped and DeadLetterErrors counts it."""
    cloud, stack = breast_cancer_platform
    ingest = stack.function_name("IngestionIngestFunction")
    _revoke(_role_of(ingest), "sns:Publish")  # the event fails every attempt
    _revoke(_role_of(ingest), "sqs:SendMessage")
    _broken_upload(stack)
    cloud.settle()
    queue_url = stack.resource("AWS::SQS::Queue", "MonitoringDeadLetters")
    assert "Messages" not in boto3.client("sqs").receive_message(QueueUrl=queue_url)
    metrics = boto3.client("cloudwatch").list_metrics(Namespace="AWS/Lambda", MetricName="DeadLetterErrors")
    assert [m["Dimensions"] for m in metrics["Metrics"]] == [[{"Name": "FunctionName", "Value": ingest}]]


def test_the_api_answers_500_when_its_function_lacks_the_gateways_permission(breast_cancer_platform: Platform) -> None:
    """API Gateway invokes an integration's function only through its AWS::Lambda::Permission; without
    it AWS answers 500 ("Execution failed due to configuration error: Invalid permissions on Lambda
    function")."""
    from tests.local.conftest import front_door

    cloud, stack = breast_cancer_platform
    door = front_door(cloud, stack)
    assert door.health()[0] == 200
    health = stack.function_name("ServingHealthFunction")
    lam = boto3.client("lambda")
    for statement in json.loads(lam.get_policy(FunctionName=health)["Policy"])["Statement"]:
        if "/prod/" in json.dumps(statement.get("Condition")):
            lam.remove_permission(FunctionName=health, StatementId=statement["Sid"])
    status, body = door.health()
    assert (status, body["error"]) == (500, {"code": "api_configuration_error", "message": "Internal server error"})
