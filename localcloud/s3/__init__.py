"""S3 as the platform's buckets need it: bucket-policy conditions evaluated, which moto's S3 ignores.

What moto lacks: moto applies a bucket policy's statements to object requests but drops their
`Condition` blocks, so the TLS-only statement every platform bucket carries denies every request
(`bucket_policies`). Two more S3 behaviours live with the service that acts on them: S3's
notifications to Lambda are invoked asynchronously, in S3's event shape and behind the function's
resource policy, by `localcloud.lambda_.s3_notifications`; a bucket's versioning, public access block
and lifecycle rules from the template are applied by `localcloud.cloudformation.s3_types`.

How it is installed: `install()` replaces moto's `FakeBucket.get_permission`; `uninstall()` restores it.
"""

from localcloud.s3.bucket_policies import REQUEST_CONTEXT, applicable_policy, install, uninstall

__all__ = ["REQUEST_CONTEXT", "applicable_policy", "install", "uninstall"]
