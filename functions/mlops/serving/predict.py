"""A prediction request answered, and a model's inputs described, as the predict API does it.

The rollout picks who answers (the champion, or a canary's challenger by request key), the serving
policy checks and encodes the rows, a shadow challenger scores the same rows on the side, and a
sample of rows is captured for drift checks, refused requests included. No AWS here: the predict
function builds the model set, the deployed policies and the capture buffer once per container and
passes them in; it turns what `answer` returns into metrics. numpy and the serving core only: the
predict layer has no pydantic, pandas or scikit-learn.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mlops.names import CHALLENGER, CHAMPION
from mlops.serving.capture import CaptureBuffer, RequestKeys
from mlops.serving.inputs import MAX_ROWS, Problem, RequestError, encode_request, request_rows
from mlops.serving.models import Prediction, ServedModels, ServedVersion
from mlops.serving.policy import DeployedPolicies, ServingPolicy
from mlops.serving.prediction_keys import MAX_KEY_LENGTH, KeyPolicy, recordable
from mlops.serving.rollout import SHADOW_VARIANT, assign

if TYPE_CHECKING:
    from mlops.serving.explain import Explainer

MAX_WARNINGS = 100  # listed in one answer


@dataclass
class Serving:
    """What a predict container keeps between requests."""

    models: ServedModels
    policies: DeployedPolicies
    capture: CaptureBuffer
    rng: random.Random = field(default_factory=random.Random)

    def policy(self, served: ServedVersion) -> ServingPolicy:
        """The model's deployed serving policy, or the one the version was trained with."""
        deployed = self.policies.for_model(served.model)
        return deployed if deployed is not None else served.own_policy


@dataclass(frozen=True)
class ShadowScore:
    """How the shadow did on a request's rows: its failures are counted, never the caller's problem."""

    served: ServedVersion
    rows: int = 0
    latency_ms: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Answer:
    """The body the client reads, and what the function counts about it."""

    body: dict[str, Any]
    served: ServedVersion
    variant: str
    rows: int
    latency_ms: float  # from `started` to the answer, before capture and shadow
    warnings: int
    shadow: ShadowScore | None = None


def answer(
    serving: Serving, model: str, body: Any, *, request_id: str, key_header: str | None, started: float
) -> Answer:
    """Answer `body` (parsed JSON) for `model`; RequestError says what the client must change.

    A request the serving policy refuses is captured (when sampled) before the error is raised, so
    drift checks see refused traffic too. `started` is the request's perf_counter time."""
    rows = request_rows(body, model=model)
    explain = _explain_asked(body, len(rows))
    rollout = serving.models.rollout(model)
    request_key = key_header or body.get("request_key")
    assignment = assign(rollout, str(request_key) if request_key is not None else None, serving.rng)
    served = assignment.answering
    policy = serving.policy(served)
    explainer = _explainer(served) if explain else None
    capture = serving.capture
    # Labels may name these rows by the request's key or their id field (the champion's config says).
    keys_policy = rollout.champion.key_policy
    recorded_key = recordable(request_key) if keys_policy and request_key is not None else None
    if key_header is not None and not key_header.isascii():
        recorded_key = None  # HTTP carries header bytes, not text: which characters they were is a guess
    keys = RequestKeys(keys_policy, recorded_key)
    key_warning = _unrecorded_key(request_key, key_header) if keys_policy and recorded_key is None else None
    if keys_policy is not None and keys_policy.id_field is not None:
        rows, ids = _split_ids(rows, keys_policy, served.signature.field_names)
        keys = RequestKeys(keys_policy, keys.request_key, ids)
    try:
        encoded = encode_request(rows, served.signature, policy.inputs, served.number_columns)
    except RequestError as error:
        if error.refused is not None and (keys_policy is not None or capture.sampled(policy.capture_sample_rate)):
            capture.add_refused(
                model=model,
                version=served.version,
                fields=served.signature.field_kinds,
                classes=served.signature.classes,
                values=error.refused.values,
                refusals=error.refused.refusals,
                variant=assignment.variant,
                request_id=request_id,
                keys=_kept(keys, error.refused.kept),
            )
        raise
    prediction = served.predict(encoded.matrix)
    answered: dict[str, Any] = {
        "model": model,
        "version": served.version,
        "variant": assignment.variant,
        "predictions": prediction.predictions,
    }
    if prediction.probabilities is not None:
        answered["classes"] = list(served.signature.classes or ())
        answered["probabilities"] = _probabilities(prediction.probabilities)
    if explainer is not None:
        answered["explanation"] = _explanation(explainer, served, encoded.matrix, prediction)
    warnings = encoded.warnings if key_warning is None else [key_warning, *encoded.warnings]
    if warnings:
        answered["warnings"] = [w.as_dict() for w in warnings[:MAX_WARNINGS]]
    answered["request_id"] = request_id
    latency_ms = (time.perf_counter() - started) * 1000
    # A model whose labels are joined captures every request, whichever version answers and whatever
    # rate a deployed config or a challenger's own config says: a label (by id or by key) can only
    # name a captured prediction, and a key must never resolve to an older one for want of a sample.
    sampled = keys_policy is not None or capture.sampled(policy.capture_sample_rate)
    if sampled:
        capture.add(
            model=model,
            version=served.version,
            fields=served.signature.field_kinds,
            classes=served.signature.classes,
            values=encoded.values,
            predictions=prediction.predictions,
            probabilities=prediction.probabilities,
            variant=assignment.variant,
            request_id=request_id,
            keys=keys,
        )
    # The shadow's rows are captured beside the answer's when the request was.
    shadow = (
        _shadow(serving, assignment.shadow, rows, request_id if sampled else None)
        if assignment.shadow is not None
        else None
    )
    return Answer(answered, served, assignment.variant, encoded.rows, latency_ms, len(warnings), shadow)


def _explain_asked(body: Mapping[str, Any], rows: int) -> bool:
    """Whether the request asks for contributions; a 400 naming `explain` when it is not a boolean or
    asks for more rows than MAX_EXPLAIN_ROWS (explaining costs per row, predicting hardly does)."""
    explain = body.get("explain", False)
    if explain is not True and explain is not False:
        message = '"explain" must be true or false'
        raise RequestError(400, "invalid_body", message, [Problem("invalid_explain", message, None, "explain")])
    if explain is False:
        return False
    from mlops.serving.explain import MAX_EXPLAIN_ROWS  # off the cold start: most containers never explain

    if rows > MAX_EXPLAIN_ROWS:
        message = f'"explain": true takes at most {MAX_EXPLAIN_ROWS} rows per request, this one has {rows}'
        raise RequestError(400, "invalid_body", message, [Problem("explain_too_many_rows", message, None, "explain")])
    return True


def _explainer(served: ServedVersion) -> Explainer:
    """The answering version's explanation; a 400 naming the estimator when it has none (a version
    registered before explanations existed, or an estimator with no explanation here)."""
    if served.explanation is None:
        estimator = served.estimator or "unknown estimator"
        message = (
            f"{served.model} v{served.version} ({estimator}) has no explanation: contributions are computed for "
            "linear models and tree ensembles, alone or after one StandardScaler, registered since explanations "
            "exist; an imported ONNX file and other pipelines have none"
        )
        raise RequestError(
            400, "explain_unsupported", message, [Problem("explain_unsupported", message, None, "explain")]
        )
    return served.explanation.explainer(served.model, served.version)


def _explanation(
    explainer: Explainer, served: ServedVersion, matrix: NDArray[np.float32], prediction: Prediction
) -> dict[str, Any]:
    """Per row: the score explained, its base and each input field's contribution (base + the
    contributions = score). A classifier's row names the class whose score it explains."""
    from mlops.serving.explain import TOLERANCE

    classes = served.signature.classes
    position = {label: i for i, label in enumerate(classes)} if classes is not None else {}
    given = [position[label] for label in prediction.predictions] if classes is not None else None
    explained = explainer.explain(matrix, given)
    scores, bases, contributions = explained.scores.tolist(), explained.base.tolist(), explained.contributions.tolist()
    names = explainer.inputs
    out_classes = explainer.output_classes.tolist()
    rows: list[dict[str, Any]] = []
    for i, output in enumerate(explained.outputs.tolist()):
        row: dict[str, Any] = {}
        if classes is not None:
            row["class"] = classes[out_classes[output]]
        row.update(score=scores[i], base=bases[i], contributions=dict(zip(names, contributions[i], strict=True)))
        rows.append(row)
    return {"method": explained.method, "score": explainer.score, "tolerance": TOLERANCE, "rows": rows}


def _split_ids(
    rows: list[Mapping[str, Any]], policy: KeyPolicy, inputs: frozenset[str] | set[str]
) -> tuple[list[Mapping[str, Any]], list[str | None]]:
    """Each row's id (the field `monitoring.performance.id_field` names), and the rows without it when
    it is not an input of the model; a row may leave it out or send null. An id that is neither text
    nor a whole number, or longer than MAX_KEY_LENGTH, is the client's bug: 400 naming row and field."""
    field = policy.id_field
    assert field is not None
    ids: list[str | None] = []
    problems: list[Problem] = []
    for i, row in enumerate(rows):
        value = row.get(field)
        recorded = recordable(value) if value is not None else None
        if value is not None and recorded is None:
            problems.append(
                Problem(
                    "invalid_id",
                    f"{field!r} is the id labels name this row by (monitoring.performance.id_field): it must be text "
                    f"of 1 to {MAX_KEY_LENGTH} characters or a whole number, or null",
                    i,
                    field,
                )
            )
        ids.append(recorded)
    if problems:
        raise RequestError(400, "invalid_input", f"{len(problems)} rows have an id labels cannot name", problems)
    if field in inputs:
        return rows, ids
    return [{name: v for name, v in row.items() if name != field} for row in rows], ids


def _unrecorded_key(request_key: Any, key_header: str | None) -> Problem | None:
    """Why labels cannot name this request by its key (it still picks the canary side); None: no key."""
    if request_key is None:
        return None
    field = "x-request-key" if key_header is not None else "request_key"
    if key_header is not None and not key_header.isascii():
        why = "holds characters outside ASCII, which an HTTP header cannot carry as text: send the key as the body's "
        why += '"request_key" instead'
    else:
        why = f"is not text of 1 to {MAX_KEY_LENGTH} characters"
    return Problem(
        "request_key_not_recorded",
        f"{field} {why}; labels cannot name this prediction by it (its request_id can)",
        None,
        field,
    )


def _kept(keys: RequestKeys, kept: list[int] | None) -> RequestKeys:
    """A refused request's keys for the rows it captures (its malformed rows are not captured)."""
    if keys.ids is None or kept is None:
        return keys
    return RequestKeys(keys.policy, keys.request_key, [keys.ids[i] for i in kept])


def _probabilities(probabilities: NDArray[np.float32]) -> list[list[float]]:
    """onnxruntime's float32 as short decimals: 6.1e-05, not the float64 expansion 6.0999998822808266e-05.

    Rounded in float64 to 7 places, below float32's spacing near 1 (6e-8), so no value a client compares
    with a threshold changes; vectorized (0.1 ms for 1,000 rows x 3 classes, where a shortest float32
    repr per value costs 4 ms). Probabilities under 5e-8 read as 0.
    """
    return probabilities.astype(np.float64).round(7).tolist()  # type: ignore[no-any-return]


def _shadow(
    serving: Serving, shadow: ServedVersion, rows: list[Mapping[str, Any]], request_id: str | None
) -> ShadowScore:
    """Score the shadow on the same rows, captured beside the answer when the request was (`request_id`)."""
    started = time.perf_counter()
    try:
        encoded = encode_request(rows, shadow.signature, serving.policy(shadow).inputs, shadow.number_columns)
        prediction = shadow.predict(encoded.matrix)
    except Exception as error:
        return ShadowScore(shadow, error=str(error))
    score = ShadowScore(shadow, encoded.rows, (time.perf_counter() - started) * 1000)
    if request_id is not None:
        serving.capture.add(
            model=shadow.model,
            version=shadow.version,
            fields=shadow.signature.field_kinds,
            classes=shadow.signature.classes,
            values=encoded.values,
            predictions=prediction.predictions,
            probabilities=prediction.probabilities,
            variant=SHADOW_VARIANT,
            request_id=request_id,
        )
    return score


def describe(serving: Serving, model: str, request_key: str | None) -> dict[str, Any]:
    """What a client sends `model`: the champion's inputs, every version that answers now with its
    own, which one a request key reaches, the row limit and the serving policy."""
    rollout = serving.models.rollout(model)
    champion = rollout.champion
    described: dict[str, Any] = {"model": model, "version": champion.version, **champion.signature.describe()}
    # Every version that answers requests now, with its own inputs: during a canary a client may
    # reach either (the registry refuses a rollout between versions that differ, unless told).
    canary = rollout.challenger is not None and rollout.mode == "canary"
    champion_share = 1.0 - rollout.weight if canary else 1.0
    described["versions"] = [
        {"version": champion.version, "alias": CHAMPION, "share": champion_share, **champion.signature.describe()}
    ]
    if rollout.challenger is not None:
        described[CHALLENGER] = {
            "version": rollout.challenger.version,
            "mode": rollout.mode,
            "weight": rollout.weight,
        }
        described["versions"].append(
            {
                "version": rollout.challenger.version,
                "alias": CHALLENGER,
                "mode": rollout.mode,
                "share": rollout.weight if canary else 0.0,  # a shadow scores every request, answers none
                **rollout.challenger.signature.describe(),
            }
        )
    if request_key:  # canary assignment is sticky by key: this is the version that key's requests reach
        described["request_key"] = {"key": request_key, "answered_by": assign(rollout, request_key).answering.version}
    described["limits"] = {"max_rows": MAX_ROWS}
    keys = champion.key_policy
    if keys is not None:  # it takes labels (POST .../feedback), naming predictions by these
        described["labels"] = {
            "by": ["request_id", "request_key"] + (["id"] if keys.id_field else []),
            "id_field": keys.id_field,
            "horizon_days": keys.horizon.total_seconds() / 86400,
        }
    policy = serving.policy(champion)
    described["policy"] = {
        "out_of_range": policy.inputs.out_of_range,
        "unseen_category": policy.inputs.unseen_category,
        "source": policy.source,
    }
    return described
