"""CloudFormation resource types that moto's CloudFormation skips, created through moto's own APIs.

moto logs "No Moto CloudFormation support for …" and drops these types, and a template whose other
resources reference them (a dashboard widget naming an alarm) then fails to deploy. Registering a
model per type lets moto resolve and order them like any other resource; each model creates the
real thing with the same API call a user would make, so `aws cloudwatch describe-alarms` and
friends find them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket

from localcloud.session import AwsSession

_session: AwsSession | None = None
# moto creates a stack's resources in the request thread while a custom resource's answer, arriving
# from the Lambda thread, walks the same lazy resource map: both would create a resource not yet made.
stack_creation_lock = threading.RLock()
_moto_create_resources = cfn_models.Stack.create_resources


def _create_resources_exclusively(self: cfn_models.Stack) -> None:
    with stack_creation_lock:
        _moto_create_resources(self)


_moto_parse_template = cfn_models.Stack.parse_template


def _parse_template(template: str) -> dict[str, Any]:
    """moto parses every template as YAML first (half a second for a CDK template); JSON is JSON."""
    if template.lstrip().startswith("{"):
        try:
            return json.loads(template)  # type: ignore[no-any-return]
        except json.JSONDecodeError:
            pass
    return _moto_parse_template(template)  # type: ignore[no-any-return]


def register(session: AwsSession) -> None:
    """Make moto's CloudFormation create the types below, through `session`'s endpoint."""
    global _session
    _session = session
    cfn_models.Stack.create_resources = _create_resources_exclusively  # type: ignore[method-assign]
    cfn_models.Stack.parse_template = staticmethod(_parse_template)  # type: ignore[method-assign,assignment]
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _client(service: str, region: str) -> Any:
    if _session is None:
        raise RuntimeError("localcloud.cfn_resources.register() was not called before deploying")
    if region != _session.region:
        return AwsSession(region=region, account_id=_session.account_id, endpoint_url=_session.endpoint_url).client(
            service
        )
    return _session.client(service)


def _plain(value: Any) -> Any:
    """moto resolves a Ref to some of its own models (an API Gateway deployment) as the object itself."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    for attribute in ("physical_resource_id", "id", "name", "arn"):
        found = getattr(value, attribute, None)
        if isinstance(found, str):
            return found
    raise TypeError(f"cannot use a {type(value).__name__} as a property value")


class _LocalResource:
    """Mixin of the models below: a physical id, attributes for Fn::GetAtt, and a delete action.

    Each model also names CloudFormationModel as a direct base: moto finds models by direct subclass.
    """

    resource_type = ""
    name_property: str | None = None

    def __init__(
        self,
        physical_resource_id: str,
        attributes: dict[str, Any] | None = None,
        delete: Callable[[], None] | None = None,
    ) -> None:
        self._physical_id = physical_resource_id
        self._attributes = attributes or {}
        self._delete = delete

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self._attributes.get(attribute_name, self._physical_id)

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property or ""

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> _LocalResource:
        return cls.create(resource_name, _plain(cloudformation_json.get("Properties", {})), region_name)

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        raise TypeError(f"{cls.__name__} must define create()")

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        if self._delete is not None:
            self._delete()


class CloudWatchAlarm(_LocalResource, CloudFormationModel):
    resource_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        request = {k: v for k, v in props.items() if k != "Tags"}
        request["AlarmName"] = props.get("AlarmName") or name
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
            if key in request:
                request[key] = int(request[key])
        cloudwatch = _client("cloudwatch", region)
        cloudwatch.put_metric_alarm(**request)
        arn = cloudwatch.describe_alarms(AlarmNames=[request["AlarmName"]])["MetricAlarms"][0]["AlarmArn"]
        return cls(
            request["AlarmName"],
            {"Arn": arn},
            delete=lambda: cloudwatch.delete_alarms(AlarmNames=[request["AlarmName"]]),
        )


class S3BucketPolicy(_LocalResource, CloudFormationModel):
    resource_type = "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        s3 = _client("s3", region)
        s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        return cls(props["Bucket"], delete=lambda: s3.delete_bucket_policy(Bucket=props["Bucket"]))


class SnsTopicPolicy(_LocalResource, CloudFormationModel):
    resource_type = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        sns = _client("sns", region)
        for topic in props.get("Topics", []):
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )
        return cls(name)


class SqsQueuePolicy(_LocalResource, CloudFormationModel):
    resource_type = "AWS::SQS::QueuePolicy"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        sqs = _client("sqs", region)
        for queue_url in props.get("Queues", []):
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        return cls(name)


class ApiGatewayStage(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::Stage"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        apigw = _client("apigateway", region)
        apigw.create_stage(
            restApiId=props["RestApiId"],
            stageName=props["StageName"],
            deploymentId=props["DeploymentId"],
            description=props.get("Description", ""),
            tracingEnabled=str(props.get("TracingEnabled", False)).lower() == "true",
            variables=props.get("Variables", {}),
        )
        patches = []
        access = props.get("AccessLogSetting")
        if access:
            patches += [
                {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": access["DestinationArn"]},
                {"op": "replace", "path": "/accessLogSettings/format", "value": access.get("Format", "")},
            ]
        for setting in props.get("MethodSettings", []):
            resource_path, method = setting.get("ResourcePath", "/*"), setting.get("HttpMethod", "*")
            prefix = "/*/*" if resource_path == "/*" else f"/{resource_path.replace('/', '~1')}/{method}"
            for key, path in (
                ("LoggingLevel", "logging/loglevel"),
                ("MetricsEnabled", "metrics/enabled"),
                ("DataTraceEnabled", "logging/dataTrace"),
            ):
                if key in setting:
                    patches.append(
                        {
                            "op": "replace",
                            "path": f"{prefix}/{path}",
                            "value": str(setting[key]).lower() if isinstance(setting[key], bool) else str(setting[key]),
                        }
                    )
        if patches:
            apigw.update_stage(restApiId=props["RestApiId"], stageName=props["StageName"], patchOperations=patches)
        return cls(
            props["StageName"],
            delete=lambda: apigw.delete_stage(restApiId=props["RestApiId"], stageName=props["StageName"]),
        )


class ApiGatewayApiKey(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::ApiKey"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        request: dict[str, Any] = {
            "name": props.get("Name") or name[:128],
            "description": props.get("Description", ""),
            "enabled": str(props.get("Enabled", True)).lower() != "false",
        }
        if props.get("Value"):
            request["value"] = props["Value"]
        stage_keys = [{"restApiId": k["RestApiId"], "stageName": k["StageName"]} for k in props.get("StageKeys", [])]
        if stage_keys:
            request["stageKeys"] = stage_keys
        apigw = _client("apigateway", region)
        key = apigw.create_api_key(**request)
        return cls(key["id"], {"APIKeyId": key["id"]}, delete=lambda: apigw.delete_api_key(apiKey=key["id"]))


class ApiGatewayUsagePlan(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::UsagePlan"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        request: dict[str, Any] = {
            "name": props.get("UsagePlanName") or name,
            "description": props.get("Description", ""),
            "apiStages": [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in props.get("ApiStages", [])],
        }
        throttle = props.get("Throttle")
        if throttle:
            request["throttle"] = {
                "burstLimit": int(throttle.get("BurstLimit", 0)),
                "rateLimit": float(throttle.get("RateLimit", 0)),
            }
        quota = props.get("Quota")
        if quota:
            request["quota"] = {
                "limit": int(quota["Limit"]),
                "period": quota["Period"],
                "offset": int(quota.get("Offset", 0)),
            }
        apigw = _client("apigateway", region)
        plan = apigw.create_usage_plan(**request)
        return cls(plan["id"], delete=lambda: apigw.delete_usage_plan(usagePlanId=plan["id"]))


class ApiGatewayUsagePlanKey(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::UsagePlanKey"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        apigw = _client("apigateway", region)
        apigw.create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType=props.get("KeyType", "API_KEY")
        )
        return cls(f"{props['UsagePlanId']}:{props['KeyId']}")


class ApiGatewayRequestValidator(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::RequestValidator"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        apigw = _client("apigateway", region)
        validator = apigw.create_request_validator(
            restApiId=props["RestApiId"],
            name=props.get("Name") or name,
            validateRequestBody=str(props.get("ValidateRequestBody", False)).lower() == "true",
            validateRequestParameters=str(props.get("ValidateRequestParameters", False)).lower() == "true",
        )
        return cls(validator["id"], {"RequestValidatorId": validator["id"]})


class SnsSubscription(_LocalResource, CloudFormationModel):
    resource_type = "AWS::SNS::Subscription"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        sns = _client("sns", region)
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


class ApiGatewayAccount(_LocalResource, CloudFormationModel):
    """API Gateway's account-level role for execution logs (kept so `get-account` shows it)."""

    resource_type = "AWS::ApiGateway::Account"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        if props.get("CloudWatchRoleArn"):
            _client("apigateway", region).update_account(
                patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": props["CloudWatchRoleArn"]}]
            )
        return cls(name)


def _flags(parameters: dict[str, Any] | None) -> dict[str, bool]:
    """CloudFormation writes API Gateway's required-parameter flags as booleans or strings."""
    return {name: str(required).lower() == "true" for name, required in (parameters or {}).items()}


def _without_none(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if v is not None and v not in ({}, [])}


class ApiGatewayMethod(_LocalResource, CloudFormationModel):
    """Replaces moto's own Method model, which keeps only the method, auth type, key flag and a bare
    integration: request validators, parameters, models and integration responses are what the local
    gateway needs to validate requests and answer CORS preflights as API Gateway would."""

    resource_type = "AWS::ApiGateway::Method"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        apigw = _client("apigateway", region)
        where = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"], "httpMethod": props["HttpMethod"]}
        apigw.put_method(
            **where,
            **_without_none(
                {
                    "authorizationType": props.get("AuthorizationType", "NONE"),
                    "authorizerId": props.get("AuthorizerId"),
                    "apiKeyRequired": str(props.get("ApiKeyRequired", False)).lower() == "true",
                    "operationName": props.get("OperationName"),
                    "requestParameters": _flags(props.get("RequestParameters")),
                    "requestModels": props.get("RequestModels"),
                    "requestValidatorId": props.get("RequestValidatorId"),
                    "authorizationScopes": props.get("AuthorizationScopes"),
                }
            ),
        )
        integration = props.get("Integration")
        if integration:
            apigw.put_integration(
                **where,
                **_without_none(
                    {
                        "type": integration["Type"],
                        "integrationHttpMethod": integration.get("IntegrationHttpMethod"),
                        "uri": integration.get("Uri"),
                        "credentials": integration.get("Credentials"),
                        "requestParameters": integration.get("RequestParameters"),
                        "requestTemplates": integration.get("RequestTemplates"),
                        "passthroughBehavior": integration.get("PassthroughBehavior"),
                        "contentHandling": integration.get("ContentHandling"),
                        "timeoutInMillis": int(integration["TimeoutInMillis"])
                        if "TimeoutInMillis" in integration
                        else None,
                    }
                ),
            )
            for response in integration.get("IntegrationResponses", []):
                apigw.put_integration_response(
                    **where,
                    **_without_none(
                        {
                            "statusCode": str(response["StatusCode"]),
                            "selectionPattern": response.get("SelectionPattern"),
                            "responseParameters": response.get("ResponseParameters"),
                            "responseTemplates": response.get("ResponseTemplates"),
                            "contentHandling": response.get("ContentHandling"),
                        }
                    ),
                )
        for response in props.get("MethodResponses", []):
            apigw.put_method_response(
                **where,
                **_without_none(
                    {
                        "statusCode": str(response["StatusCode"]),
                        "responseParameters": _flags(response.get("ResponseParameters")),
                        "responseModels": response.get("ResponseModels"),
                    }
                ),
            )
        return cls(f"{props['RestApiId']}-{props['ResourceId']}-{props['HttpMethod']}")


class ApiGatewayGatewayResponse(_LocalResource, CloudFormationModel):
    """moto's CloudFormation drops gateway responses; the local gateway renders what is put here."""

    resource_type = "AWS::ApiGateway::GatewayResponse"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        apigw = _client("apigateway", region)
        request: dict[str, Any] = {"restApiId": props["RestApiId"], "responseType": props["ResponseType"]}
        if props.get("StatusCode"):
            request["statusCode"] = str(props["StatusCode"])
        if props.get("ResponseParameters"):
            request["responseParameters"] = props["ResponseParameters"]
        if props.get("ResponseTemplates"):
            request["responseTemplates"] = props["ResponseTemplates"]
        apigw.put_gateway_response(**request)
        return cls(
            f"{props['RestApiId']}-{props['ResponseType']}",
            delete=lambda: apigw.delete_gateway_response(
                restApiId=props["RestApiId"], responseType=props["ResponseType"]
            ),
        )


class ApiGatewayModel(_LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::Model"
    name_property = "Name"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> _LocalResource:
        model_name = props.get("Name") or "".join(ch for ch in name if ch.isalnum())[:64]
        schema = props.get("Schema", {})
        _client("apigateway", region).create_model(
            restApiId=props["RestApiId"],
            name=model_name,
            contentType=props.get("ContentType", "application/json"),
            schema=schema if isinstance(schema, str) else json.dumps(schema),
            description=props.get("Description", ""),
        )
        return cls(model_name)


# ---------------------------------------------------------------------------------------------
# S3 buckets: moto's CloudFormation applies only encryption and tags; versioning (which the
# ingestion path relies on to tell two uploads of one key apart), public access blocks and lifecycle
# rules are applied here through the S3 API. Access logging is not: moto writes no access logs, and
# it refuses the setting until the log bucket's policy (created later in the stack) exists.
# ---------------------------------------------------------------------------------------------
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
    s3 = _client("s3", region)
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


def _create_bucket(
    cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
) -> Any:
    bucket = _moto_bucket_create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    _apply_bucket_properties(bucket.name, _plain(cloudformation_json.get("Properties", {})), region_name)
    return bucket


FakeBucket.create_from_cloudformation_json = classmethod(_create_bucket)  # type: ignore[method-assign,assignment,arg-type]
