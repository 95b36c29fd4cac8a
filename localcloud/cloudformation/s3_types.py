"""S3 in a template: AWS::S3::BucketPolicy, which moto's CloudFormation skips, and the bucket
properties moto's bucket model drops.

moto's CloudFormation applies only a bucket's encryption and tags; versioning (which the ingestion
path relies on to tell two uploads of one key apart), public access blocks and lifecycle rules are
applied here through the S3 API. Access logging is not: moto writes no access logs, and it refuses
the setting until the log bucket's policy (created later in the stack) exists.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket

from localcloud.cloudformation.registration import LocalResource, client, plain


class S3BucketPolicy(LocalResource, CloudFormationModel):
    resource_type = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        s3 = client("s3", region)
        s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        return cls(props["Bucket"], delete=lambda: s3.delete_bucket_policy(Bucket=props["Bucket"]))


_moto_bucket_create = FakeBucket.create_from_cloudformation_json


def _lifecycle_rule(rule: dict[str, Any], index: int) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "ID": rule.get("Id", f"rule-{index}"),
        "Status": rule.get("Status", "Enabled"),
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return converted


def _apply_bucket_properties(name: str, props: dict[str, Any], region: str) -> None:
    s3 = client("s3", region)
    versioning = props.get("VersioningConfiguration")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={k: str(v).lower() == "true" for k, v in block.items()},
        )
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle and lifecycle.get("Rules"):
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(r, i) for i, r in enumerate(lifecycle["Rules"])]},
        )


def create_bucket(
    cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
) -> Any:
    """moto's bucket model, then the properties it drops."""
    bucket = _moto_bucket_create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    _apply_bucket_properties(bucket.name, plain(cloudformation_json.get("Properties", {})), region_name)
    return bucket


def install() -> None:
    """Apply the dropped bucket properties whenever moto's CloudFormation creates a bucket (idempotent)."""
    FakeBucket.create_from_cloudformation_json = classmethod(create_bucket)  # type: ignore[method-assign,assignment,arg-type]
