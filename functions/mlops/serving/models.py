"""Which versions answer for a model, loaded once per container and re-resolved on a short cache.

Aliases are read from the registry at most once per `alias_ttl` seconds per model, so a promotion or
rollback applies without a redeploy. Each version's ONNX is fetched once, checked against the hash
the registry holds, and kept. When a newly named version cannot be loaded, the last good version of
that alias keeps answering and the failure is reported (an alarm watches it); with no good version
the request fails loudly: never a wrong model silently.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from mlops.names import CHALLENGER, CHAMPION, EXPLANATION_FILE, MODEL_FILE
from mlops.registry.versions import ModelVersion
from mlops.serving.inputs import InputPolicy, NumberColumns, RequestError, number_columns
from mlops.serving.policy import ServingPolicy, effective_policy
from mlops.serving.prediction_keys import KeyPolicy, key_policy
from mlops.serving.session import inference_session
from mlops.serving.signature import ServedSignature, SignatureError

if TYPE_CHECKING:
    from mlops.serving.explain import Explainer


class ArtifactError(Exception):
    """A version's artifacts are missing, corrupted or unloadable."""


class AliasSource(Protocol):
    def aliases(self, name: str) -> dict[str, dict[str, Any]]: ...

    def model_version(self, name: str, version: int) -> ModelVersion | None: ...


@dataclass(frozen=True)
class Prediction:
    predictions: list[Any]
    probabilities: NDArray[np.float32] | None  # classifiers: rows x classes, in `classes` order


@dataclass
class ExplanationSource:
    """Where a version's explanation artifact is, read and checked against its registered sha256 on
    the first request that asks for contributions: a container that never explains never fetches it
    (the cold start stays what #21 made it)."""

    key: str
    sha256: str | None
    read: Callable[[str], bytes]
    loaded: Explainer | None = None

    def explainer(self, model: str, version: int) -> Explainer:
        """The loaded artifact; RequestError 503 when it cannot be read or is not the registered one."""
        if self.loaded is not None:
            return self.loaded
        from mlops.serving.explain import Explainer, ExplanationError  # only a container that explains loads it

        unavailable = f"{model} v{version}: its explanation artifact cannot be used"
        try:
            data = self.read(self.key)
        except Exception as error:
            raise RequestError(503, "explanation_unavailable", f"{unavailable}: {type(error).__name__}") from error
        digest = hashlib.sha256(data).hexdigest()
        if self.sha256 is None or digest != self.sha256:
            registered = self.sha256[:12] if self.sha256 else "none"
            raise RequestError(
                503, "explanation_unavailable", f"{unavailable}: sha256 {digest[:12]}…, registered {registered}"
            )
        try:
            self.loaded = Explainer.from_bytes(data)
        except ExplanationError as error:
            raise RequestError(503, "explanation_unavailable", f"{unavailable}: {error}") from error
        return self.loaded


@dataclass
class ServedVersion:
    model: str
    version: int
    signature: ServedSignature
    session: ort.InferenceSession
    policy: InputPolicy
    capture_sample_rate: float | None
    onnx_sha256: str
    # The config's `monitoring` section as stored with the version: whether it takes labels (#19).
    monitoring: Mapping[str, Any] | None = None
    estimator: str | None = None  # what was trained (`explain` names it when it has no explanation)
    explanation: ExplanationSource | None = None  # None: a version registered without one

    @cached_property
    def number_columns(self) -> NumberColumns:
        """How its requests' number fields are encoded together, worked out once per loaded version."""
        return number_columns(self.signature)

    @cached_property
    def own_policy(self) -> ServingPolicy:
        """The policy the version was trained with, once per loaded version rather than per request."""
        return effective_policy(None, self.version, self.policy, self.capture_sample_rate)

    @cached_property
    def key_policy(self) -> KeyPolicy | None:
        """How labels name this version's predictions (its `monitoring.performance`), or None."""
        return key_policy(self.monitoring)

    def predict(self, matrix: NDArray[np.float32]) -> Prediction:
        outputs = self.session.run(None, {self.signature.input_name: matrix})
        if self.signature.classes is not None:
            classes = self.signature.classes
            labels = [classes[int(i)] for i in np.asarray(outputs[0]).reshape(-1)]
            return Prediction(labels, np.asarray(outputs[1], dtype=np.float32))
        return Prediction(np.asarray(outputs[0], dtype=np.float64).reshape(-1).tolist(), None)


def load_version(model: str, record: ModelVersion, read: Callable[[str], bytes]) -> ServedVersion:
    """Fetch, verify and open one registered version; ArtifactError names what is wrong."""
    version = record.version
    onnx = record.artifacts.get(MODEL_FILE)
    onnx_key = onnx.get("key") if isinstance(onnx, Mapping) else None
    expected, signature_key = record.onnx_sha256, record.signature_key
    if onnx_key is None or expected is None or signature_key is None:
        named = {"artifacts.model.onnx.key": onnx_key, "onnx_sha256": expected, "signature_key": signature_key}
        missing = ", ".join(name for name, value in named.items() if value is None)
        raise ArtifactError(f"{model} v{version}: the registry record names no model artifact (no {missing})")
    try:
        onnx_bytes = read(onnx_key)
        signature_document = json.loads(read(signature_key))
    except Exception as error:
        raise ArtifactError(
            f"{model} v{version}: cannot read its artifacts: {type(error).__name__}: {error}"
        ) from error
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    if digest != expected:
        raise ArtifactError(f"{model} v{version}: {onnx_key} has sha256 {digest[:12]}…, registered {expected[:12]}…")
    try:
        signature = ServedSignature.from_json(signature_document)
        session = inference_session(onnx_bytes)
    except (SignatureError, Exception) as error:
        raise ArtifactError(f"{model} v{version}: cannot load: {type(error).__name__}: {error}") from error
    serving = record.serving
    rate = serving.get("capture_sample_rate")
    explained = record.artifacts.get(EXPLANATION_FILE)
    explained_key = explained.get("key") if isinstance(explained, Mapping) else None
    digest_of_explanation = explained.get("sha256") if isinstance(explained, Mapping) else None
    return ServedVersion(
        model=model,
        version=version,
        signature=signature,
        session=session,
        policy=InputPolicy.from_record(serving),
        capture_sample_rate=float(rate) if rate is not None else None,
        onnx_sha256=digest,
        monitoring=record.monitoring,
        estimator=record.estimator,
        explanation=ExplanationSource(str(explained_key), digest_of_explanation, read) if explained_key else None,
    )


@dataclass(frozen=True)
class Rollout:
    """Who answers a model's requests right now."""

    champion: ServedVersion
    challenger: ServedVersion | None = None
    mode: str | None = None  # "canary" or "shadow" when there is a challenger
    weight: float = 0.0


@dataclass
class _Resolved:
    rollout: Rollout
    expires: float


@dataclass
class LoadFailure:
    model: str
    alias: str
    version: int
    reason: str
    serving_version: int | None  # the last good version still answering, if any


@dataclass
class ServedModels:
    """The per-container cache of aliases and loaded versions."""

    registry: AliasSource
    read_artifact: Callable[[str], bytes]
    alias_ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    on_load_failure: Callable[[LoadFailure], None] = lambda failure: None
    _resolved: dict[str, _Resolved] = field(default_factory=dict)
    _versions: dict[tuple[str, int], ServedVersion] = field(default_factory=dict)
    _broken: dict[tuple[str, int], tuple[str, float]] = field(default_factory=dict)
    _last_good: dict[tuple[str, str], ServedVersion] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rollout(self, model: str) -> Rollout:
        """The versions answering for `model`; RequestError 404 / 503 when there are none."""
        now = self.clock()
        cached = self._resolved.get(model)
        if cached is not None and cached.expires > now:
            return cached.rollout
        with self._lock:
            cached = self._resolved.get(model)
            if cached is not None and cached.expires > now:
                return cached.rollout
            rollout = self._resolve(model, now)
            self._resolved[model] = _Resolved(rollout, now + self.alias_ttl)
            self._evict(model)
            return rollout

    def _evict(self, model: str) -> None:
        """Forget versions no alias of `model` serves any more (a container may see many promotions)."""
        kept = {v.version for (m, _), v in self._last_good.items() if m == model}
        resolved = self._resolved[model].rollout
        kept |= {resolved.champion.version} | ({resolved.challenger.version} if resolved.challenger else set())
        for key in [k for k in self._versions if k[0] == model and k[1] not in kept]:
            del self._versions[key]

    def _resolve(self, model: str, now: float) -> Rollout:
        aliases = self.registry.aliases(model)
        champion_alias = aliases.get(CHAMPION)
        if champion_alias is None:
            if self.registry.model_version(model, 1) is None:
                raise RequestError(404, "not_found", f"no model named {model!r}")
            raise RequestError(404, "no_champion", f"{model} has no champion yet: promote a version first")
        champion = self._alias_version(model, CHAMPION, int(champion_alias["version"]), now)
        if champion is None:
            raise RequestError(
                503,
                "model_unavailable",
                f"{model}: the champion's artifacts cannot be loaded and no earlier version is",
            )
        challenger_alias = aliases.get(CHALLENGER)
        rollout = challenger_alias.get("rollout") if challenger_alias else None
        if challenger_alias is None or not rollout:
            return Rollout(champion)
        challenger = self._alias_version(model, CHALLENGER, int(challenger_alias["version"]), now)
        if challenger is None or challenger.version == champion.version:
            return Rollout(champion)
        return Rollout(champion, challenger, str(rollout.get("mode")), float(rollout.get("weight") or 0))

    def _alias_version(self, model: str, alias: str, version: int, now: float) -> ServedVersion | None:
        key = (model, version)
        loaded = self._versions.get(key)
        if loaded is None:
            loaded = self._load(model, alias, version, now)
        if loaded is not None:
            self._last_good[(model, alias)] = loaded
            return loaded
        return self._last_good.get((model, alias))

    def _load(self, model: str, alias: str, version: int, now: float) -> ServedVersion | None:
        key = (model, version)
        broken = self._broken.get(key)
        if broken is not None and broken[1] > now:
            return None  # failed recently: not retried on every request, only after the alias TTL
        try:
            record = self.registry.model_version(model, version)
            if record is None:
                raise ArtifactError(f"{model} v{version}: the alias names a version the registry does not have")
            loaded = load_version(model, record, self.read_artifact)
        except ArtifactError as error:
            self._broken[key] = (str(error), now + self.alias_ttl)
            last = self._last_good.get((model, alias))
            self.on_load_failure(LoadFailure(model, alias, version, str(error), last.version if last else None))
            return None
        self._broken.pop(key, None)
        self._versions[key] = loaded
        return loaded
