"""GET /v1/health: lets a prediction client check its key and see which platform answers.

No `from __future__ import annotations` here: the event handler reads route annotations at run time.
"""

import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from handlers.settings import FunctionSettings, PerContainer
from mlops import __version__

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)


@dataclass(frozen=True)
class HealthSettings(FunctionSettings):
    platform_stack_name: str = "unknown"


settings = PerContainer(lambda: HealthSettings.from_environment(os.environ))


class Health(BaseModel):
    status: str
    platform_version: str
    stack: str


@app.get("/v1/health")
@tracer.capture_method
def health() -> Health:
    return Health(status="ok", platform_version=__version__, stack=settings().platform_stack_name)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
