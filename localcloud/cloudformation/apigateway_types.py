"""API Gateway types moto's CloudFormation skips (Stage, ApiKey, UsagePlan, UsagePlanKey,
RequestValidator, Account, GatewayResponse, Model), and Method, whose moto model keeps too little.

Each is created through the API Gateway API, so the local gateway serves what the template says:
stages with their access log and method settings, keys and usage plans it enforces, validators,
models and integration responses it applies.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel

from localcloud.cloudformation.registration import LocalResource, client


class ApiGatewayStage(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::Stage"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        apigw = client("apigateway", region)
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


class ApiGatewayApiKey(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::ApiKey"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
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
        apigw = client("apigateway", region)
        key = apigw.create_api_key(**request)
        return cls(key["id"], {"APIKeyId": key["id"]}, delete=lambda: apigw.delete_api_key(apiKey=key["id"]))


class ApiGatewayUsagePlan(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::UsagePlan"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
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
        apigw = client("apigateway", region)
        plan = apigw.create_usage_plan(**request)
        return cls(plan["id"], delete=lambda: apigw.delete_usage_plan(usagePlanId=plan["id"]))


class ApiGatewayUsagePlanKey(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::UsagePlanKey"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        apigw = client("apigateway", region)
        apigw.create_usage_plan_key(
            usagePlanId=props["UsagePlanId"], keyId=props["KeyId"], keyType=props.get("KeyType", "API_KEY")
        )
        return cls(f"{props['UsagePlanId']}:{props['KeyId']}")


class ApiGatewayRequestValidator(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::RequestValidator"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        apigw = client("apigateway", region)
        validator = apigw.create_request_validator(
            restApiId=props["RestApiId"],
            name=props.get("Name") or name,
            validateRequestBody=str(props.get("ValidateRequestBody", False)).lower() == "true",
            validateRequestParameters=str(props.get("ValidateRequestParameters", False)).lower() == "true",
        )
        return cls(validator["id"], {"RequestValidatorId": validator["id"]})


class ApiGatewayAccount(LocalResource, CloudFormationModel):
    """API Gateway's account-level role for execution logs (kept so `get-account` shows it)."""

    resource_type = "AWS::ApiGateway::Account"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        if props.get("CloudWatchRoleArn"):
            client("apigateway", region).update_account(
                patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": props["CloudWatchRoleArn"]}]
            )
        return cls(name)


def _flags(parameters: dict[str, Any] | None) -> dict[str, bool]:
    """CloudFormation writes API Gateway's required-parameter flags as booleans or strings."""
    return {name: str(required).lower() == "true" for name, required in (parameters or {}).items()}


def _without_none(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if v is not None and v not in ({}, [])}


class ApiGatewayMethod(LocalResource, CloudFormationModel):
    """Replaces moto's own Method model, which keeps only the method, auth type, key flag and a bare
    integration: request validators, parameters, models and integration responses are what the local
    gateway needs to validate requests and answer CORS preflights as API Gateway would."""

    resource_type = "AWS::ApiGateway::Method"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        apigw = client("apigateway", region)
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


class ApiGatewayGatewayResponse(LocalResource, CloudFormationModel):
    """moto's CloudFormation drops gateway responses; the local gateway renders what is put here."""

    resource_type = "AWS::ApiGateway::GatewayResponse"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        apigw = client("apigateway", region)
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


class ApiGatewayModel(LocalResource, CloudFormationModel):
    resource_type = "AWS::ApiGateway::Model"
    name_property = "Name"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], region: str) -> LocalResource:
        model_name = props.get("Name") or "".join(ch for ch in name if ch.isalnum())[:64]
        schema = props.get("Schema", {})
        client("apigateway", region).create_model(
            restApiId=props["RestApiId"],
            name=model_name,
            contentType=props.get("ContentType", "application/json"),
            schema=schema if isinstance(schema, str) else json.dumps(schema),
            description=props.get("Description", ""),
        )
        return cls(model_name)
