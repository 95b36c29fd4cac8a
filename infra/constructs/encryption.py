"""Encryption: the platform's one customer-managed KMS key, for the alerts topic, every log group and the
registry table."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from infra.settings import PlatformSettings


class Encryption(Construct):
    """One key rather than one per purpose: each customer-managed key costs $1 a month while idle.

    The key encrypts the registry table, so it is kept with the table when the stack is deleted
    (`retain_data_on_delete`): deleting it would make the retained table unreadable.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: PlatformSettings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the platform's alerts topic, log groups and registry table.",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if settings.retain_data_on_delete else RemovalPolicy.DESTROY,
        )
        # CloudWatch Logs encrypts with the key itself, so its regional principal needs the key policy to
        # allow it; the encryption context limits that to log groups of this account and region
        # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # a key policy's resource is always the key itself
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )

    def encrypt_log_groups(self, scope: IConstruct) -> None:
        """Every log group under `scope` is encrypted with the key; the stack calls this once, last."""
        for construct in scope.node.find_all():
            if isinstance(construct, logs.CfnLogGroup):
                construct.kms_key_id = self.key.key_arn
