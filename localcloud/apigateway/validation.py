"""Request validation: a method's request validator applied before the integration runs.

moto keeps validators, models and a method's requestParameters/requestModels but applies none of
them; here a request missing a required parameter, or whose body fails the method's model (JSON
schema draft 4, references to the API's other models inlined), is answered 400 as API Gateway words it.
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal
from typing import Any

import jsonschema
from moto.apigateway.models import Method, RestAPI

from localcloud.apigateway.gateway_responses import BAD_REQUEST_BODY, BAD_REQUEST_PARAMETERS, GatewayError
from localcloud.apigateway.request import GatewayRequest, media_type
from localcloud.apigateway.routing import truthy

LOG = logging.getLogger(__name__)

_MODEL_REF = re.compile(r"^https?://apigateway\.amazonaws\.com/restapis/[^/]+/models/(?P<name>[^/#]+)")


def validate_request(
    api: RestAPI,
    method: Method,
    request: GatewayRequest,
    query: dict[str, list[str]],
    path_parameters: dict[str, str],
) -> None:
    """Apply the method's request validator: 400 as AWS words it, parameters before body.

    moto keeps validators, models and the method's requestParameters/requestModels when they are
    created through the API (CloudFormation drops them). A model named in requestModels that moto
    does not hold (AWS's built-in `Empty`, for one) accepts any body. The model is chosen by the
    request's Content-Type (application/json when absent), then `$default`; with neither the
    body is not validated.
    """
    validator_id = (method.request_validator_id or "").strip()
    if not validator_id:
        return
    validator = api.request_validators.get(validator_id)
    if validator is None:
        return
    if truthy(validator.validate_request_parameters):
        missing = _missing_parameters(method, request, query, path_parameters)
        if missing:
            raise GatewayError(
                BAD_REQUEST_PARAMETERS,
                400,
                f"Missing required request parameters: [{', '.join(missing)}]",
                "BadRequestException",
            )
    if truthy(validator.validate_request_body):
        models: dict[str, str] = method.request_models or {}
        kind = media_type(request.header("Content-Type")) or "application/json"
        model_name = models.get(kind) or models.get("$default")
        if model_name and not _body_matches_model(api, model_name, request.body):
            raise GatewayError(BAD_REQUEST_BODY, 400, "Invalid request body", "BadRequestException")


def _missing_parameters(
    method: Method,
    request: GatewayRequest,
    query: dict[str, list[str]],
    path_parameters: dict[str, str],
) -> list[str]:
    missing: list[str] = []
    for name, required in sorted((method.request_parameters or {}).items()):
        if not truthy(required):
            continue
        location, _, parameter = name.removeprefix("method.request.").partition(".")
        if location == "header":
            present = request.header(parameter) is not None
        elif location == "querystring":
            present = parameter in query
        elif location == "path":
            present = parameter in path_parameters or parameter.rstrip("+") in path_parameters
        else:
            present = True
        if not present:
            missing.append(parameter)
    return missing


def _body_matches_model(api: RestAPI, model_name: str, body: bytes) -> bool:
    schema = resolve_model_schema(api, model_name)
    if schema is None:
        return True
    try:
        instance = json.loads(body.decode("utf-8") or "{}", parse_int=_json_integer)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    except RecursionError:
        # Nesting deeper than Python parses. RFC 8259 section 9 lets a parser limit nesting depth, and
        # API Gateway's validator answers a body it cannot validate with 400 BAD_REQUEST_BODY, never 5xx.
        return False
    try:
        jsonschema.Draft4Validator(schema).validate(instance)
    except jsonschema.ValidationError as error:
        LOG.debug("request body fails model %s: %s", model_name, error.message)
        return False
    except (ValueError, RecursionError):  # jsonschema's message quotes the instance: an int over 4,300 digits
        return False
    return True


def _json_integer(digits: str) -> int:
    """A JSON integer of any length: API Gateway's validator reads 4,301 digits as a number, while
    Python's int(str) stops at 4,300 (sys.get_int_max_str_digits); through Decimal it has no limit."""
    return int(Decimal(digits))


def resolve_model_schema(api: RestAPI, model_name: str, _seen: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """A model's JSON schema (draft 4) with references to the API's other models inlined."""
    model = api.models.get(model_name)
    if model is None or model_name in _seen:
        return None
    raw = model.schema
    try:
        schema = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    except json.JSONDecodeError:
        LOG.warning("model %s has a schema that is not JSON; not validating against it", model_name)
        return None
    seen = _seen | {model_name}

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and (match := _MODEL_REF.match(ref)):
                return resolve_model_schema(api, match.group("name"), seen) or {}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    resolved = inline(schema)
    resolved.pop("$schema", None)  # draft 4 is what API Gateway uses, whatever the model says
    return dict(resolved)
