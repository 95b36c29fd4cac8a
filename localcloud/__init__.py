"""The local cloud: the synthesized CDK template deployed into moto, plus what moto does not do.

moto supplies the AWS APIs and their state. This package supplies the behaviours moto lacks
(running Lambda handlers in-process, firing EventBridge schedules, evaluating CloudWatch alarms,
serving API Gateway over HTTP, delivering SNS email to a local inbox) so the whole lifecycle runs
on one machine with the same template `cdk deploy` ships.
"""
