"""Ingestion: an upload under `raw/<dataset>/` runs the ingest function, which validates it against
the dataset's contract and keeps it as a dataset version or moves it to quarantine. A file anywhere
else in the raw bucket but `batch/` and `feedback/` gets a report and a mail naming the layout."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.platform_function import PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_listing, grant_objects
from infra.nag import acknowledge_cdk_notifications_handler
from mlops.names import CONTRACTS_PREFIX, DATASETS_PREFIX, RAW_PREFIX, VALIDATION_REPORTS_PREFIX

# 1,000,000 rows x 20 columns as CSV is about 150 MB; reading, converting and hashing it peaks near
# 1.5 GB (see the README's ingestion figures). 3,008 MB leaves headroom and buys ~1.7 vCPUs for the
# multithreaded CSV reader, so the larger size costs little more per file than a smaller, slower one.
INGEST_MEMORY_MB = 3008


class Ingestion(Construct):
    """The ingest function and the two ways an upload to the raw bucket reaches it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        training: sfn.IStateMachine,
        validation: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        data, registry, alerts = shared.data, shared.registry, shared.alerts
        self.function = PlatformFunction(
            self,
            "Ingest",
            handler="handlers.ingest.handler",
            description="Validates uploads under raw/<dataset>/ against the dataset's contract.",
            service="ingestion",
            architecture=shared.architecture,
            layers=shared.layers.for_function("ingest"),
            log_retention=shared.log_retention,
            memory_size=INGEST_MEMORY_MB,
            timeout=Duration.minutes(5),
            dead_letter_queue=alerts.dead_letters,
            environment={
                "RAW_BUCKET": data.raw.bucket_name,
                "CURATED_BUCKET": data.curated.bucket_name,
                "QUARANTINE_BUCKET": data.quarantine.bucket_name,
                "ARTIFACTS_BUCKET": data.artifacts.bucket_name,
                "REGISTRY_TABLE": registry.table.table_name,
                "ALERTS_TOPIC_ARN": alerts.topic.topic_arn,
                "TRAINING_STATE_MACHINE_ARN": training.state_machine_arn,
                "VALIDATION_STATE_MACHINE_ARN": validation.state_machine_arn,
                "SINGLE_FILE_MAX_BYTES": str(shared.settings.ingestion.single_file_max_mb << 20),
                "COMMIT_TIMEOUT_SECONDS": str(shared.settings.ingestion.commit_timeout_minutes * 60),
            },
        ).function
        # Copying a rejected upload into quarantine reads the raw object (GetObject on raw/*) and
        # writes the copy (PutObject on quarantine); nothing here may delete or overwrite a version.
        grant_objects(self.function, data.raw, ["s3:GetObject", "s3:GetObjectVersion"], f"{RAW_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{CONTRACTS_PREFIX}*")
        grant_objects(self.function, data.artifacts, ["s3:PutObject"], f"{VALIDATION_REPORTS_PREFIX}*")
        grant_objects(self.function, data.curated, ["s3:GetObject", "s3:PutObject"], f"{DATASETS_PREFIX}*")
        grant_objects(self.function, data.quarantine, ["s3:PutObject"], "*")
        # S3 answers a missing key with 404 (not 403) only to callers that may list the bucket: the
        # function must tell "no contract" and "no such version yet" from a denied read.
        grant_listing(self.function, data.artifacts)
        grant_listing(self.function, data.curated)
        # UpdateItem: the record of each multi-file upload folder (a file opens it, its marker or a report
        # closes it); Query: the scheduled check's read of the open folders past the timeout.
        registry.grant_items(
            self.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"
        )
        alerts.grant_publish(self.function)
        training.grant_start_execution(self.function)
        # A big file or a multi-file upload's commit marker starts the validation state machine; the
        # scheduled check lists each upload folder past the timeout (never all of raw/) for its files.
        validation.grant_start_execution(self.function)
        grant_listing(self.function, data.raw, RAW_PREFIX)
        self.uncommitted_check = events.Rule(
            self,
            "UncommittedUploads",
            description="Reports multi-file uploads left without their _COMMIT marker past the timeout (once each).",
            schedule=events.Schedule.rate(
                Duration.minutes(max(5, shared.settings.ingestion.commit_timeout_minutes // 4))
            ),
        )
        self.uncommitted_check.add_target(
            targets.LambdaFunction(
                self.function, dead_letter_queue=alerts.dead_letters, retry_attempts=2, max_event_age=Duration.hours(1)
            )
        )
        data.raw.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=RAW_PREFIX),
        )
        # Everything else (a file at the bucket's root, say) through EventBridge: S3 refuses a second
        # notification rule overlapping `raw/`, `batch/` and `feedback/`. `batch/` and `feedback/` match
        # too (one pattern cannot exclude several prefixes); the function ignores them, batch scoring and
        # the feedback function have them. The function only reports such a file, never reads it: no S3
        # grant beyond `raw/*`.
        self.misplaced_uploads = events.Rule(
            self,
            "OutsideRaw",
            description="Uploads to the raw bucket outside raw/: the ingest function reports them.",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data.raw.bucket_name]},
                    "object": {"key": [{"anything-but": {"prefix": RAW_PREFIX}}]},
                },
            ),
        )
        self.misplaced_uploads.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=alerts.dead_letters,
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )
        )
        alerts.watch_function("Ingest", self.function)
        acknowledge_cdk_notifications_handler(self)
