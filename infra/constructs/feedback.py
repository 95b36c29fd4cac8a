"""Labels by file: a CSV or Parquet file dropped under `feedback/<model>/` in the raw bucket is checked
against the model's classes (or numbers) and its labels stored beside the API's, under `labels/`."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from infra.constructs.drift import MONITORING_SERVICE
from infra.constructs.platform_function import PlatformFunction
from infra.constructs.prediction_keys import PredictionKeysTable
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_objects
from infra.nag import acknowledge_cdk_notifications_handler
from mlops.names import FEEDBACK_PREFIX, FEEDBACK_REPORTS_PREFIX, LABELS_PREFIX, MODELS_PREFIX, SIGNATURE_FILE

# A file of 1,000,000 labels (the function's limit) is about 60 MB of CSV; read as text columns and
# held as Python values while checked, it peaks near 1 GB. 1,769 MB is one full vCPU besides.
FEEDBACK_MEMORY_MB = 1769


class Feedback(Construct):
    """The feedback function and the raw bucket's notification for `feedback/`.

    S3 invokes the function asynchronously: Lambda retries a failed event twice (its default) and then
    hands it to the platform's dead-letter queue, which is alarmed. A file whose labels cannot be
    stored is not a failure: it gets a report and a mail.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, prediction_keys: PredictionKeysTable
    ) -> None:
        super().__init__(scope, construct_id)
        data, registry, alerts = shared.data, shared.registry, shared.alerts
        self.function = PlatformFunction(
            self,
            "Intake",
            handler="handlers.feedback.handler",
            description="Checks label files uploaded under feedback/<model>/ in the raw bucket; stores their labels.",
            service=MONITORING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("feedback"),
            log_retention=shared.log_retention,
            memory_size=FEEDBACK_MEMORY_MB,
            timeout=Duration.minutes(5),
            dead_letter_queue=alerts.dead_letters,
            environment={
                "RAW_BUCKET": data.raw.bucket_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "REGISTRY_TABLE": registry.table.table_name,
                "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
                "PREDICTION_KEYS_TABLE": prediction_keys.table.table_name,
            },
        ).function
        # Reads the uploaded file, the model's aliases and versions and their signatures (its classes);
        # writes label objects and the file's report; mails when nothing was stored. Nothing else.
        grant_objects(self.function, data.raw, ["s3:GetObject", "s3:GetObjectVersion"], f"{FEEDBACK_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{SIGNATURE_FILE}")
        grant_objects(self.function, data.artifacts, ["s3:PutObject"], f"{LABELS_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:PutObject"], f"{FEEDBACK_REPORTS_PREFIX}*")
        registry.grant_items(self.function, "dynamodb:GetItem", "dynamodb:Query")
        alerts.grant_publish(self.function)
        prediction_keys.grant_resolve(self.function)
        # Its own prefix: S3 refuses notification rules whose prefixes overlap (raw/ is ingestion's,
        # batch/ batch scoring's).
        data.raw.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=FEEDBACK_PREFIX),
        )
        alerts.watch_function("Feedback", self.function)
        acknowledge_cdk_notifications_handler(self)
