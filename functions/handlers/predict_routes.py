"""The predict API's three routes declared on Powertools' REST resolver, for the OpenAPI document
(infra/openapi.py reads `handlers.predict.app`) and nothing else: the predict function routes its
requests itself (handlers.predict), so its cold start and hot path carry no resolver (issue #21).
The declarations are the ones the function served through before, so the document is unchanged.
No `from __future__ import annotations`: the resolver reads route annotations at run time.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response


@cache
def documented_routes() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.post("/v1/models/<name>/predict")
    def predict(name: str) -> Response[Any]:
        raise NotImplementedError("documentation only: handlers.predict answers")

    @app.get("/v1/models/<name>/signature")
    def signature(name: str) -> Response[Any]:
        raise NotImplementedError("documentation only: handlers.predict answers")

    @app.post("/v1/models/<name>/feedback")
    def feedback(name: str) -> Response[Any]:
        """Labels for earlier predictions: stored by the hour of the predictions they are about."""
        raise NotImplementedError("documentation only: handlers.predict answers")

    return app
