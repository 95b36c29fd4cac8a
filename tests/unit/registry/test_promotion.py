"""The rules of promotion, rollout and rollback as pure functions: no table, no moto. The same rules
applied through the table (races, transactions, audit events) are in test_models.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mlops.registry.errors import RegistryError
from mlops.registry.promotion import (
    ALIAS_HISTORY,
    APPROVE,
    ARCHIVE,
    alias_conflict,
    alias_state,
    check_archivable,
    check_expected,
    check_servable,
    check_status,
    checked_rollout,
    ends_rollout,
    is_repeat,
    next_history,
    rollback_target,
    status_conflict,
)


def _alias(version: int, *history: int, rollout: dict[str, Any] | None = None) -> dict[str, Any]:
    """An alias item as the table returns it (numbers as Decimal)."""
    item: dict[str, Any] = {"alias": "champion", "version": Decimal(version), "history": [Decimal(v) for v in history]}
    if rollout is not None:
        item["rollout"] = rollout
    return item


# -- statuses ------------------------------------------------------------------------------------
def test_only_known_statuses_are_accepted() -> None:
    for status in ("registered", "pending_approval", "rejected", "archived"):
        check_status(status)
    with pytest.raises(RegistryError, match="status must be one of registered, pending_approval") as caught:
        check_status("live")
    assert caught.value.code == "invalid"


def test_only_a_registered_version_may_take_an_alias() -> None:
    check_servable("m", 1, "registered", "champion")
    for status in ("pending_approval", "rejected", "archived"):
        with pytest.raises(RegistryError, match=f"m version 2 is {status}: it cannot be challenger") as caught:
            check_servable("m", 2, status, "challenger")
        assert caught.value.code == "conflict"


def test_approval_and_archiving_allow_only_their_own_starting_statuses() -> None:
    APPROVE.check("m", 2, "pending_approval")
    with pytest.raises(RegistryError, match="m version 1 is registered; approve needs pending_approval") as caught:
        APPROVE.check("m", 1, "registered")
    assert caught.value.code == "conflict" and APPROVE.to == "registered"
    for status in ("registered", "pending_approval", "rejected"):
        ARCHIVE.check("m", 1, status)
    with pytest.raises(RegistryError, match="archive needs registered or pending_approval or rejected"):
        ARCHIVE.check("m", 1, "archived")


def test_a_version_an_alias_names_is_not_archived() -> None:
    aliases = {"champion": {"version": Decimal(2)}, "challenger": {"version": Decimal(3)}}
    check_archivable("m", 1, aliases)
    with pytest.raises(RegistryError, match="m version 2 is champion: move the alias first") as caught:
        check_archivable("m", 2, aliases)
    assert caught.value.code == "conflict"


# -- rollouts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("alias", "rollout", "message"),
    [
        ("champion", {"mode": "canary", "weight": 0.5}, "not to the champion"),
        ("challenger", {"mode": "blue-green"}, "rollout.mode must be one of canary, shadow"),
        ("challenger", {"mode": "canary", "weight": 1.5}, "from 0 to 1"),
        ("challenger", {"mode": "canary", "weight": -0.1}, "from 0 to 1"),
        ("challenger", {"mode": "canary", "weight": True}, "from 0 to 1"),
        ("challenger", {"mode": "canary", "weight": "0.5"}, "from 0 to 1"),
        ("challenger", {"mode": "canary"}, "from 0 to 1"),
        ("challenger", {"mode": "shadow", "weight": 0.2}, "a shadow answers no requests"),
    ],
)
def test_an_invalid_rollout_is_refused_naming_the_field(alias: str, rollout: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match=message) as caught:
        checked_rollout(alias, rollout)
    assert caught.value.code == "invalid"


@pytest.mark.parametrize(
    ("weight", "stored"),
    [(0.1, Decimal("0.1")), (1e-200, Decimal("0")), (0.123456789, Decimal("0.123457")), (1, Decimal("1"))],
)
def test_a_canary_weight_is_kept_to_a_millionth(weight: float, stored: Decimal) -> None:
    checked = checked_rollout("challenger", {"mode": "canary", "weight": weight})
    assert checked == {"mode": "canary", "weight": stored}


def test_a_shadow_answers_nothing_and_needs_no_weight() -> None:
    assert checked_rollout("challenger", {"mode": "shadow"}) == {"mode": "shadow", "weight": Decimal("0")}


def test_promoting_the_challengers_version_ends_its_rollout_and_nothing_else_does() -> None:
    challenger = {"alias": "challenger", "version": Decimal(2), "rollout": {"mode": "canary"}}
    assert ends_rollout("champion", 2, challenger)
    assert not ends_rollout("champion", 3, challenger), "a challenger on another version keeps its rollout"
    assert not ends_rollout("challenger", 2, challenger)
    assert not ends_rollout("champion", 2, None)


# -- alias changes -------------------------------------------------------------------------------
def test_the_same_version_and_rollout_again_is_a_repeat_not_a_change() -> None:
    canary = {"mode": "canary", "weight": Decimal("0.1")}
    assert is_repeat(_alias(2, 1), 2, None)
    assert is_repeat(_alias(2, 1, rollout=canary), 2, {"mode": "canary", "weight": Decimal("0.1")})
    assert not is_repeat(_alias(2, 1, rollout=canary), 2, None), "dropping the rollout is a change"
    assert not is_repeat(_alias(2, 1), 3, None)
    assert not is_repeat(None, 1, None)


def test_a_guarded_change_is_refused_when_the_alias_moved_since_it_was_read() -> None:
    check_expected("m", "champion", 1, "any")
    check_expected("m", "champion", 1, 1)
    check_expected("m", "champion", None, None)
    with pytest.raises(RegistryError, match="champion of m is version 2, not 1: it changed meanwhile") as caught:
        check_expected("m", "champion", 2, 1)
    assert caught.value.code == "conflict"
    with pytest.raises(RegistryError, match="is version 2, not None"):
        check_expected("m", "champion", 2, None)


def test_an_alias_remembers_the_versions_it_held_oldest_first() -> None:
    assert next_history(None, 1, rolling_back=False) == []
    assert next_history(_alias(1), 2, rolling_back=False) == [1]
    assert next_history(_alias(2, 1), 3, rolling_back=False) == [1, 2]
    assert next_history(_alias(3, 1, 2), 3, rolling_back=False) == [1, 2], "a rollout change keeps it"
    long = _alias(ALIAS_HISTORY + 1, *range(1, ALIAS_HISTORY + 1))
    assert next_history(long, 99, rolling_back=False) == list(range(2, ALIAS_HISTORY + 2)), "the oldest goes"


def test_a_rollback_steps_back_through_the_history() -> None:
    current = _alias(3, 1, 2)
    assert rollback_target("m", "champion", current, None) == 2
    assert next_history(current, 2, rolling_back=True) == [1], "a second rollback goes on to v1, not back to v3"
    assert rollback_target("m", "champion", current, 3) == 2
    with pytest.raises(RegistryError, match="champion of m is version 3, not 4: it was already rolled back") as moved:
        rollback_target("m", "champion", current, 4)
    assert moved.value.code == "conflict"
    with pytest.raises(RegistryError, match=r"m's champion \(version 1\) replaced no earlier version") as first:
        rollback_target("m", "champion", _alias(1), None)
    assert first.value.code == "conflict"


def test_audit_events_show_an_alias_as_its_version_and_rollout() -> None:
    assert alias_state(None, None) == {"version": None}
    assert alias_state(2, {}) == {"version": 2}
    assert alias_state(2, {"mode": "shadow"}) == {"version": 2, "rollout": {"mode": "shadow"}}


def test_a_lost_race_says_what_changed_and_what_the_alias_holds_now() -> None:
    assert status_conflict("m", "champion", 2, "archived") == (
        "m version 2 became archived while promoting it to champion; nothing was changed"
    )
    message = alias_conflict("m", "champion", 2, 1, 3)
    assert "changed while promoting version 2: it now holds version 3 (it was version 1" in message
    assert "it now holds no version (it was unset" in alias_conflict("m", "champion", 2, None, None)
