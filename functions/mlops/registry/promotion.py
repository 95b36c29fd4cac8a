"""The rules of promotion, rollout and rollback, apart from the table: which alias changes are valid,
what a challenger's rollout may be, what an alias remembers for rollback, when promoting ends a
rollout, which status changes a version allows, and what a refused change tells the caller.

Pure functions of the records already read: `ModelRegistry` (mlops.registry.models) reads, asks these
rules, and writes; the rules are tested without DynamoDB (tests/unit/registry/test_promotion.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlops.names import CHAMPION
from mlops.registry.errors import RegistryError

VERSION_STATUSES = ("registered", "pending_approval", "rejected", "archived")
SERVABLE_STATUSES = ("registered",)
ALIAS_HISTORY = 20  # versions an alias remembers for rollback
ROLLOUT_MODES = ("canary", "shadow")
WEIGHT_STEP = Decimal("0.000001")


def check_status(status: Any) -> None:
    """A version status a caller names (registering, listing) must be one the registry knows."""
    if status not in VERSION_STATUSES:
        raise RegistryError("invalid", f"status must be one of {', '.join(VERSION_STATUSES)}; got {status!r}")


# -- aliases -------------------------------------------------------------------------------------
def check_servable(name: str, version: int, status: str, alias: str) -> None:
    """An alias names only a version that may answer requests: never a rejected or unapproved one."""
    if status not in SERVABLE_STATUSES:
        raise RegistryError("conflict", f"{name} version {version} is {status}: it cannot be {alias}")


def checked_rollout(alias: str, rollout: Mapping[str, Any]) -> dict[str, Any]:
    """A checked rollout for a non-champion alias: canary answers `weight` of the requests,
    shadow is scored on every request while the champion answers."""
    if alias == CHAMPION:
        raise RegistryError("invalid", "rollout applies to a challenger alias, not to the champion")
    mode = rollout.get("mode")
    if mode not in ROLLOUT_MODES:
        raise RegistryError("invalid", f"rollout.mode must be one of {', '.join(ROLLOUT_MODES)}; got {mode!r}")
    weight = rollout.get("weight", 0 if mode == "shadow" else None)
    if isinstance(weight, bool) or not isinstance(weight, int | float | Decimal) or not 0 <= weight <= 1:
        raise RegistryError("invalid", f"rollout.weight must be a number from 0 to 1; got {weight!r}")
    if mode == "shadow" and weight:
        raise RegistryError("invalid", "a shadow answers no requests: leave rollout.weight out (or 0)")
    # A share to a millionth: DynamoDB's numbers stop at 38 digits and 1e-130, and a float past them
    # (1e-200) would fail the write rather than round.
    return {"mode": mode, "weight": Decimal(str(weight)).quantize(WEIGHT_STEP).normalize()}


def held_version(alias_item: Mapping[str, Any] | None) -> int | None:
    """The version an alias item names (None: no such alias)."""
    return int(alias_item["version"]) if alias_item else None


def is_repeat(current: Mapping[str, Any] | None, version: int, rollout: Mapping[str, Any] | None) -> bool:
    """The alias already names `version` with this rollout: a retried request, so no write and no
    second audit event."""
    return held_version(current) == version and (current or {}).get("rollout") == rollout


def check_expected(name: str, alias: str, before: int | None, expected_version: int | str | None) -> None:
    """A caller that read the alias first names what it read (`expected_version`; None: no alias,
    "any": no guard): a change in between refuses the promotion instead of overwriting it."""
    if expected_version not in ("any", before):
        raise RegistryError(
            "conflict",
            f"{alias} of {name} is version {before}, not {expected_version}: it changed meanwhile; nothing was changed",
        )


def next_history(current: Mapping[str, Any] | None, version: int, *, rolling_back: bool) -> list[int]:
    """The versions the alias held before, oldest first, once it names `version`: a rollback steps
    back through them, so a second rollback goes further back instead of returning to the version
    just rolled back. A rollout change on the same version keeps the history as it is."""
    history = [int(v) for v in (current or {}).get("history", [])]
    before = held_version(current)
    if before == version:
        return history
    if rolling_back:
        return history[:-1]
    if before is not None:
        return [*history, before][-ALIAS_HISTORY:]
    return history


def alias_state(version: int | None, rollout: Mapping[str, Any] | None) -> dict[str, Any]:
    """An alias as its audit events show it before and after a change."""
    return {"version": version, **({"rollout": rollout} if rollout else {})}


def ends_rollout(alias: str, version: int, challenger: Mapping[str, Any] | None) -> bool:
    """Promoting the challenger's version to champion ends its canary or shadow: the challenger alias
    goes with the promotion, or it would keep answering its share after a later rollback of the
    champion. A challenger on another version is a different rollout and stays."""
    return alias == CHAMPION and held_version(challenger) == version


def rollback_target(name: str, alias: str, current: Mapping[str, Any], expected_version: int | None) -> int:
    """The version a rollback points the alias back at: the one it held before.

    A rollback is not idempotent (each steps one further back), so a caller that may retry names
    the version it is rolling back from as `expected_version`: if the alias no longer holds it (the
    first attempt went through, or someone else moved it), the conflict names the version it holds."""
    held = int(current["version"])
    if expected_version is not None and held != expected_version:
        raise RegistryError(
            "conflict",
            f"{alias} of {name} is version {held}, not {expected_version}: it was already "
            "rolled back or moved since; nothing was changed",
        )
    history = [int(v) for v in current.get("history", [])]
    if not history:
        raise RegistryError("conflict", f"{name}'s {alias} (version {current['version']}) replaced no earlier version")
    return history[-1]


def status_conflict(name: str, alias: str, version: int, status: str) -> str:
    """A promotion whose version changed status between the read and the write."""
    return f"{name} version {version} became {status} while promoting it to {alias}; nothing was changed"


def alias_conflict(name: str, alias: str, version: int, before: int | None, now: int | None) -> str:
    """A promotion whose alias another change moved between the read and the write: what it holds now."""
    held = f"version {now}" if now is not None else "no version"
    was = f"version {before}" if before is not None else "unset"
    return (
        f"{alias} of {name} changed while promoting version {version}: it now holds {held} (it was {was} "
        "when this request read it); nothing was changed, read it again and retry"
    )


# -- version status ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusChange:
    """A person's decision on a version: the status it leads to, from the statuses it allows."""

    action: str
    to: str
    allowed_from: tuple[str, ...]

    def check(self, name: str, version: int, status: str) -> None:
        if status not in self.allowed_from:
            raise RegistryError(
                "conflict",
                f"{name} version {version} is {status}; {self.action} needs {' or '.join(self.allowed_from)}",
            )


APPROVE = StatusChange("approve", to="registered", allowed_from=("pending_approval",))
ARCHIVE = StatusChange("archive", to="archived", allowed_from=("registered", "pending_approval", "rejected"))


def check_archivable(name: str, version: int, aliases: Mapping[str, Mapping[str, Any]]) -> None:
    """A version an alias names is serving (or about to): the alias moves first, then it is archived."""
    holding = [a for a, item in aliases.items() if int(item["version"]) == version]
    if holding:
        raise RegistryError("conflict", f"{name} version {version} is {', '.join(holding)}: move the alias first")
