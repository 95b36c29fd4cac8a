"""Ending a canary on its A/B test (issue #19): promote a challenger significantly better than the
champion, end the canary of one significantly worse (the champion stays), each audited with the
figures; report only unless the config's `ab_test.auto_decide` asks for it. Only the A/B's final
test decides, the one at its planned sample size (mlops.monitoring.ab_test): `collecting`,
`insufficient_labels` and `no_difference` (final, but nothing shown: a person decides) change nothing.

The registry's own operations do the change (`set_alias` to champion, which ends the rollout as a
person's promotion does; `remove_alias` of the challenger), guarded by the versions the comparison
was about: if a person promoted, rolled back or replaced the canary since, nothing changes. A second
call after the action finds the canary ended and says so, naming the event that ended it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlops.monitoring.ab_test import ABComparison
from mlops.names import CHALLENGER, CHAMPION
from mlops.registry.errors import RegistryError
from mlops.registry.models import ModelRegistry

PERFORMANCE_CHECK_ACTOR = "performance-check"
RECENT_EVENTS = 20  # audit events read to name what ended a canary already

CanaryAction = Literal["promoted", "rolled_back", "report_only", "no_decision", "already_ended", "aliases_changed"]


@dataclass(frozen=True)
class CanaryDecision:
    """What `end_canary` did, and why (or why nothing)."""

    model: str
    action: CanaryAction
    detail: str
    champion: int | None  # the champion's version after the call (None: not read)
    challenger: int | None  # the challenger's after the call (None: none, or not read)

    @property
    def changed(self) -> bool:
        return self.action in ("promoted", "rolled_back")

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "action": self.action,
            "detail": self.detail,
            "champion": self.champion,
            "challenger": self.challenger,
        }


def end_canary(
    registry: ModelRegistry,
    comparison: ABComparison,
    *,
    auto_decide: bool,
    at: str,
    actor: str = PERFORMANCE_CHECK_ACTOR,
) -> CanaryDecision:
    """Act on a decided comparison when `auto_decide`, if the aliases still are what it compared."""
    model = comparison.model
    champion, challenger = comparison.champion.version, comparison.challenger.version
    if not comparison.decided:
        return CanaryDecision(model, "no_decision", f"no decision: {comparison.reason}", None, None)
    found = "better" if comparison.verdict == "challenger_better" else "worse"
    if not auto_decide:
        detail = f"challenger v{challenger} is significantly {found}; ab_test.auto_decide is off: nothing changed"
        return CanaryDecision(model, "report_only", detail, None, None)
    aliases = registry.aliases(model)
    unchanged = _still_compared(aliases, champion, challenger)
    if unchanged is not True:
        return _not_acting(registry, model, aliases, challenger, unchanged)
    evidence = comparison.as_summary()
    try:
        if comparison.verdict == "challenger_better":
            registry.set_alias(
                model,
                CHAMPION,
                challenger,
                reason=f"A/B test: {comparison.text()}",
                actor=actor,
                at=at,
                expected_version=champion,
                evidence=evidence,
            )
            detail = f"challenger v{challenger} promoted to champion (was v{champion}): {comparison.text()}"
            return CanaryDecision(model, "promoted", detail, challenger, None)
        registry.remove_alias(
            model,
            CHALLENGER,
            reason=f"A/B test, canary rolled back: {comparison.text()}",
            actor=actor,
            at=at,
            expected_version=challenger,
            evidence=evidence,
        )
    except RegistryError as error:
        if error.code != "conflict":
            raise
        # Someone (or a concurrent check) changed an alias between the read and the write.
        aliases = registry.aliases(model)
        return _not_acting(registry, model, aliases, challenger, _still_compared(aliases, champion, challenger))
    detail = f"canary of v{challenger} rolled back; champion v{champion} stays: {comparison.text()}"
    return CanaryDecision(model, "rolled_back", detail, champion, None)


def _version(aliases: Mapping[str, Mapping[str, Any]], alias: str) -> int | None:
    item = aliases.get(alias)
    return int(item["version"]) if item else None


def _still_compared(aliases: Mapping[str, Mapping[str, Any]], champion: int, challenger: int) -> bool | str:
    """True when the champion and the canary are the versions compared; else what changed."""
    now_champion, now_challenger = _version(aliases, CHAMPION), _version(aliases, CHALLENGER)
    if now_challenger != challenger:
        held = f"v{now_challenger}" if now_challenger is not None else "no version"
        return f"the challenger alias names {held}, not the compared v{challenger}"
    mode = (aliases[CHALLENGER].get("rollout") or {}).get("mode")
    if mode != "canary":
        return f"challenger v{challenger} is no canary now (rollout {mode or 'none'})"
    if now_champion != champion:
        return f"the champion is v{now_champion}, not the compared v{champion}"
    return True


def _not_acting(
    registry: ModelRegistry,
    model: str,
    aliases: Mapping[str, Mapping[str, Any]],
    challenger: int,
    what_changed: bool | str,
) -> CanaryDecision:
    """Nothing to do: the canary ended already (this check's earlier call, or a person), or the
    aliases moved on to something this comparison was not about."""
    now_champion, now_challenger = _version(aliases, CHAMPION), _version(aliases, CHALLENGER)
    if now_challenger is None:
        ended = _ending_event(registry, model, challenger, promoted=now_champion == challenger)
        how = f" ({ended})" if ended else ""
        state = (
            f"v{challenger} is champion"
            if now_champion == challenger
            else f"v{now_champion} is champion"
            if now_champion is not None
            else "there is no champion"
        )
        return CanaryDecision(
            model,
            "already_ended",
            f"the canary of v{challenger} has ended already{how}; {state}; nothing changed",
            now_champion,
            None,
        )
    return CanaryDecision(
        model, "aliases_changed", f"{what_changed} since the comparison; nothing changed", now_champion, now_challenger
    )


def _ending_event(registry: ModelRegistry, model: str, challenger: int, *, promoted: bool) -> str | None:
    """The newest audit event that ended the canary of `challenger` (its promotion to champion, or
    the challenger alias's removal): who did it, and when."""
    for event in registry.audit(model, limit=RECENT_EVENTS):
        action = event.get("action")
        if (
            promoted
            and action == f"set_alias:{CHAMPION}"
            and _int((event.get("after") or {}).get("version")) == challenger
        ):
            return f"promoted to champion by {event.get('actor')} at {event.get('at')}"
        if (
            not promoted
            and action == f"remove_alias:{CHALLENGER}"
            and _int((event.get("before") or {}).get("version")) == challenger
        ):
            return f"ended by {event.get('actor')} at {event.get('at')}"
    return None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None
