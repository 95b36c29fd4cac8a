"""CloudFormation as `cdk deploy` needs it: the resource types moto's CloudFormation skips, and
custom resources that answer it.

What moto lacks: moto logs "No Moto CloudFormation support for …" and drops a dozen types the
template uses (alarms, bucket/topic/queue policies, subscriptions, API Gateway stages, keys, usage
plans, validators, models, gateway responses, function URLs), and a template whose other resources reference them
(a dashboard widget naming an alarm) then fails to deploy; its S3 bucket and API Gateway method
models keep too little of their properties, and a log group's `Arn` lacks CloudFormation's `:*`
(`logs_types`), and aliases and a version's `Version` are missing (`lambda_types`); it parses
every template as YAML (slow) and creates a
stack's resources while a custom resource's answer may walk the same map. Here a model per type
(`<service>_types` modules) creates the real thing through the same API call a user would make, so
`aws cloudwatch describe-alarms` and friends find them; `custom_resources` is the protocol the
local Lambda runtime speaks with CloudFormation, and `cdk_providers` stands in for CDK's Node.js
custom-resource providers (the VPC's default security group restriction), which it cannot run.

How it is installed: `deploy()` calls `register(session)` before each stack: it points the models'
clients at the local cloud, makes stack creation exclusive, parses JSON templates as JSON, and has
moto's bucket model apply versioning, public access blocks and lifecycle rules. The models themselves
join moto's registry when this package is imported.
"""

from localcloud.cloudformation import (
    apigateway_types,
    cloudwatch_types,
    lambda_types,
    logs_types,
    s3_types,
    sns_types,
    sqs_types,
    xray_types,
)
from localcloud.cloudformation.registration import LocalResource, register_models, stack_creation_lock
from localcloud.session import AwsSession


def register(session: AwsSession) -> None:
    """Make moto's CloudFormation create the types it skips, through `session`'s endpoint."""
    s3_types.install()
    logs_types.install()
    lambda_types.install()
    register_models(session)


__all__ = [
    "LocalResource",
    "apigateway_types",
    "cloudwatch_types",
    "lambda_types",
    "register",
    "s3_types",
    "sns_types",
    "sqs_types",
    "stack_creation_lock",
    "xray_types",
]
