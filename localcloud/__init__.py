"""The local cloud: the synthesized CDK template deployed into moto, plus what moto does not do.

moto supplies the AWS APIs and their state. This package supplies the behaviours moto lacks
(running Lambda handlers in-process, firing EventBridge schedules, evaluating CloudWatch alarms,
serving API Gateway over HTTP, delivering SNS email to a local inbox, checking every call against
IAM) so the whole lifecycle runs on one machine with the same template `cdk deploy` ships.

The core: `cloud` (`LocalCloud`, the one object that starts moto and switches everything on),
`deploy` (synthesize and deploy as `cdk deploy` does), `session` (boto3 clients of the local cloud),
`__main__` (`python -m localcloud up`). One package per emulated service, each `__init__.py` saying
what moto lacks there and how the package is installed: `apigateway`, `cloudformation`, `cloudwatch`,
`dynamodb`, `eventbridge`, `iam`, `lambda_`, `s3`, `sns`, `stepfunctions`.

Importing this package loads nothing: `mlops --help` reads `__main__`'s options without moto.
"""
