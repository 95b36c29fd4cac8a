"""API Gateway's data plane for the REST APIs moto stores.

What moto lacks: moto records RestApis, resources, methods, integrations, stages, API keys and usage
plans, but serves none of them (an AWS_PROXY integration never reaches Lambda). `LocalApiGateway` is
the missing data plane: a threaded HTTP server on loopback that routes requests by the API's
resources, enforces IAM-signature presence, Lambda/Cognito authorizers, API keys, usage-plan
throttles and quotas and request validators, runs AWS_PROXY (Lambda) and MOCK integrations, and
answers errors with API Gateway's own status codes, messages and `x-amzn-ErrorType` headers.

How it is installed: it patches nothing in moto. `LocalCloud.serve_api(rest_api_id)` starts one
gateway per API (`make up` serves the platform's API on 127.0.0.1:4567); a test may construct
`LocalApiGateway` itself, or call `handle()` with no socket at all.

URLs:
  * `http://127.0.0.1:<port>/<stage>/<path>` for the API given to the constructor;
  * `http://127.0.0.1:<port>/restapis/<api id>/<stage>/_user_request_/<path>` for any API (as LocalStack);
  * `Host: <api id>.execute-api.<anything>` selects the API too, as on AWS.

Limits of this copy (moto 5.2.5): moto keeps no deployment snapshots, so the live resource tree
is served (changes show without a redeploy); the signature of an AWS_IAM request is not verified,
nor a Cognito token's; authorizer results are not cached; VTL mapping templates are not evaluated;
only AWS_PROXY (Lambda) and MOCK integrations run (HTTP, HTTP_PROXY and AWS are a 500); the
account-level 10,000 rps throttle and resource policies are not applied.

Modules, in a request's order: `request` (the request and response), `routing`, `authorizers`,
`usage_plans`, `validation`, `integrations`, `gateway_responses` (the answers the gateway gives
itself), `access_log`; `gateway` runs the pipeline and `http_server` frames it over HTTP.
"""

from localcloud.apigateway.gateway import LocalApiGateway, PortInUseError
from localcloud.apigateway.gateway_responses import GatewayError
from localcloud.apigateway.integrations import LambdaInvoker, MotoLambdaInvoker, build_proxy_event
from localcloud.apigateway.request import GatewayRequest, GatewayResponse

__all__ = [
    "GatewayError",
    "GatewayRequest",
    "GatewayResponse",
    "LambdaInvoker",
    "LocalApiGateway",
    "MotoLambdaInvoker",
    "PortInUseError",
    "build_proxy_event",
]
