"""cdk-nag acknowledgments: every suppressed finding carries the reason it is acceptable."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Suppress one AwsSolutions finding (e.g. `AwsSolutions-IAM5[Resource::*]`) with a written reason."""
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule_id}", reason=reason))


XRAY_REASON = (
    "X-Ray's PutTraceSegments and PutTelemetryRecords accept no resource-level permissions; AWS documents "
    "Resource '*' for them."
)
