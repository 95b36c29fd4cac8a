"""Batch scoring: files dropped under `batch/<model>/` in the raw bucket, scored with the same
onnxruntime session code as the predict API, chunk by chunk."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from infra.constructs.alerts import SERVING_SERVICE
from infra.constructs.platform_function import PlatformFunction
from infra.constructs.serving import SERVED_ARTIFACTS
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_objects
from infra.nag import acknowledge_cdk_notifications_handler
from mlops.names import BATCH_PREFIX, MODELS_PREFIX

# A starting size, not yet measured (ingestion's was): the function holds one model, one chunk of
# SCORING_CHUNK_ROWS rows and its predictions at a time, so memory does not grow with the file.
BATCH_SCORING_MEMORY_MB = 2048
SCORING_CHUNK_ROWS = 10_000


class BatchScoring(Construct):
    """A file dropped under `batch/` in the raw bucket is scored by the model it names, chunk by chunk.

    S3 invokes the function asynchronously: Lambda retries a failed event twice (its default, as for
    ingestion) and then hands it to the platform's dead-letter queue, which is alarmed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, shared: SharedResources) -> None:
        super().__init__(scope, construct_id)
        data, registry = shared.data, shared.registry
        self.function = PlatformFunction(
            self,
            "Scorer",
            handler="handlers.batch_scoring.handler",
            description="Scores files uploaded under batch/ in the raw bucket and writes the predictions beside them.",
            service=SERVING_SERVICE,
            architecture=shared.architecture,
            layers=shared.layers.for_function("batch_scoring"),
            log_retention=shared.log_retention,
            memory_size=BATCH_SCORING_MEMORY_MB,
            timeout=Duration.minutes(15),
            dead_letter_queue=shared.alerts.dead_letters,
            environment={
                "RAW_BUCKET": data.raw.bucket_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "REGISTRY_TABLE": registry.table.table_name,
                "SCORING_CHUNK_ROWS": str(SCORING_CHUNK_ROWS),
            },
        ).function
        registry.grant_items(self.function, "dynamodb:GetItem", "dynamodb:Query")
        for artifact in SERVED_ARTIFACTS:
            grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{artifact}")
        # Outputs are written beside the input, so reading and writing share the prefix.
        # Delete: a new version of an input replaces the outputs of the previous one (stale parts, markers).
        grant_objects(self.function, data.raw, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{BATCH_PREFIX}*")
        # The function's own outputs (batch/<model>/<stem>.predictions/…) match this prefix too and so
        # notify it again; the handler recognizes them by name and returns without scoring.
        data.raw.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=BATCH_PREFIX),
        )
        acknowledge_cdk_notifications_handler(self)
