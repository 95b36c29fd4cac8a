"""AWS::SNS::TopicPolicy and AWS::SNS::Subscription, which moto's CloudFormation skips: applied
with SetTopicAttributes and Subscribe, so a subscription's filter policy and raw delivery hold."""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client


class SnsTopicPolicy(LocalResource, CloudFormationModel):
    resource_type = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        sns = client("sns", region)
        for topic in props.get("Topics", []):
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )
        return cls(name)


class SnsSubscription(LocalResource, CloudFormationModel):
    resource_type = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        sns = client("sns", region)
        attributes = {
            key: (
                json.dumps(props[key])
                if isinstance(props[key], dict)
                else str(props[key]).lower()
                if isinstance(props[key], bool)
                else str(props[key])
            )
            for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy")
            if key in props
        }
        request: dict[str, Any] = {
            "TopicArn": props["TopicArn"],
            "Protocol": props["Protocol"],
            "Endpoint": props.get("Endpoint", ""),
            "ReturnSubscriptionArn": True,
        }
        if attributes:
            request["Attributes"] = attributes
        arn = sns.subscribe(**request)["SubscriptionArn"]
        return cls(arn, delete=lambda: sns.unsubscribe(SubscriptionArn=arn))
