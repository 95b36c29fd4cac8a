"""The registry REST API: IAM-authorized routes on the platform's API, apart from prediction keys."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.data import DataStorage
from infra.constructs.layers import Layers
from infra.constructs.monitoring import Monitoring
from infra.constructs.platform_function import PlatformFunction
from infra.constructs.registry import Registry
from infra.nag import grant_objects
from mlops.names import MODELS_PREFIX

# path (under /v1/models) -> methods; every one needs a SigV4-signed request from an IAM principal
# allowed execute-api:Invoke on it (the admin credential), never a prediction API key.
ROUTES: dict[str, tuple[str, ...]] = {
    "": ("GET",),
    "{name}": ("GET",),
    "{name}/versions": ("GET",),
    "{name}/versions/{version}": ("GET",),
    "{name}/versions/{version}/approve": ("POST",),
    "{name}/versions/{version}/archive": ("POST",),
    "{name}/versions/{version}/tags": ("PUT",),
    "{name}/aliases/{alias}": ("PUT", "DELETE"),
    "{name}/rollback": ("POST",),
    "{name}/audit": ("GET",),
    "{name}/drift": ("GET",),
    "{name}/serving-policy": ("GET", "PUT"),
}


class RegistryApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: apigw.IResource,
        registry: Registry,
        data: DataStorage,
        monitoring: Monitoring,
        layers: Layers,
        architecture: lambda_.Architecture,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = PlatformFunction(
            self,
            "Handler",
            handler="handlers.registry_api.handler",
            description="The registry REST API: models, versions, aliases, rollback, approval, audit.",
            service="registry",
            architecture=architecture,
            layers=layers.for_function("registry_api"),
            log_retention=log_retention,
            memory_size=512,
            timeout=Duration.seconds(15),
            environment={"REGISTRY_TABLE": registry.table.table_name, "ARTIFACTS_BUCKET": data.artifacts.bucket_name},
            synchronous_caller="API Gateway (the registry routes)",
        ).function
        registry.grant_items(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:ConditionCheckItem",
        )
        # A canary or shadow is checked against the champion's signature before the alias moves.
        grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/signature.json")
        integration = apigw.LambdaIntegration(self.function)
        for path, methods in ROUTES.items():
            # resource_for_path reuses a resource another construct made (serving's `{name}`, whose
            # predict and signature routes sit beside these) instead of creating a duplicate.
            resource = models.resource_for_path(path)
            for method in methods:
                resource.add_method(method, integration, authorization_type=apigw.AuthorizationType.IAM)
        monitoring.watch_function("RegistryApi", self.function)
