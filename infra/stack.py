"""The platform stack: composes one construct per capability and names every entry point as an output."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.alerts import Alerts
from infra.constructs.batch_scoring import BatchScoring
from infra.constructs.data_storage import DataStorage
from infra.constructs.drift import Drift
from infra.constructs.encryption import Encryption
from infra.constructs.feedback import Feedback
from infra.constructs.ingestion import Ingestion
from infra.constructs.layers import Layers
from infra.constructs.performance import Performance
from infra.constructs.prediction_keys import PredictionKeysTable
from infra.constructs.registry import Registry
from infra.constructs.registry_api import RegistryApi
from infra.constructs.serving import Serving
from infra.constructs.shared_resources import SharedResources
from infra.constructs.training import Training
from infra.constructs.validation import Validation
from infra.settings import PlatformSettings

RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


class MlopsPlatformStack(Stack):
    """Everything a data team needs, deployed by one `cdk deploy`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Serverless MLOps platform (no SageMaker)", **kwargs)
        # Each scope id below prefixes the logical id of every resource beneath it, and a changed logical id
        # replaces the resource on the next deploy: the ids stay as first deployed even where a class was
        # renamed since ("Data" is DataStorage, "Monitoring" is Alerts), and tests/infra/test_logical_ids.py
        # holds them to it.
        self.encryption = Encryption(self, "Encryption", settings=settings)
        self.data = DataStorage(self, "Data", settings=settings)
        self.registry = Registry(self, "Registry", settings=settings, key=self.encryption.key)
        self.alerts = Alerts(self, "Monitoring", settings=settings, key=self.encryption.key)
        architecture = ARCHITECTURES[settings.architecture]
        self.layers = Layers(self, "Layers", architecture=architecture)
        shared = SharedResources(
            settings=settings,
            data=self.data,
            registry=self.registry,
            alerts=self.alerts,
            layers=self.layers,
            architecture=architecture,
            log_retention=RETENTION_DAYS[settings.log_retention_days],
        )
        self.training = Training(self, "Training", shared=shared)
        self.prediction_keys = PredictionKeysTable(self, "PredictionKeys", settings=settings, key=self.encryption.key)
        self.serving = Serving(self, "Serving", shared=shared, prediction_keys=self.prediction_keys)
        self.batch_scoring = BatchScoring(self, "BatchScoring", shared=shared)
        # The alarms on serving and training (in the dashboard's order); the capabilities below add their own.
        self.alerts.watch_function("Health", self.serving.health.function)
        self.alerts.watch_serving(predict=self.serving.predict, batch_scoring=self.batch_scoring.function)
        # What a prediction client sees, at its front door. Under `function_url` the REST API carries only
        # registry and health calls: their functions' errors and throttles alarm through the pair on every
        # function, and an operator at the CLI sees a slow or failed call at once, so the two REST alarms
        # would add $0.20 a month for what nobody else would notice.
        if self.serving.function_url is not None:
            self.alerts.watch_function_url(self.serving.predict)
        else:
            self.alerts.watch_api(self.serving.api)
        self.alerts.watch_training(self.training.state_machine)
        self.drift = Drift(self, "Drift", shared=shared, training=self.training.state_machine)
        self.performance = Performance(self, "Performance", shared=shared, training=self.training.state_machine)
        self.registry_api = RegistryApi(self, "RegistryApi", shared=shared, models=self.serving.models)
        self.validation = Validation(self, "Validation", shared=shared, training=self.training.state_machine)
        self.ingestion = Ingestion(
            self,
            "Ingestion",
            shared=shared,
            training=self.training.state_machine,
            validation=self.validation.state_machine,
        )
        self.feedback = Feedback(self, "Feedback", shared=shared, prediction_keys=self.prediction_keys)

        outputs = {
            "RawBucketName": (self.data.raw.bucket_name, "Upload data files here under raw/<dataset>/"),
            "CuratedBucketName": (self.data.curated.bucket_name, "Accepted, immutable dataset versions"),
            "QuarantineBucketName": (self.data.quarantine.bucket_name, "Rejected uploads and their reports"),
            "ArtifactsBucketName": (self.data.artifacts.bucket_name, "Contracts, configs, models, reports, capture"),
            "RegistryTableName": (self.registry.table.table_name, "The model registry table"),
            "TrainingStateMachineArn": (self.training.state_machine.state_machine_arn, "The training pipeline"),
            "ValidationStateMachineArn": (
                self.validation.state_machine.state_machine_arn,
                "Validates big and multi-file uploads part by part",
            ),
            "BatchScoringStateMachineArn": (
                self.batch_scoring.state_machine.state_machine_arn,
                "Scores batch files past batch_scoring.parts_above_mb in parts",
            ),
            "ApiUrl": (self.serving.url, "Base URL of the HTTPS API"),
            "PredictUrlTemplate": (
                self.serving.predict_url_template,
                "POST predictions here, SigV4-signed for service lambda (front_door: function_url) or with the "
                "prediction key (front_door: rest); replace {name} with the model's name",
            ),
            "AlertsTopicArn": (self.alerts.topic.topic_arn, "Subscribe here to receive alarms"),
            "DeadLetterQueueUrl": (self.alerts.dead_letters.queue_url, "Events that failed after retries"),
            "DriftFunctionName": (self.drift.function.function_name, "mlops drift NAME --run invokes it"),
            "PerformanceFunctionName": (
                self.performance.function.function_name,
                'Joins labels with predictions and checks performance; invoke with {"models": [NAME], "force": true}',
            ),
            "DashboardName": (self.alerts.dashboard.dashboard_name, "CloudWatch dashboard"),
        }
        if self.serving.function_url is not None:
            outputs["PredictFunctionUrl"] = (
                self.serving.function_url.url,
                "The predict function's URL (AWS_IAM auth: sign requests with SigV4, service lambda)",
            )
            outputs["PredictionClientPolicyArn"] = (
                self.serving.client_policy.managed_policy_arn,
                "Attach to a prediction client's role or user: lets it call the predict function URL",
            )
        if self.serving.prediction_key is not None:
            outputs["PredictionApiKeyId"] = (
                self.serving.prediction_key.key_id,
                "aws apigateway get-api-key --include-value --api-key <id> gives the key",
            )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
        self.encryption.encrypt_log_groups(self)
