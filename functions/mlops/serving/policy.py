"""The serving policy a request is answered under: the `serving` section of the dataset's deployed
training config (`configs/<dataset>.yaml`, what `mlops config deploy` uploads), read at serve time.

A version stores the policy of the config it was trained with; that frozen copy applies only when no
config is deployed for the dataset or the deployed one cannot be read as a policy (both logged). So
`mlops config deploy` changes `out_of_range`, `unseen_category` and `capture_sample_rate` for the
live version within `CONFIG_CACHE_SECONDS`, without retraining.

No pydantic (the predict function never loads it): the section's three fields are checked here, and a
problem names the field.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops.serving.inputs import InputPolicy

CONFIGS_PREFIX = "configs/"
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CONFIG_CACHE_SECONDS = 60.0  # how long a container trusts a dataset's deployed serving policy
POLICIES = ("reject", "warn")


class PolicyError(ValueError):
    """A deployed config whose serving section cannot be applied; the message names the field."""


@dataclass(frozen=True)
class ServingPolicy:
    """What serving does with a model's requests, and where that came from (shown and logged)."""

    inputs: InputPolicy
    capture_sample_rate: float | None  # None: the deployment's default rate
    source: str  # "configs/<dataset>.yaml" or "version <n> (its training config)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_of_range": self.inputs.out_of_range,
            "unseen_category": self.inputs.unseen_category,
            "capture_sample_rate": self.capture_sample_rate,
            "source": self.source,
        }


def config_keys(dataset: str) -> list[str]:
    """Where `mlops config deploy` puts a dataset's config, in the order training looks for it."""
    return [f"{CONFIGS_PREFIX}{dataset}{suffix}" for suffix in CONFIG_SUFFIXES]


def serving_section(text: bytes | str, *, source: str) -> ServingPolicy:
    """The serving policy of a deployed config's text; PolicyError naming the field otherwise.

    A config without a `serving` section means the defaults (reject, reject, the deployment's
    capture rate), as training would read it."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{source} is not YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, Mapping):
        raise PolicyError(f"{source} is not a mapping of config fields")
    section = document.get("serving") or {}
    if not isinstance(section, Mapping):
        raise PolicyError(f"{source}: serving must be a mapping")
    chosen: dict[str, str] = {}
    for name in ("out_of_range", "unseen_category"):
        value = section.get(name, "reject")
        if value not in POLICIES:
            raise PolicyError(f"{source}: serving.{name} must be reject or warn; got {value!r}")
        chosen[name] = str(value)
    rate = section.get("capture_sample_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1):
        raise PolicyError(f"{source}: serving.capture_sample_rate must be a number from 0 to 1; got {rate!r}")
    return ServingPolicy(
        InputPolicy(out_of_range=chosen["out_of_range"], unseen_category=chosen["unseen_category"]),  # type: ignore[arg-type]
        float(rate) if rate is not None else None,
        source,
    )


@dataclass
class _Cached:
    policy: ServingPolicy | None  # None: no usable deployed config; the version's own applies
    state: str  # what was found, for logging changes only
    expires: float


@dataclass
class DeployedPolicies:
    """Per container: each dataset's deployed serving policy, re-read at most once per `ttl` seconds.

    `read` returns a config's (key, text), or None when no config is deployed (on AWS a role without
    ListBucket gets AccessDenied for a missing key; the reader counts that as none). A read that
    fails otherwise keeps the last policy read, so a throttled GET does not flip a live policy.
    `on_change` hears (dataset, state, detail) whenever what a dataset resolves to changes."""

    read: Callable[[list[str]], tuple[str, bytes] | None]
    ttl: float = DEFAULT_CONFIG_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[str, str, str], None] = lambda dataset, state, detail: None
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_dataset(self, dataset: str) -> ServingPolicy | None:
        """The deployed policy, or None when the version's own applies."""
        now = self.clock()
        cached = self._cache.get(dataset)
        if cached is not None and cached.expires > now:
            return cached.policy
        with self._lock:
            cached = self._cache.get(dataset)
            if cached is not None and cached.expires > now:
                return cached.policy
            policy, state, detail = self._read(dataset, cached)
            if cached is None or cached.state != state or (cached.policy != policy):
                self.on_change(dataset, state, detail)
            self._cache[dataset] = _Cached(policy, state, now + self.ttl)
            return policy

    def _read(self, dataset: str, cached: _Cached | None) -> tuple[ServingPolicy | None, str, str]:
        try:
            found = self.read(config_keys(dataset))
        except Exception as error:  # S3 unavailable or throttled: keep what was known
            kept = cached.policy if cached is not None else None
            return kept, cached.state if cached is not None else "unreadable", f"{type(error).__name__}: {error}"
        if found is None:
            return None, "none", f"no config deployed for {dataset}: each version's own serving policy applies"
        key, text = found
        try:
            policy = serving_section(text, source=key)
        except PolicyError as error:
            return None, "invalid", f"{error}; each version's own serving policy applies until it is fixed"
        return policy, "deployed", f"{key}: {policy.as_dict()}"


def effective_policy(
    deployed: ServingPolicy | None, version: int, frozen: InputPolicy, frozen_rate: float | None
) -> ServingPolicy:
    """The deployed config's policy, or the version's own when there is none."""
    if deployed is not None:
        return deployed
    return ServingPolicy(frozen, frozen_rate, f"version {version} (its training config)")
