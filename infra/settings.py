"""Platform settings: one typed schema, read from CDK context, so a deployment is configured as data."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

CONTEXT_KEY = "platform"


class ApiThrottle(BaseModel):
    """Usage-plan limits for prediction clients (API Gateway token bucket, per key); they apply only
    under `serving.front_door: rest`, the one front door with keys and a usage plan."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: float = Field(50.0, gt=0, description="steady-state requests per second")
    burst_limit: int = Field(100, gt=0, description="bucket size in requests")
    quota_per_day: int | None = Field(None, gt=0, description="requests per day, or no quota")


class ServingSettings(BaseModel):
    """The predict function's size, warm capacity and how much traffic it captures for drift monitoring."""

    model_config = ConfigDict(extra="forbid")

    front_door: Literal["function_url", "rest"] = Field(
        "function_url",
        description="how prediction clients reach the predict function. `function_url`: a Lambda function URL "
        "with AWS_IAM auth (SigV4, service `lambda`); no charge per request beyond Lambda's own $0.20 per million, "
        "no API key, no usage plan (bound it with `reserved_concurrency`). `rest`: the REST API's prediction "
        "routes with an API key and a throttled usage plan (`prediction_throttle`); $3.50 per million requests, "
        "for teams that need per-key quotas, request validation at the edge or a WAF",
    )
    reserved_concurrency: int = Field(
        0,
        ge=0,
        description="execution environments reserved for (and the most ever run by) the predict function; a "
        "function URL then serves at most 10 requests a second per environment; 0 = none (the account's "
        "regional concurrency bounds it; reserving fails the deploy where the account's unreserved concurrency "
        "would drop below 100)",
    )
    provisioned_concurrency: int = Field(
        0,
        ge=0,
        description="warm execution environments behind the `live` alias; 0 = none (no alias, no idle cost)",
    )
    snap_start: bool = Field(
        False,
        description="Lambda SnapStart on the predict function: each deploy publishes a version behind the `live` "
        "alias, and new execution environments resume from a snapshot taken after the handler's imports and "
        "AWS clients are set up, instead of running them; about $7.50 a month at 1,769 MB (the snapshot's cache "
        "and restores), not combinable with provisioned_concurrency",
    )
    capture_sample_rate: float = Field(
        0.1, ge=0, le=1, description="share of requests whose inputs and outputs are captured for drift monitoring"
    )
    # 1,769 MB (one vCPU, https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html) by
    # measurement: `python -m bench memory` (2026-12-06, 256-1,769 MB by emulated CPU share, requests
    # back to back) found no smaller size whose warm p99 stays within 10 % of 1,769 MB's (1,536 MB:
    # 100-row p99 2.17x with a 100 ms CFS period, 1.17x / 1.20x with 20 ms), and cold starts 1.0-7.3x
    # longer below it. Compute is about $4.7 of predict's $24.7 per 100M requests: a smaller size would
    # save at most that share.
    memory_size: int = Field(1769, ge=128, le=10240, description="MB; Lambda allots CPU in proportion")
    trace_sample_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="share of API requests traced with X-Ray ($5 per million traces): an X-Ray sampling rule "
        "on the API stage decides, and the functions behind the API follow; 0 = no traces",
    )
    alias_cache_seconds: float = Field(
        30,
        ge=0,
        le=3600,
        description="how long a container trusts its champion/challenger lookup; promotions apply within it",
    )
    config_cache_seconds: float = Field(
        60,
        ge=0,
        le=3600,
        description="how long a container trusts a model's deployed serving policy (a registry item); "
        "`mlops config deploy` changes the live policy within it",
    )
    capture_max_rows: int = Field(1000, ge=1, le=100_000, description="rows per capture object")
    capture_max_age_seconds: float = Field(
        60, gt=0, le=3600, description="a capture batch is written once it is this old, even if not full"
    )

    @field_validator("snap_start")
    @classmethod
    def _one_cure_for_cold_starts(cls, value: bool, info: ValidationInfo) -> bool:
        # "You can't use SnapStart and provisioned concurrency on the same function version."
        # (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html, "Supported features and limitations")
        if value and info.data.get("provisioned_concurrency", 0) > 0:
            raise ValueError(
                "snap_start and provisioned_concurrency cannot both be on: Lambda refuses SnapStart on a version "
                "with provisioned concurrency; choose one (the README's cost section says at which volume each pays)"
            )
        return value


class MonitoringSettings(BaseModel):
    """How often the drift function wakes up; each model's config says how often it is checked."""

    model_config = ConfigDict(extra="forbid")

    drift_check_minutes: int = Field(60, ge=1, le=1440, description="the drift schedule's rate")
    drift_window_hours: float = Field(
        24, gt=0, le=24 * 31, description="captured traffic a check reads when a model has no earlier check"
    )
    capture_settle_seconds: float = Field(
        30,
        ge=0,
        le=600,
        description="a check's window ends this long before it runs, so capture uploads in flight land in the next",
    )
    performance_check_minutes: int = Field(
        60, ge=1, le=1440, description="the performance schedule's rate: each run joins new labels with predictions"
    )
    capture_lag_hours: float = Field(
        2,
        gt=0,
        le=24,
        description="an hour's capture batches are written up to this long after it ends: an hour joined sooner "
        "is joined again on later runs until then",
    )
    label_settle_seconds: float = Field(
        300,
        ge=0,
        le=3600,
        description="a label object lands within this long of its received time; the join reads newer ones again",
    )


class IngestionSettings(BaseModel):
    """When an upload is validated part by part by the validation state machine (issue #20)."""

    model_config = ConfigDict(extra="forbid")

    single_file_max_mb: int = Field(
        256, ge=1, le=10240, description="a single file larger than this goes to the validation state machine"
    )
    part_mb: int = Field(128, ge=1, le=2048, description="a partitioned version's parts hold about this much data")
    slice_mb: int = Field(128, ge=1, le=2048, description="the share of an upload one Map child reads")
    max_concurrency: int = Field(40, ge=1, le=10000, description="Distributed Map children running at once")
    commit_timeout_minutes: int = Field(
        60,
        ge=5,
        le=7 * 24 * 60,
        description="a multi-file upload with no commit marker this long after its last file is reported",
    )


class BatchScoringSettings(BaseModel):
    """When a file under batch/<model>/ is scored in parts by the batch scoring state machine (issue #20)."""

    model_config = ConfigDict(extra="forbid")

    parts_above_mb: int = Field(
        1024,
        ge=1,
        le=5 * 1024 * 1024,
        description="a plain CSV or JSON Lines file larger than this is scored in parts (about 5M rows of 30 "
        "features; one invocation handles about 18M)",
    )
    gzip_parts_above_mb: int = Field(
        256, ge=1, le=5 * 1024 * 1024, description="the same for a gzip file, whose rows are several times its size"
    )
    slice_mb: int = Field(64, ge=1, le=1024, description="the share of a file one child counts and scores")
    max_concurrency: int = Field(40, ge=1, le=10000, description="Distributed Map children running at once")


class TrainingSettings(BaseModel):
    """How much of a training set the pipeline's Lambda steps hold (README, "Limits")."""

    model_config = ConfigDict(extra="forbid")

    data_step_memory_mb: int = Field(
        3008,
        ge=512,
        le=10240,
        description="MB of the steps that hold the whole training set (prepare, score champion, evaluate, export, "
        "parity): about 220 MB plus 30 bytes per cell (row x encoded feature), so 3,008 MB holds about 90M cells "
        "(4.5M rows of 20 features) and 10,240 MB about 330M; an account may need a quota raise past 3,008",
    )


# The Fargate fit task's image: AWS's Lambda base image for Python 3.12, pinned by digest so that a task
# runs the image this code was tested with, never what the tag points to later. The digest is the one
# `public.ecr.aws/lambda/python:3.12` resolved to as listed in aws/aws-lambda-base-images issue #437 (a
# table of each tag's digest); it was not re-resolved here, since no container registry is reachable from
# this machine. To move on (the tag is rebuilt with security patches), read the tag's current index digest
# (`docker buildx imagetools inspect public.ecr.aws/lambda/python:3.12`, or `crane digest …`) and set
# `fit_task_image` (README, Settings); the index covers arm64 and x86_64, and the task's platform picks.
FIT_TASK_IMAGE = (
    "public.ecr.aws/lambda/python:3.12@sha256:70739d82cddc070a22f74c6591bb805153ce7a074a2202557a4b6f7cb1e823ff"
)


class PlatformSettings(BaseModel):
    """Everything a deployment may change without touching code."""

    model_config = ConfigDict(extra="forbid")

    stack_name: str = Field("ServerlessMlops", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    architecture: Literal["arm64", "x86_64"] = "arm64"
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    log_retention_days: int = 30
    raw_retention_days: int = Field(90, ge=1, description="days an uploaded raw object is kept")
    quarantine_retention_days: int = Field(180, ge=1)
    capture_retention_days: int = Field(90, ge=1)
    access_log_retention_days: int = Field(365, ge=1)
    prediction_throttle: ApiThrottle = ApiThrottle()  # type: ignore[call-arg]
    serving: ServingSettings = ServingSettings()  # type: ignore[call-arg]
    monitoring: MonitoringSettings = MonitoringSettings()  # type: ignore[call-arg]
    ingestion: IngestionSettings = IngestionSettings()  # type: ignore[call-arg]
    batch_scoring: BatchScoringSettings = BatchScoringSettings()  # type: ignore[call-arg]
    training: TrainingSettings = TrainingSettings()  # type: ignore[call-arg]
    fit_task_image: str = Field(
        FIT_TASK_IMAGE,
        pattern=r"^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$",
        description="the Fargate fit task's public Python image, by digest: <repository>[:<tag>]@sha256:<64 hex>",
    )
    retain_data_on_delete: bool = Field(
        True, description="keep buckets and table when the stack is deleted (set false for throwaway stacks)"
    )

    @field_validator("monitoring")
    @classmethod
    def _capture_lands_within_the_lag(cls, value: MonitoringSettings, info: ValidationInfo) -> MonitoringSettings:
        serving = info.data.get("serving")
        if serving is not None and value.capture_lag_hours * 3600 < serving.capture_max_age_seconds:
            raise ValueError(
                f"capture_lag_hours ({value.capture_lag_hours:g}) must cover serving.capture_max_age_seconds "
                f"({serving.capture_max_age_seconds:g} s): a batch waits that long before it is written"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, value: int) -> int:
        allowed = {
            1,
            3,
            5,
            7,
            14,
            30,
            60,
            90,
            120,
            150,
            180,
            365,
            400,
            545,
            731,
            1096,
            1827,
            2192,
            2557,
            2922,
            3288,
            3653,
        }
        if value not in allowed:
            raise ValueError(f"must be one of CloudWatch Logs' retention periods {sorted(allowed)}")
        return value


class SettingsError(ValueError):
    """A deployment setting is malformed; the message names the field."""


def load_settings(context: dict[str, Any] | str | None) -> PlatformSettings:
    """Validate the `platform` context object, naming every bad field. The CDK CLI passes
    `-c platform='{...}'` as text, so text is read as JSON first."""
    if isinstance(context, str):
        try:
            context = json.loads(context) if context.strip() else {}
        except ValueError as error:
            raise SettingsError(
                f"invalid platform settings: -c {CONTEXT_KEY}=... is not JSON ({error}); "
                f"""write it as -c {CONTEXT_KEY}='{{"serving": {{"front_door": "rest"}}}}'"""
            ) from None
        if not isinstance(context, dict):
            raise SettingsError(f"invalid platform settings: -c {CONTEXT_KEY}=... must be a JSON object")
    try:
        return PlatformSettings.model_validate(context or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{CONTEXT_KEY}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid platform settings: {problems}") from exc
