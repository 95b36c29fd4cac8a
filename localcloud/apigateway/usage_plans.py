"""Which API key may call a method, and how often: API keys and usage-plan limits.

moto stores API keys, usage plans (throttle, quota, apiStages) and usage-plan keys but enforces
none of them; this module does, the way API Gateway does: a key must be enabled and belong to a
usage plan attached to the API's stage, its plan's throttle is a token bucket per key
(`rateLimit` tokens a second, `burstLimit` deep), a per-method throttle in the plan's apiStages
adds a second bucket, and the quota counts requests per key per calendar DAY, WEEK (starting
Sunday, UTC) or MONTH, less `offset` in the first period seen. Stage method settings
(`throttlingRateLimit`/`throttlingBurstLimit` for `*/*` or one `resource/METHOD`) throttle all
callers together. Counters live in memory and reset when the gateway does.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.apigateway.models import APIGatewayBackend, ApiKey, UsagePlan

from localcloud.apigateway.gateway_responses import forbidden, limit_exceeded, too_many_requests
from localcloud.apigateway.routing import truthy


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate` a second."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = max(rate, 0.0)
        self.capacity = float(burst) if burst > 0 else max(1.0, self.rate)
        self.tokens = self.capacity
        self.updated = now

    def take(self, now: float) -> bool:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class KeyGrant:
    """An API key accepted for a stage, and the usage plan that admitted it."""

    key_id: str
    key_value: str
    plan_id: str
    throttle: dict[str, Any]
    quota: dict[str, Any]
    method_throttle: dict[str, Any]  # "/resource/path/METHOD" -> {"rateLimit", "burstLimit"}


def find_key_grant(backend: APIGatewayBackend, api_id: str, stage: str, key_value: str | None) -> KeyGrant:
    """The usage plan admitting `key_value` on this stage, or 403 Forbidden as on AWS."""
    if not key_value:
        raise forbidden("no x-api-key header")
    key: ApiKey | None = next((k for k in list(backend.keys.values()) if k.value == key_value), None)
    if key is None:
        raise forbidden("unknown API key")
    if not truthy(key.enabled):
        raise forbidden(f"API key {key.id} is disabled")
    for plan in list(backend.usage_plans.values()):
        if key.id not in backend.usage_plan_keys.get(plan.id, {}):
            continue
        stage_entry = _stage_entry(plan, api_id, stage)
        if stage_entry is None:
            continue
        return KeyGrant(
            key_id=key.id,
            key_value=key.value,
            plan_id=plan.id,
            throttle=dict(plan.throttle or {}),
            quota=dict(plan.quota or {}),
            method_throttle=dict(stage_entry.get("throttle") or {}),
        )
    raise forbidden(f"API key {key.id} is in no usage plan for {api_id}/{stage}")


def _stage_entry(plan: UsagePlan, api_id: str, stage: str) -> dict[str, Any] | None:
    for entry in plan.api_stages or []:
        if entry.get("apiId") == api_id and entry.get("stage") == stage:
            return dict(entry)
    return None


class UsageTracker:
    """Token buckets and quota counters shared by all request threads of one gateway."""

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Any, ...], TokenBucket] = {}
        self._quota_used: dict[tuple[str, str, str], int] = {}
        self._first_period: dict[tuple[str, str], str] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._quota_used.clear()
            self._first_period.clear()

    def _take(self, key: tuple[Any, ...], limits: dict[str, Any], now: float) -> bool:
        rate = float(limits.get("rateLimit") or 0.0)
        burst = int(limits.get("burstLimit") or 0)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or (burst > 0 and bucket.capacity != burst):
            bucket = self._buckets[key] = TokenBucket(rate, burst, now)
        return bucket.take(now)

    def check_stage_throttle(
        self, api_id: str, stage: str, method_settings: dict[str, Any], resource_path: str, http_method: str
    ) -> None:
        """Stage-wide throttling from the stage's method settings, shared by every caller."""
        setting_key = resource_path.replace("/", "~1") + "/" + http_method
        settings = method_settings.get(setting_key.lstrip("/")) or method_settings.get("*/*")
        if not settings or "throttlingRateLimit" not in settings:
            return
        limits = {"rateLimit": settings.get("throttlingRateLimit"), "burstLimit": settings.get("throttlingBurstLimit")}
        with self._lock:
            allowed = self._take(("stage", api_id, stage, setting_key), limits, self._clock())
        if not allowed:
            raise too_many_requests(f"stage throttle {setting_key}")

    def check_key(self, grant: KeyGrant, resource_path: str, http_method: str) -> None:
        """Plan throttle, then per-method throttle, then quota: 429 as AWS words each."""
        now = self._clock()
        method_key = f"{resource_path.rstrip('/') or ''}/{http_method}"
        throttles = grant.method_throttle
        method_limits = throttles.get(method_key) or throttles.get(f"{resource_path}/{http_method}")
        with self._lock:
            if grant.throttle and not self._take(("plan", grant.plan_id, grant.key_id), grant.throttle, now):
                raise too_many_requests(f"usage plan {grant.plan_id} throttle")
            method_bucket = ("method", grant.plan_id, grant.key_id, method_key)
            if method_limits and not self._take(method_bucket, method_limits, now):
                raise too_many_requests(f"usage plan {grant.plan_id} throttle for {method_key}")
            limit = grant.quota.get("limit")
            if limit is None:
                return
            period = str(grant.quota.get("period") or "DAY").upper()
            period_key = _period_key(period, self._wall_clock())
            first = self._first_period.setdefault((grant.plan_id, grant.key_id), period_key)
            allowed = int(limit) - (int(grant.quota.get("offset") or 0) if first == period_key else 0)
            counter = (grant.plan_id, grant.key_id, period_key)
            used = self._quota_used.get(counter, 0)
            if used >= allowed:
                raise limit_exceeded(f"usage plan {grant.plan_id} quota {limit}/{period}")
            self._quota_used[counter] = used + 1

    def quota_used(self, plan_id: str, key_id: str) -> int:
        """Requests counted against a key's quota, all periods seen so far (for inspection)."""
        with self._lock:
            return sum(v for (p, k, _), v in self._quota_used.items() if p == plan_id and k == key_id)


def _period_key(period: str, epoch: float) -> str:
    day = dt.datetime.fromtimestamp(epoch, tz=dt.UTC).date()
    if period == "MONTH":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "WEEK":
        sunday = day - dt.timedelta(days=(day.weekday() + 1) % 7)
        return f"W{sunday.isoformat()}"
    return day.isoformat()
