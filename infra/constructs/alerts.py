"""Alerts: the topic people subscribe to, the dead-letter queue, every alarm and the dashboard.

Not drift monitoring (that is `drift.py`, as `mlops.monitoring` is in the core): this is how the
platform tells people that something went wrong.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, IResolveContext, IStableListProducer, Lazy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.platform_function import METRICS_NAMESPACE
from infra.nag import acknowledge, skip_checkov
from infra.settings import PlatformSettings

# Powertools Metrics adds a `service` dimension (POWERTOOLS_SERVICE_NAME) to every metric it emits, so
# an EMF metric is found by its name plus `service`; PlatformFunction sets the namespace for all.
SERVING_SERVICE = "serving"
# The API alarms' levels: a 5xx share no healthy deployment reaches, and a p99 well above the
# predict function's (a few ms warm; a cold start is ~1 s) so only sustained slowness alarms.
API_5XX_RATE = 0.05
API_P99_MS = 2000.0


class Alerts(Construct):
    """Owns the alerts topic, the shared dead-letter queue and every alarm, so notifications have one home.

    The topic is encrypted with the platform's customer-managed key because CloudWatch alarms cannot
    publish to a topic encrypted with the AWS-managed SNS key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],  # a key policy's resource is always the key itself
                )
            )
        self.topic = sns.Topic(
            self,
            "Alerts",
            display_name="Serverless MLOps alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one, and CDK's enforce_ssl writes a policy holding only
        # the TLS Deny: without this Allow every alarm action is refused on AWS ("no resource-based
        # policy allows the SNS:Publish action"). Scoped to this account and to this stack's alarms.
        self._alarms: list[cloudwatch.Alarm] = []
        self._errors_by_function: cloudwatch.GraphWidget | None = None
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnLike": {"aws:SourceArn": Lazy.list(_AlarmArns(self._alarms))},
                },
            )
        )
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of the async paths."
        )
        skip_checkov(
            self.dead_letters,
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which this check does not recognize "
            "(it looks for KmsMasterKeyId only). The queue holds failed event envelopes (bucket and key names, "
            "schedule events), no data; a customer-managed key would add a key grant for every sender.",
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.alarm(
            "DeadLettersWaiting",
            self.dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            description="An asynchronous event failed after all retries and waits in the dead-letter queue.",
        )

    def alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm that notifies the alerts topic on ALARM and on recovery, and shows on the dashboard."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=comparison,
            treat_missing_data=missing_data,
            alarm_description=description,
        )
        self._alarms.append(alarm)
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.dashboard.add_widgets(cloudwatch.AlarmWidget(title=construct_id, alarm=alarm, width=8))
        return alarm

    def watch_function(self, name: str, function: lambda_.IFunction) -> None:
        """Errors and throttles of `function` alarm; its errors show on the dashboard under `name`.

        The alarms are one pair for every function, made at the first call: they watch `AWS/Lambda`
        `Errors` and `Throttles` without a dimension, the aggregate Lambda publishes across every
        function of the account in the region. CloudWatch bills $0.10 a month per metric an alarm
        watches, so an alarm per function and per kind cost $0.20 for each function (16 alarms,
        $1.60, for eight functions) and a metric-math sum of them as much; two alarms on the
        aggregates cost $0.20 whatever the number of functions and cover one added later. In an
        account shared with other workloads their functions' errors alarm here too: the dashboard's
        row and `AWS/Lambda` by `FunctionName` tell which function it was.
        """
        if self._errors_by_function is None:
            for kind, what in (("Errors", "raised an error"), ("Throttles", "was throttled")):
                self.alarm(
                    f"Function{kind}",
                    cloudwatch.Metric(
                        namespace="AWS/Lambda", metric_name=kind, statistic="Sum", period=Duration.minutes(1)
                    ),
                    threshold=1,
                    description=f"A Lambda function of this account and region {what}: one of the platform's, "
                    "or another workload's in a shared account (the dashboard's errors by function say which).",
                )
            self._errors_by_function = cloudwatch.GraphWidget(title="Errors by function", width=8)
            self.dashboard.add_widgets(self._errors_by_function)
        self._errors_by_function.add_left_metric(
            function.metric_errors(period=Duration.minutes(5), statistic="Sum", label=name)
        )

    def emf_metric(
        self,
        name: str,
        *,
        service: str,
        statistic: str = "Sum",
        period: Duration | None = None,
    ) -> cloudwatch.Metric:
        """A metric a function emits through Powertools (EMF): its namespace and `service` dimension only.

        CloudWatch matches the exact dimension set, so the function must emit it with no further
        dimensions (e.g. through `single_metric`, not after `add_dimension` on a shared Metrics).
        """
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": service},
            statistic=statistic,
            period=period or Duration.minutes(5),
        )

    def watch_api(self, api: apigw.RestApi) -> None:
        """The predict API as its clients see it under `front_door: rest`: server errors and slow answers."""
        self.alarm(
            "ApiServerErrors",
            api.metric_server_error(period=Duration.minutes(5), statistic="Average"),
            threshold=API_5XX_RATE,
            description=f"More than {API_5XX_RATE:.0%} of API requests answered 5xx over 5 minutes.",
        )
        self.alarm(
            "ApiLatencyP99",
            api.metric_latency(period=Duration.minutes(5), statistic="p99"),
            threshold=API_P99_MS,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"The API's p99 latency was above {API_P99_MS:g} ms in 2 of 3 five-minute periods.",
        )

    def watch_function_url(self, function: lambda_.IFunction) -> None:
        """The predict function URL as its clients see it: the share of 5xx answers and p99 latency, at
        the REST API alarms' levels (under `front_door: function_url` the REST API carries only registry
        and health calls, so its alarms would not see a prediction).

        Lambda publishes `UrlRequestCount`, `Url4xxCount`, `Url5xxCount` and `UrlRequestLatency` in
        `AWS/Lambda` by `FunctionName` (every URL on the function's $LATEST or any alias, so the `live`
        alias's URL too), `Resource` and `ExecutedVersion`
        (https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html). The 5xx share is the
        Average of `Url5xxCount`, one alarm metric ($0.10): the page calls it an invocation metric, and
        Lambda's invocation metrics are binary indicators, 0 or 1 per request
        (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html). The ratio
        Url5xxCount / UrlRequestCount in metric math would watch two metrics ($0.20). Were the metric
        published only when non-zero, the Average would be 1 at the first 5xx: the alarm would fire
        early, never stay silent. The page suggests Average and Max for `UrlRequestLatency`; p99 is
        used as for the REST API's Latency, and is not yet checked against AWS.
        """

        def url_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name=name,
                dimensions_map={"FunctionName": function.function_name},
                statistic=statistic,
                period=Duration.minutes(5),
            )

        self.alarm(
            "PredictUrlServerErrors",
            url_metric("Url5xxCount", "Average"),
            threshold=API_5XX_RATE,
            description=f"More than {API_5XX_RATE:.0%} of prediction requests to the predict function URL "
            "answered 5xx over 5 minutes.",
        )
        self.alarm(
            "PredictUrlLatencyP99",
            url_metric("UrlRequestLatency", "p99"),
            threshold=API_P99_MS,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"The predict function URL's p99 latency was above {API_P99_MS:g} ms in 2 of 3 "
            "five-minute periods.",
        )

    def watch_training(self, state_machine: sfn.IStateMachine) -> None:
        self.alarm(
            "TrainingFailed",
            state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="A training pipeline execution failed (the run record and notification say why).",
        )

    def watch_serving(self, *, predict: lambda_.IFunction, batch_scoring: lambda_.IFunction) -> None:
        """The inference alarms and dashboard row: model loading, capture, traffic per model version."""
        self.watch_function("Predict", predict)
        self.watch_function("BatchScoring", batch_scoring)
        self.alarm(
            "ModelLoadFailures",
            self.emf_metric("ModelLoadFailures", service=SERVING_SERVICE, period=Duration.minutes(5)),
            threshold=1,
            description="The predict function could not load a model artifact and is serving the last good "
            "version, or none.",
        )
        self.alarm(
            "BatchFilesFailed",
            self.emf_metric("BatchFilesFailed", service=SERVING_SERVICE, period=Duration.minutes(5)),
            threshold=1,
            description="A batch-scoring file could not be scored: its _FAILED.json beside the input says why.",
        )
        self.alarm(
            "CaptureFailures",
            self.emf_metric("CaptureFailures", service=SERVING_SERVICE, period=Duration.minutes(15)),
            threshold=1,
            description="The predict function could not write captured requests to S3: drift monitoring is "
            "missing data.",
        )
        self.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations and errors",
                    left=[
                        function.metric_invocations(period=Duration.minutes(5), statistic="Sum"),
                        function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                    ],
                    width=8,
                )
                for name, function in (("Predict", predict), ("BatchScoring", batch_scoring))
            ),
            # Searches, not fixed metrics: a newly promoted version (or A/B variant) shows up without a
            # redeploy. Every metric the predict function emits is read here or by an alarm (README,
            # "Custom metrics"): a metric nobody reads is $0.30 a month spent on nothing.
            self._search_widget(
                "Predictions per model version", _PER_VERSION, 'MetricName="Predictions"', "Sum", _VERSION_LABEL
            ),
            self._search_widget(
                "Model latency per version (p99, ms)", _PER_VERSION, 'MetricName="ModelLatency"', "p99", _VERSION_LABEL
            ),
            self._search_widget(
                "Input warnings and shadow failures per version",
                _PER_VERSION,
                '(MetricName="InputWarnings" OR MetricName="ShadowFailures")',
                "Sum",
                "${PROP('MetricName')} " + _VERSION_LABEL,
            ),
            self._search_widget(
                "Capture, key records and model loads",
                "service",
                '(MetricName="CapturedRows" OR MetricName="CaptureFailures" OR MetricName="PredictionKeyFailures" '
                'OR MetricName="ModelLoadFailures")',
                "Sum",
                "${PROP('MetricName')}",
            ),
            self._search_widget(
                "Labels sent back per model",
                "service,model",
                '(MetricName="LabelsAccepted" OR MetricName="LabelsRefused" OR MetricName="LabelSubmissionsRefused")',
                "Sum",
                "${PROP('MetricName')} ${PROP('Dim.model')}",
            ),
        )

    def _search_widget(
        self, title: str, dimensions: str, names: str, statistic: str, label: str
    ) -> cloudwatch.GraphWidget:
        """A graph of every series a search of `names` finds among the serving metrics with exactly
        `dimensions`, one series per dimension combination, named by CloudWatch's dynamic `label`."""
        query = f'{{{METRICS_NAMESPACE},{dimensions}}} {names} service="{SERVING_SERVICE}"'
        return cloudwatch.GraphWidget(
            title=title,
            left=[
                cloudwatch.SearchExpression(
                    expression=_search(query, statistic, Duration.minutes(5)), label=label, period=Duration.minutes(5)
                )
            ],
            width=8,
        )

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """sns:Publish on the alerts topic and the two KMS actions publishing to an encrypted topic needs."""
        iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"], resource_arns=[self.topic.topic_arn])
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["kms:GenerateDataKey", "kms:Decrypt"], resource_arns=[self.key.key_arn]
        )


_PER_VERSION = "service,model,version,variant"  # the dimensions of `MetricLines.by_version`
_VERSION_LABEL = "${PROP('Dim.model')} ${PROP('Dim.version')} ${PROP('Dim.variant')}"


def _search(query: str, statistic: str, period: Duration) -> str:
    """A CloudWatch SEARCH expression: the query in single quotes (double quotes inside it are literal)."""
    return f"SEARCH('{query}', '{statistic}', {int(period.to_seconds())})"


@jsii.implements(IStableListProducer)
class _AlarmArns:
    """The ARNs of every alarm the stack defines, read when the template is written (alarms are
    added after the topic policy is)."""

    def __init__(self, alarms: list[cloudwatch.Alarm]) -> None:
        self._alarms = alarms

    def produce(self, context: IResolveContext | None = None) -> list[str]:
        return [alarm.alarm_arn for alarm in self._alarms]
