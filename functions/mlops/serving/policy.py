"""The serving policy a request is answered under: the one deployed for the model in the registry
(`mlops config deploy` sends the training config's `serving` section to the registry API, which
stores it with an audit event), read at serve time.

A version stores the policy of the config it was trained with; that frozen copy applies only when no
policy is deployed for the model. So `mlops config deploy` changes `out_of_range`, `unseen_category`
and `capture_sample_rate` for the live version within `CONFIG_CACHE_SECONDS`, without retraining.
The registry API validated the item when it wrote it; it is read here without pydantic (the predict
function never loads it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.serving.inputs import InputPolicy

DEFAULT_CONFIG_CACHE_SECONDS = 60.0  # how long a container trusts a model's deployed serving policy


@dataclass(frozen=True)
class ServingPolicy:
    """What serving does with a model's requests, and where that came from (shown and logged)."""

    inputs: InputPolicy
    capture_sample_rate: float | None  # None: the deployment's default rate
    source: str  # "deployed <when> by <whom> (<config key>)" or "version <n> (its training config)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_of_range": self.inputs.out_of_range,
            "unseen_category": self.inputs.unseen_category,
            "capture_sample_rate": self.capture_sample_rate,
            "source": self.source,
        }


def deployed_policy(item: Mapping[str, Any]) -> ServingPolicy:
    """The registry's serving-policy item as the policy requests are answered under."""
    rate = item.get("capture_sample_rate")
    where = f" ({item['source']})" if item.get("source") else ""
    return ServingPolicy(
        InputPolicy.from_record(item),
        float(rate) if rate is not None else None,
        f"deployed {item.get('deployed_at', '')}{where}".strip(),
    )


@dataclass
class _Cached:
    policy: ServingPolicy | None  # None: no usable deployed config; the version's own applies
    state: str  # what was found, for logging changes only
    expires: float


@dataclass
class DeployedPolicies:
    """Per container: each model's deployed serving policy, re-read at most once per `ttl` seconds.

    `read` returns the model's registry item, or None when no policy is deployed. A read that fails
    keeps the last policy read, so a throttled GetItem does not flip a live policy. `on_change`
    hears (model, state, detail) whenever what a model resolves to changes."""

    read: Callable[[str], Mapping[str, Any] | None]
    ttl: float = DEFAULT_CONFIG_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[str, str, str], None] = lambda model, state, detail: None
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_model(self, model: str) -> ServingPolicy | None:
        """The deployed policy, or None when the version's own applies."""
        now = self.clock()
        cached = self._cache.get(model)
        if cached is not None and cached.expires > now:
            return cached.policy
        with self._lock:
            cached = self._cache.get(model)
            if cached is not None and cached.expires > now:
                return cached.policy
            policy, state, detail = self._read(model, cached)
            if cached is None or cached.state != state or (cached.policy != policy):
                self.on_change(model, state, detail)
            self._cache[model] = _Cached(policy, state, now + self.ttl)
            return policy

    def _read(self, model: str, cached: _Cached | None) -> tuple[ServingPolicy | None, str, str]:
        try:
            item = self.read(model)
        except Exception as error:  # DynamoDB unavailable or throttled: keep what was known
            kept = cached.policy if cached is not None else None
            return kept, cached.state if cached is not None else "unreadable", f"{type(error).__name__}: {error}"
        if item is None:
            return None, "none", f"no serving policy deployed for {model}: each version's own applies"
        policy = deployed_policy(item)
        return policy, "deployed", str(policy.as_dict())


def effective_policy(
    deployed: ServingPolicy | None, version: int, frozen: InputPolicy, frozen_rate: float | None
) -> ServingPolicy:
    """The deployed config's policy, or the version's own when there is none."""
    if deployed is not None:
        return deployed
    return ServingPolicy(frozen, frozen_rate, f"version {version} (its training config)")
