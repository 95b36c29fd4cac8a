"""Data storage: where uploads land, where accepted dataset versions live, quarantine and artifacts."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge, skip_checkov
from infra.settings import PlatformSettings
from mlops.names import BATCH_WORK_PREFIX, CAPTURE_PREFIX, VALIDATION_WORK_PREFIX

# How long a deleted or replaced access log stays recoverable (as a noncurrent version).
ACCESS_LOG_RECOVERY_DAYS = 30


class DataStorage(Construct):
    """Four buckets with one purpose each, so access and retention can be granted per purpose.

    - raw: uploads from the data team (`raw/<dataset>/…`), transient: the accepted copy lives in curated.
    - curated: immutable, content-addressed dataset versions; versioned and never expired.
    - quarantine: rejected uploads with their validation reports, kept for a bounded time.
    - artifacts: contracts, training configs, models, reports and prediction capture.
    All are encrypted, TLS-only, private and log their access to a dedicated bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.retain_data_on_delete else RemovalPolicy.DESTROY

        # Versioned so that a deleted or overwritten log stays recoverable for ACCESS_LOG_RECOVERY_DAYS:
        # access logs are the record of who touched the data.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            versioned=True,
            removal_policy=removal,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(ACCESS_LOG_RECOVERY_DAYS),
                )
            ],
        )
        acknowledge(
            self.access_logs, "AwsSolutions-S1", "This is the access-log bucket; logging it into itself would loop."
        )
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "This is the access-log bucket the other four log into; logging it into itself would log every log "
            "delivery without end, and a further log bucket would only move the question.",
        )

        # EventBridge notifications reach the ingest function for keys outside `raw/` (a file at the
        # bucket's root is reported, not ignored): S3 refuses overlapping notification rules, and
        # `raw/` and `batch/` already notify functions.
        self.raw = self._bucket(
            "Raw",
            removal,
            versioned=True,
            event_bridge=True,
            lifecycle=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.raw_retention_days),
                    noncurrent_version_expiration=Duration.days(settings.raw_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        self.curated = self._bucket(
            "Curated",
            removal,
            versioned=True,
            lifecycle=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7))],
        )
        self.quarantine = self._bucket(
            "Quarantine",
            removal,
            versioned=True,
            lifecycle=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.quarantine_retention_days),
                    noncurrent_version_expiration=Duration.days(settings.quarantine_retention_days),
                )
            ],
        )
        self.artifacts = self._bucket(
            "Artifacts",
            removal,
            versioned=True,
            lifecycle=[
                s3.LifecycleRule(
                    prefix=CAPTURE_PREFIX,
                    expiration=Duration.days(settings.capture_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                # A partitioned upload's validation run: item lists, staged slices, part records. The
                # version and its report are elsewhere; a week leaves time to look into a failed run.
                s3.LifecycleRule(
                    prefix=VALIDATION_WORK_PREFIX,
                    expiration=Duration.days(7),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                # A batch file scored in parts: its slices, counts, items and a gzip input's plain
                # pieces (as large as the file uncompressed). The outputs are beside the input.
                s3.LifecycleRule(
                    prefix=BATCH_WORK_PREFIX,
                    expiration=Duration.days(7),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(7)),
            ],
        )

    def _bucket(
        self,
        construct_id: str,
        removal: RemovalPolicy,
        *,
        versioned: bool,
        lifecycle: list[s3.LifecycleRule],
        event_bridge: bool = False,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=versioned,
            removal_policy=removal,
            lifecycle_rules=lifecycle,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{construct_id.lower()}/",
            event_bridge_enabled=event_bridge,
        )
