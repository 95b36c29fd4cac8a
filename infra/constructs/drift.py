"""Drift monitoring: a scheduled function compares each champion's captured traffic with its
reference profile, reports, alarms through a metric, and may start retraining."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.platform_function import PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_listing, grant_objects
from mlops.names import CAPTURE_PREFIX, DRIFT_REPORTS_PREFIX, MODELS_PREFIX, PROFILE_FILE

# The drift function's Powertools service name: the `service` dimension its alarms' metrics carry.
MONITORING_SERVICE = "monitoring"


class Drift(Construct):
    """The drift function, its schedule and the alarms on what a check finds."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, training: sfn.IStateMachine
    ) -> None:
        super().__init__(scope, construct_id)
        settings, data, registry, alerts = shared.settings, shared.data, shared.registry, shared.alerts
        self.function = PlatformFunction(
            self,
            "Checker",
            handler="handlers.drift.handler",
            description="Compares each champion's captured traffic with its reference profile; may start retraining.",
            service=MONITORING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("drift"),
            log_retention=shared.log_retention,
            # A window of 1,000,000 captured rows x 20 features is ~160 MB as float64, read batch by batch.
            memory_size=3008,
            timeout=Duration.minutes(10),
            dead_letter_queue=alerts.dead_letters,
            # No reserved concurrency: one check of a model at a time comes from a lease item in the
            # registry (a conditional write), which cannot fail a deploy the way reserving
            # concurrency does in an account with little unreserved concurrency.
            environment={
                "REGISTRY_TABLE": registry.table.table_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "TRAINING_STATE_MACHINE_ARN": training.state_machine_arn,
                "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
                "DRIFT_WINDOW_HOURS": f"{settings.monitoring.drift_window_hours:g}",
                "CAPTURE_SETTLE_SECONDS": f"{settings.monitoring.capture_settle_seconds:g}",
            },
        ).function
        registry.grant_items(self.function, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{PROFILE_FILE}")
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{CAPTURE_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:PutObject"], f"{DRIFT_REPORTS_PREFIX}*")
        grant_listing(self.function, data.artifacts, CAPTURE_PREFIX)
        training.grant_start_execution(self.function)
        alerts.grant_publish(self.function)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Wakes the drift function; each model's config decides whether it is due.",
            schedule=events.Schedule.rate(Duration.minutes(settings.monitoring.drift_check_minutes)),
        )
        self.schedule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=alerts.dead_letters,
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )
        )
        alerts.watch_function("Drift", self.function)
        alerts.alarm(
            "DatasetDrift",
            alerts.emf_metric("DatasetDrift", service=MONITORING_SERVICE, statistic="Maximum"),
            threshold=1,
            description="A drift check found dataset drift: the share of drifted features reached the model's "
            "level (the drift report in s3://<artifacts>/reports/drift/ says which).",
        )
        alerts.alarm(
            "RefusedShare",
            alerts.emf_metric("RefusedShareExceeded", service=MONITORING_SERVICE, statistic="Maximum"),
            threshold=1,
            description="A drift check found that the serving policy refused at least the model's "
            "monitoring.drift.refused_share_threshold of captured rows (out of range or unseen category): clients "
            "got 400s for that traffic. The drift report says which fields; widen the contract, fix the clients, "
            "or set serving.out_of_range / unseen_category to warn and `mlops config deploy`.",
        )
