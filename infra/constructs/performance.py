"""Performance monitoring: a scheduled function joins each monitored champion's new labels with the
captured predictions they are about, hour by hour, checks the joined window's performance per
version, keeps a report and a registry row, and alarms and mails when a metric is past its floor."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.drift import MONITORING_SERVICE
from infra.constructs.platform_function import PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_listing, grant_objects
from mlops.names import (
    CAPTURE_PREFIX,
    FEEDBACK_UPLOAD_STEM,
    JOINED_PREFIX,
    LABELS_PREFIX,
    MODELS_PREFIX,
    PERFORMANCE_REPORTS_PREFIX,
    RAW_PREFIX,
    SIGNATURE_FILE,
)


class Performance(Construct):
    """The performance function, its schedule and the alarm on what a check finds."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, training: sfn.IStateMachine
    ) -> None:
        super().__init__(scope, construct_id)
        settings, data, registry, alerts = shared.settings, shared.data, shared.registry, shared.alerts
        self.function = PlatformFunction(
            self,
            "Checker",
            handler="handlers.performance.handler",
            description="Joins monitored champions' labels with their predictions and checks their performance.",
            service=MONITORING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("performance"),
            log_retention=shared.log_retention,
            # One hour of capture and labels at a time; a first run may join every hour of the horizon.
            memory_size=3008,
            timeout=Duration.minutes(15),
            dead_letter_queue=alerts.dead_letters,
            # No reserved concurrency: one join of a model at a time comes from a lease on its item in
            # the registry (a conditional write), as the drift check's.
            environment={
                "REGISTRY_TABLE": registry.table.table_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
                "RAW_BUCKET": data.raw.bucket_name,
                "TRAINING_STATE_MACHINE_ARN": training.state_machine_arn,
                "CAPTURE_LAG_HOURS": f"{settings.monitoring.capture_lag_hours:g}",
                "LABEL_SETTLE_SECONDS": f"{settings.monitoring.label_settle_seconds:g}",
            },
        ).function
        # Models, aliases and versions (GetItem, Query); the join's watermark and lease (UpdateItem);
        # a check's row (PutItem); an A/B check ending a canary moves or removes the challenger alias
        # with its audit event in one transaction (ConditionCheckItem, PutItem, DeleteItem).
        registry.grant_items(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        )
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{LABELS_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{CAPTURE_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:GetObject", "s3:PutObject"], f"{JOINED_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:PutObject"], f"{PERFORMANCE_REPORTS_PREFIX}*")
        # The feedback loop: the champion's signature names the upload's columns; the upload goes where
        # ingestion checks it against the contract (raw/<dataset>/feedback-*), and a drop may retrain.
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{SIGNATURE_FILE}")
        grant_objects(self.function, data.raw, ["s3:PutObject"], f"{RAW_PREFIX}*/{FEEDBACK_UPLOAD_STEM}*")
        training.grant_start_execution(self.function)
        alerts.grant_publish(self.function)
        for prefix in (LABELS_PREFIX, CAPTURE_PREFIX, JOINED_PREFIX):
            grant_listing(self.function, data.artifacts, prefix)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Wakes the performance function: labels received since its last run are joined.",
            schedule=events.Schedule.rate(Duration.minutes(settings.monitoring.performance_check_minutes)),
        )
        self.schedule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=alerts.dead_letters,
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )
        )
        alerts.watch_function("Performance", self.function)
        alerts.alarm(
            "PerformanceBelowFloor",
            alerts.emf_metric("PerformanceBelowFloor", service=MONITORING_SERVICE, statistic="Maximum"),
            threshold=1,
            description="A performance check found a model version past a floor of its monitoring.performance "
            "config on labelled traffic (the mail and the report in s3://<artifacts>/reports/performance/ name "
            "the model, the metric, the window and the labels counted).",
        )
