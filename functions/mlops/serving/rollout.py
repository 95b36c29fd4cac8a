"""Which version answers a request: the champion, or the challenger for a canary's share.

A request key (a customer or session id the client sends) makes the choice sticky: the same key
always lands on the same side for a given weight. Without one the choice is random per request.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from mlops.names import CHALLENGER, CHAMPION
from mlops.serving.models import Rollout, ServedVersion

# The variant a request was answered by is named after the alias that serves it.
CHAMPION_VARIANT = CHAMPION
CHALLENGER_VARIANT = CHALLENGER
SHADOW_VARIANT = "shadow"


@dataclass(frozen=True)
class Assignment:
    answering: ServedVersion
    variant: str  # champion or challenger: who answered
    shadow: ServedVersion | None = None  # scored too, never answers


def key_share(key: str) -> float:
    """A stable number in [0, 1) for a request key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(rollout: Rollout, request_key: str | None, rng: random.Random | None = None) -> Assignment:
    challenger = rollout.challenger
    if challenger is None:
        return Assignment(rollout.champion, CHAMPION_VARIANT)
    if rollout.mode == "shadow":
        return Assignment(rollout.champion, CHAMPION_VARIANT, shadow=challenger)
    draw = key_share(request_key) if request_key else (rng or random).random()
    if draw < rollout.weight:
        return Assignment(challenger, CHALLENGER_VARIANT)
    return Assignment(rollout.champion, CHAMPION_VARIANT)
