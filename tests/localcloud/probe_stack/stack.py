"""The probe stack: one resource of each kind the local cloud must bring to life."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

CODE = Path(__file__).parent


class ProbeStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        code = lambda_.Code.from_asset(str(CODE), exclude=["**/__pycache__", "stack.py", "__init__.py"])

        def function(name: str, handler: str, **kwargs: Any) -> lambda_.Function:
            return lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_12,
                handler=f"probe_handlers.probe.{handler}",
                code=code,
                **kwargs,
            )

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            removal_policy=RemovalPolicy.DESTROY,
        )
        dead_letters = sqs.Queue(self, "DeadLetters")
        bucket = s3.Bucket(self, "Uploads", removal_policy=RemovalPolicy.DESTROY)
        on_upload = function(
            "OnUpload",
            "on_upload",
            environment={"PROBE_GREETING": "hello from the probe"},
            dead_letter_queue=dead_letters,
            timeout=Duration.seconds(10),
        )
        bucket.grant_read_write(on_upload)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, s3n.LambdaDestination(on_upload), s3.NotificationKeyFilter(prefix="in/")
        )

        square = function("Square", "square", timeout=Duration.seconds(5))
        function("Slow", "slow", timeout=Duration.seconds(1))
        fit = tasks.LambdaInvoke(self, "Square it", lambda_function=square, payload_response_only=True)
        fit.add_retry(errors=["Lambda.TooManyRequestsException"], max_attempts=2)
        each = sfn.Map(self, "Each number", items_path="$.numbers", max_concurrency=4, result_path="$.squares")
        each.item_processor(fit)
        each.add_catch(
            sfn.Fail(self, "A number failed", error="NumberFailed", cause="a Map iteration raised"),
            errors=["States.ALL"],
        )
        self.machine = sfn.StateMachine(
            self, "Machine", definition_body=sfn.DefinitionBody.from_chainable(each.next(sfn.Succeed(self, "Done")))
        )

        tick = function("Tick", "tick", environment={"TABLE": self.table.table_name})
        self.table.grant_read_write_data(tick)
        events.Rule(
            self,
            "Every5Minutes",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[targets.LambdaFunction(tick)],
        )
        routed = sqs.Queue(self, "Routed")
        failed_runs = sqs.Queue(self, "FailedRuns")
        events.Rule(
            self,
            "MachineFailed",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["FAILED"], "stateMachineArn": [self.machine.state_machine_arn]},
            ),
            targets=[targets.SqsQueue(failed_runs)],
        )
        events.Rule(
            self, "ProbeEvents", event_pattern=events.EventPattern(source=["probe"]), targets=[targets.SqsQueue(routed)]
        )

        topic = sns.Topic(self, "Alerts")
        topic.add_subscription(subscriptions.EmailSubscription("ops@example.com"))
        notified = sqs.Queue(self, "Notified")
        topic.add_subscription(subscriptions.SqsSubscription(notified, raw_message_delivery=True))
        failures = cloudwatch.Metric(
            namespace="Probe",
            metric_name="Failures",
            dimensions_map={"Probe": "probe"},
            period=Duration.minutes(1),
            statistic="Sum",
        )
        alarm = cloudwatch.Alarm(
            self,
            "FailuresAlarm",
            metric=failures,
            threshold=1,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))

        api_handler = function("ApiHandler", "api")
        rest = apigw.RestApi(self, "Api", deploy_options=apigw.StageOptions(stage_name="test"))
        items = rest.root.add_resource("items").add_resource("{id}")
        items.add_method("GET", apigw.LambdaIntegration(api_handler), api_key_required=True)
        rest.root.add_resource("admin").add_method(
            "GET", apigw.LambdaIntegration(api_handler), authorization_type=apigw.AuthorizationType.IAM
        )
        key = rest.add_api_key("Key")
        plan = rest.add_usage_plan("Plan", throttle=apigw.ThrottleSettings(rate_limit=5, burst_limit=3))
        plan.add_api_key(key)
        plan.add_api_stage(stage=rest.deployment_stage)

        url_handler = function("UrlHandler", "url")
        function_url = url_handler.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)

        for name, value in {
            "FunctionUrl": function_url.url,
            "UrlFunctionArn": url_handler.function_arn,
            "BucketName": bucket.bucket_name,
            "TableName": self.table.table_name,
            "MachineArn": self.machine.state_machine_arn,
            "DeadLetterQueueUrl": dead_letters.queue_url,
            "RoutedQueueUrl": routed.queue_url,
            "FailedRunsQueueUrl": failed_runs.queue_url,
            "NotifiedQueueUrl": notified.queue_url,
            "TopicArn": topic.topic_arn,
            "ApiId": rest.rest_api_id,
            "ApiKeyId": key.key_id,
        }.items():
            cdk.CfnOutput(self, name, value=value)


def build_probe_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(context=context, outdir=outdir)
    return app, ProbeStack(app, "LocalCloudProbe")
