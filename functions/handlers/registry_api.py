"""The registry REST API (IAM-authorized): list and inspect models, promote, roll back, approve, audit.

No `from __future__ import annotations`: the event handler reads route annotations at run time.

One module past 500 lines: every registry route is declared here, where infra/openapi.py reads them
and API Gateway's one integration sends them; each route is a few lines calling one core function.
"""

import binascii
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from handlers.settings import FunctionSettings, PerContainer
from mlops.buckets import ArtifactsBucket
from mlops.names import ALIAS_PATTERN, CHALLENGER, CHAMPION, NAME_PATTERN
from mlops.registry.downloads import DOWNLOAD_URL_SECONDS, artifact_links
from mlops.registry.errors import RegistryError
from mlops.registry.limits import MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, TAG_KEY_PATTERN, readable_tags, unprintable
from mlops.registry.lineage import Lineage
from mlops.registry.models import ModelRegistry
from mlops.registry.rollout_compatibility import rollout_reason
from mlops.registry.run_comparison import RunSearch, compare_runs, dataset_runs, recorded_run
from mlops.registry.run_query import RunsQueryError, metric_filter, param_filter
from mlops.registry.views import model_card, plain

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def _json_body(text: str) -> Any:
    """json.loads, with what else it raises (an integer past Python's digit limit, nesting past the
    recursion limit) made a JSONDecodeError, which the resolver answers with a 400."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        raise json.JSONDecodeError(str(error), text, 0) from None


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_json_body)


@dataclass(frozen=True)
class RegistryApiSettings(FunctionSettings):
    registry_table: str
    artifacts_bucket: str  # the versions' signatures (compared before a rollout) and their downloads


@dataclass(frozen=True)
class RegistryApiServices:
    registry: ModelRegistry
    artifacts: ArtifactsBucket


def _build() -> RegistryApiServices:
    settings = RegistryApiSettings.from_environment(os.environ)
    return RegistryApiServices(
        ModelRegistry(boto3.resource("dynamodb").Table(settings.registry_table)),
        # Signature Version 4 for the download URLs (botocore presigns with version 2 unless told).
        ArtifactsBucket(boto3.client("s3", config=Config(signature_version="s3v4")), settings.artifacts_bucket),
    )


services = PerContainer(_build)

STATUS_BY_CODE = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409}
BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON = content_types.APPLICATION_JSON


def _printable(text: str) -> str:
    """Text stored in the registry and shown in terminals: no control, format or unassigned characters."""
    where = unprintable(text)
    if where is not None:
        raise ValueError(f"holds a character that does not print ({where})")
    return text


MAX_REASON = 500
ReasonText = Annotated[str, StringConstraints(min_length=3, max_length=MAX_REASON), AfterValidator(_printable)]


class Rollout(BaseModel):
    mode: Literal["canary", "shadow"]
    weight: float = Field(default=0.0, ge=0, le=1, description="canary: share of requests the challenger answers")


class AliasChange(BaseModel):
    version: int = Field(ge=1)
    reason: ReasonText
    rollout: Rollout | None = Field(
        default=None, description="challenger aliases only: canary (answers `weight` of requests) or shadow"
    )
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="the version the alias holds now, as the caller last read it; if it holds another (a racing "
        "promotion got there first), the answer is 409 naming the alias's current version and nothing changes. "
        "If the alias already holds the requested version (and rollout), the answer is 200 with the alias as it "
        "is and nothing is written: a retried promotion whose first attempt went through succeeds again",
    )
    allow_signature_change: bool = Field(
        default=False,
        description="a canary or shadow whose version refuses requests the champion accepts (other fields, "
        "narrower ranges or categories, other classes) is refused with 409 naming the differences; true rolls "
        "it out anyway, and the audit event records the differences",
    )


class Reason(BaseModel):
    reason: ReasonText


class Rollback(BaseModel):
    reason: ReasonText
    alias: str = Field(default=CHAMPION, pattern=ALIAS_PATTERN)
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="the version the alias holds now; if it holds another (a retried rollback already went "
        "through, or someone moved it), the answer is 409 naming the alias's current version and nothing changes",
    )


# AWS's own tag limits (128-character keys, 256-character values, 50 tags): a version's record stays
# far below DynamoDB's 400 KB item limit, and an empty or odd key never reaches the registry.
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY, pattern=TAG_KEY_PATTERN)]
TagValue = Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE), AfterValidator(_printable)]


class Tags(BaseModel):
    tags: dict[TagKey, TagValue] = Field(
        min_length=1,
        max_length=MAX_TAGS,
        description="keys: a letter or digit, then letters, digits and _.:/=+@- (at most 128); values: at most 256 "
        "printable characters; a version holds at most 50 tags",
    )


class ServingPolicyChange(BaseModel):
    """What the live versions of a model do with values the contract does not allow (the training
    config's `serving` section, which `mlops config deploy` sends here)."""

    model_config = ConfigDict(extra="forbid")

    out_of_range: Literal["reject", "warn"] = "reject"
    unseen_category: Literal["reject", "warn"] = "reject"
    capture_sample_rate: float | None = Field(default=None, ge=0, le=1, strict=True)  # not true/false
    source: str = Field(default="registry API", max_length=300, description="where the policy comes from")
    reason: str = Field(min_length=3, max_length=500)


def _error(status: int, code: str, message: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}},
    )


@app.exception_handler(RegistryError)  # type: ignore[untyped-decorator]
def _registry_error(error: RegistryError) -> Response[Any]:
    return _error(STATUS_BY_CODE.get(error.code, 400), error.code, error.message)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def _invalid_request(error: RequestValidationError) -> Response[Any]:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    return _error(400, "invalid", problems or "the request is not valid")


@app.exception_handler([UnicodeDecodeError, binascii.Error])  # type: ignore[untyped-decorator]
def _unreadable_body(error: ValueError) -> Response[Any]:
    """A body flagged base64 that is not, or bytes that are not UTF-8 (the resolver decodes both)."""
    return _error(400, "invalid", "the body is not UTF-8 JSON")


@app.not_found
def _no_route(error: NotFoundError) -> Response[Any]:
    return _error(404, "not_found", f"no route {app.current_event.http_method} {app.current_event.path}")


def _query_reason(reason: str) -> str:
    """A reason given in the query string, held to the rules of a reason in a body."""
    if len(reason) > MAX_REASON:
        raise RegistryError("invalid", f"reason: at most {MAX_REASON} characters")
    where = unprintable(reason)
    if where is not None:
        raise RegistryError("invalid", f"reason: holds a character that does not print ({where})")
    return reason


def _actor() -> str:
    identity = app.current_event.request_context.identity
    return identity.user_arn or identity.caller or "unknown"


def _registry() -> ModelRegistry:
    return services().registry


def _now() -> str:
    return datetime.now(UTC).isoformat()


@app.get("/v1/models")
def list_models(
    limit: Annotated[int, Query(ge=1, le=100)] = 50, next_token: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    models, token = _registry().list_models(limit=limit, next_token=next_token)
    return {"models": plain(models), "next_token": token}


@app.get("/v1/models/<name>")
def get_model(name: Annotated[str, Path(pattern=NAME_PATTERN)]) -> dict[str, Any]:
    return {"model": plain(_registry().get_model(name))}


@app.get("/v1/models/<name>/versions")
def list_versions(
    name: Annotated[str, Path(pattern=NAME_PATTERN)],
    status: Annotated[str | None, Query()] = None,
    tag: Annotated[str | None, Query(description="key=value")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    _registry().get_model(name)  # 404 for an unknown model, not an empty list
    versions, token = _registry().list_versions(name, status=status, limit=limit, next_token=next_token)
    if tag:
        key, _, value = tag.partition("=")
        versions = [v for v in versions if readable_tags(v.get("tags")).get(key) == value]
    return {"versions": plain(versions), "next_token": token}


@app.get("/v1/models/<name>/versions/<version>")
def get_version(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)]
) -> dict[str, Any]:
    record = _registry().get_version(name, version)
    if record is None:
        raise RegistryError("not_found", f"{name} has no version {version}")
    return {"version": plain(record), "model_card": model_card(record)}


@app.get("/v1/models/<name>/versions/<version>/artifacts")
def artifacts(name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    """Presigned GET URLs of the version's ONNX model, input signature and reference profile, each with
    the sha256 the registry recorded (null: registered before it was recorded). A URL works for
    `expires_in` seconds, or less: it ends with the registry API role's session, which signed it."""
    record = _registry().model_version(name, version)
    if record is None:
        raise RegistryError("not_found", f"{name} has no version {version}")
    links = artifact_links(record, services().artifacts.presigned_get)
    logger.info("download links issued", model=name, version=version, actor=_actor())
    return {
        "model": name,
        "version": version,
        "expires_in": DOWNLOAD_URL_SECONDS,
        "artifacts": [asdict(link) for link in links],
    }


@app.get("/v1/models/<name>/versions/<version>/lineage")
def lineage(name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    """What trained the version: the run's trigger and reason, the code asset and config, the champion it
    was compared with, and each dataset version it learned from with the uploads it came from."""
    record = _registry().get_version(name, version)
    if record is None:
        raise RegistryError("not_found", f"{name} has no version {version}")
    run = _registry().get_run(str(record["run_id"])) if record.get("run_id") else None
    return {"lineage": Lineage.from_records(plain(record), plain(run) if run else None).to_json()}


@app.put("/v1/models/<name>/aliases/<alias>")
def set_alias(
    name: Annotated[str, Path(pattern=NAME_PATTERN)],
    alias: Annotated[str, Path(pattern=ALIAS_PATTERN)],
    change: AliasChange,
) -> dict[str, Any]:
    reason = change.reason
    if alias == CHALLENGER and change.rollout is not None:
        reason = rollout_reason(
            _registry(),
            services().artifacts.get,
            name,
            change.version,
            mode=change.rollout.mode,
            reason=reason,
            allow_signature_change=change.allow_signature_change,
        )
    item = _registry().set_alias(
        name,
        alias,
        change.version,
        reason=reason,
        actor=_actor(),
        at=_now(),
        rollout=change.rollout.model_dump() if change.rollout else None,
        expected_version="any" if change.expected_version is None else change.expected_version,
    )
    logger.info("alias set", model=name, alias=alias, version=change.version, actor=_actor())
    return {"alias": plain(item)}


@app.delete("/v1/models/<name>/aliases/<alias>")
def remove_alias(
    name: Annotated[str, Path(pattern=NAME_PATTERN)],
    alias: Annotated[str, Path(pattern=ALIAS_PATTERN)],
    reason: Annotated[str, Query(min_length=3)],
) -> dict[str, Any]:
    _registry().remove_alias(name, alias, reason=_query_reason(reason), actor=_actor(), at=_now())
    return {"removed": alias}


@app.post("/v1/models/<name>/rollback")
def rollback(name: Annotated[str, Path(pattern=NAME_PATTERN)], request: Rollback) -> dict[str, Any]:
    item = _registry().rollback(
        name,
        alias=request.alias,
        reason=request.reason,
        actor=_actor(),
        at=_now(),
        expected_version=request.expected_version,
    )
    return {"alias": plain(item)}


@app.post("/v1/models/<name>/versions/<version>/approve")
def approve(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)], request: Reason
) -> dict[str, Any]:
    return {"version": plain(_registry().approve(name, version, reason=request.reason, actor=_actor(), at=_now()))}


@app.post("/v1/models/<name>/versions/<version>/archive")
def archive(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)], request: Reason
) -> dict[str, Any]:
    return {"version": plain(_registry().archive(name, version, reason=request.reason, actor=_actor(), at=_now()))}


@app.put("/v1/models/<name>/versions/<version>/tags")
def tag(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], version: Annotated[int, Path(ge=1)], request: Tags
) -> dict[str, Any]:
    return {"version": plain(_registry().tag(name, version, request.tags, actor=_actor(), at=_now()))}


@app.get("/v1/models/<name>/serving-policy")
def serving_policy(name: Annotated[str, Path(pattern=NAME_PATTERN)]) -> dict[str, Any]:
    """The deployed serving policy (null: each version answers under the policy it was trained with)."""
    return {"policy": plain(_registry().serving_policy(name))}


@app.put("/v1/models/<name>/serving-policy")
def deploy_serving_policy(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], change: ServingPolicyChange
) -> dict[str, Any]:
    """Deploy the policy the live versions answer under (within the predict function's cache time), audited."""
    policy = change.model_dump(include={"out_of_range", "unseen_category", "capture_sample_rate"})
    before, after = _registry().set_serving_policy(
        name, policy, source=change.source, reason=change.reason, actor=_actor(), at=_now()
    )
    logger.info("serving policy deployed", model=name, before=plain(before), after=after, actor=_actor())
    return {"before": plain(before), "after": after}


@app.get("/v1/models/<name>/drift")
def drift(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> dict[str, Any]:
    """The model's drift checks, newest first (summaries; each names its report in S3)."""
    _registry().get_model(name)
    return {"checks": plain(_registry().drift_results(name, limit=limit))}


@app.get("/v1/models/<name>/performance")
def performance(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> dict[str, Any]:
    """The model's performance checks on labelled traffic, newest first (summaries per version and
    variant; each names its report in S3)."""
    _registry().get_model(name)
    return {"checks": plain(_registry().performance_results(name, limit=limit))}


@app.get("/v1/models/<name>/audit")
def audit(
    name: Annotated[str, Path(pattern=NAME_PATTERN)], limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The model's audit trail, newest first: who changed what, when and why."""
    _registry().get_model(name)
    return {"events": plain(_registry().audit(name, limit=limit))}


# A run is named by its Step Functions execution: 1 to 80 characters, none of them blank or special
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
RUN_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$"
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="a training run (its execution name)")]


@app.exception_handler(RunsQueryError)  # type: ignore[untyped-decorator]
def _invalid_query(error: RunsQueryError) -> Response[Any]:
    return _error(400, "invalid", str(error))


@app.get("/v1/runs")
def search_runs(
    dataset: Annotated[str, Query(pattern=NAME_PATTERN, description="the dataset whose runs to search")],
    metric: Annotated[
        list[str] | None,
        Query(description="METRIC OP VALUE on the registered version's test metrics, e.g. roc_auc>0.9 (repeat: all)"),
    ] = None,
    param: Annotated[
        list[str] | None,
        Query(description="PARAM OP VALUE on the chosen hyperparameters, e.g. max_depth=6 (repeat: all must hold)"),
    ] = None,
    sort: Annotated[
        str | None,
        Query(description="a metric (best first) or started/version (newest first); a leading - the other way"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """A dataset's training runs (newest first unless sorted), each with its chosen candidate and
    hyperparameters, test metrics and gates; `metric` and `param` keep the runs matching every one."""
    search = RunSearch(
        dataset,
        metrics=tuple(metric_filter(m, flag="metric") for m in metric or []),
        params=tuple(param_filter(p, flag="param") for p in param or []),
        sort=sort,
        limit=limit,
    )
    return {"runs": [r.as_json() for r in search.apply(dataset_runs(_registry(), dataset))]}


@app.get("/v1/runs/<run_id>")
def get_run(run_id: RunId) -> dict[str, Any]:
    """One run: its data versions, candidates, the chosen hyperparameters, its version's metrics and gates."""
    return {"run": recorded_run(_registry(), run_id).as_json()}


@app.get("/v1/runs/<run_id>/compare/<other_run_id>")
def compare(run_id: RunId, other_run_id: RunId) -> dict[str, Any]:
    """Two runs side by side (`a` is run_id, `b` other_run_id): every value, whether it differs and,
    for a metric, which run is better; `notes` first says when they trained on different datasets."""
    return compare_runs(recorded_run(_registry(), run_id), recorded_run(_registry(), other_run_id)).as_json()


def _media_type(event: dict[str, Any]) -> str:
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    return str(headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _not_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """Every registry route that takes a body reads JSON, and only JSON: a form or multipart body would
    reach the resolver's own parsers (a multipart type without a boundary raised an unhandled error,
    a form body could promote), so any other type is answered 415 before the resolver sees it."""
    if str(event.get("httpMethod") or "").upper() not in BODY_METHODS or _media_type(event) == JSON:
        return None
    given = _media_type(event)[:100] or "no Content-Type"
    body = {"error": {"code": "unsupported_media_type", "message": f"send the body as {JSON}, not {given}"}}
    return {
        "statusCode": 415,
        "headers": {"Content-Type": JSON},
        "multiValueHeaders": {},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _json_content_type(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its Content-Type as the resolver matches it (lowercase; media types are not
    case-sensitive, so `APPLICATION/JSON; charset=utf-8` is JSON too)."""
    if str(event.get("httpMethod") or "").upper() not in BODY_METHODS:
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if str(k).lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if str(k).lower() != "content-type"}
    return {
        **event,
        "headers": {**headers, "content-type": JSON},
        "multiValueHeaders": {**multi, "content-type": [JSON]},
    }


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = _not_json(event)
    return refused if refused is not None else app.resolve(_json_content_type(event), context)
