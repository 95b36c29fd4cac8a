"""The registry REST API: IAM-authorized routes on the platform's API, apart from prediction keys."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from constructs import Construct

from infra.constructs.platform_function import API_TRACING, PlatformFunction
from infra.constructs.shared_resources import SharedResources
from infra.grants import grant_objects
from mlops.names import MODELS_PREFIX
from mlops.registry.downloads import DOWNLOADABLE

# path (under /v1/models) -> methods; every one needs a SigV4-signed request from an IAM principal
# allowed execute-api:Invoke on it (the admin credential), never a prediction API key.
ROUTES: dict[str, tuple[str, ...]] = {
    "": ("GET",),
    "{name}": ("GET",),
    "{name}/versions": ("GET",),
    "{name}/versions/{version}": ("GET",),
    "{name}/versions/{version}/artifacts": ("GET",),
    "{name}/versions/{version}/lineage": ("GET",),
    "{name}/versions/{version}/approve": ("POST",),
    "{name}/versions/{version}/archive": ("POST",),
    "{name}/versions/{version}/tags": ("PUT",),
    "{name}/aliases/{alias}": ("PUT", "DELETE"),
    "{name}/rollback": ("POST",),
    "{name}/audit": ("GET",),
    "{name}/drift": ("GET",),
    "{name}/performance": ("GET",),
    "{name}/serving-policy": ("GET", "PUT"),
}
# path (under /v1/runs) -> methods, IAM-authorized as the model routes: training runs searched,
# shown and compared (what `mlops runs search` and `mlops runs compare` call).
RUN_ROUTES: dict[str, tuple[str, ...]] = {
    "": ("GET",),
    "{run_id}": ("GET",),
    "{run_id}/compare/{other_run_id}": ("GET",),
}


class RegistryApi(Construct):
    """The registry API's function and its routes under the serving API's `/v1/models` and `/v1/runs`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, models: apigw.IResource
    ) -> None:
        super().__init__(scope, construct_id)
        data, registry = shared.data, shared.registry
        self.function = PlatformFunction(
            self,
            "Handler",
            handler="handlers.registry_api.handler",
            description="The registry REST API: models, versions, aliases, rollback, approval, audit.",
            service="registry",
            architecture=shared.architecture,
            layers=shared.layers.for_function("registry_api"),
            log_retention=shared.log_retention,
            memory_size=512,
            timeout=Duration.seconds(15),
            environment={"REGISTRY_TABLE": registry.table.table_name, "ARTIFACTS_BUCKET": data.artifacts.bucket_name},
            synchronous_caller="API Gateway (the registry routes)",
            tracing=API_TRACING,
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
        # A canary or shadow is checked against the champion's signature before the alias moves, and
        # a version's files are downloaded through URLs this role signs (mlops.registry.downloads): a
        # presigned URL can do no more than its signer. The artifacts bucket is SSE-S3 encrypted, so
        # no KMS grant is needed for those reads.
        for name in DOWNLOADABLE:
            grant_objects(self.function, data.artifacts, ["s3:GetObject"], f"{MODELS_PREFIX}*/{name}")
        integration = apigw.LambdaIntegration(self.function)
        v1 = models.parent_resource
        assert v1 is not None, "/v1/models sits under /v1"
        runs = v1.resource_for_path("runs")
        for parent, routes in ((models, ROUTES), (runs, RUN_ROUTES)):
            for path, methods in routes.items():
                # resource_for_path reuses a resource another construct made (serving's `{name}`, whose
                # predict and signature routes sit beside these) instead of creating a duplicate.
                resource = parent.resource_for_path(path)
                for method in methods:
                    resource.add_method(method, integration, authorization_type=apigw.AuthorizationType.IAM)
        shared.alerts.watch_function("RegistryApi", self.function)
