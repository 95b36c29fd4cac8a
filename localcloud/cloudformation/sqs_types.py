"""AWS::SQS::QueuePolicy, which moto's CloudFormation skips: applied with SetQueueAttributes, so
the services that send to a queue (EventBridge to a dead-letter queue) are held to it."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client


class SqsQueuePolicy(LocalResource, CloudFormationModel):
    resource_type = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        sqs = client("sqs", region)
        for queue_url in props.get("Queues", []):
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        return cls(name)
