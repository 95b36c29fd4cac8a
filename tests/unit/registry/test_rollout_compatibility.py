"""A challenger takes traffic only if it accepts every request the champion accepts, unless the
operator allows the change, which the audit reason then records (issue #16's rollout rule, now in
the registry core rather than the API handler)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mlops.registry.errors import RegistryError
from mlops.registry.rollout_compatibility import rollout_reason, served_signature
from tests.unit.serving.support import Registered, breast_cancer, churn


class Versions:
    """The registry's aliases and version records, and the artifacts the records name."""

    def __init__(self, champion: Registered, challenger: Registered) -> None:
        self.records = {1: {**champion.record, "version": 1}, 2: {**challenger.record, "version": 2}}
        self.artifacts = {**champion.artifacts, **challenger.artifacts}
        self.champion: int | None = 1

    def get_alias(self, name: str, alias: str) -> Mapping[str, Any] | None:
        return {"version": self.champion} if alias == "champion" and self.champion else None

    def get_version(self, name: str, version: int) -> Mapping[str, Any] | None:
        return self.records.get(version)

    def read(self, key: str) -> bytes:
        return self.artifacts[key]


def _reason(versions: Versions, *, allow: bool = False) -> str:
    return rollout_reason(versions, versions.read, "m", 2, mode="canary", reason="try v2", allow_signature_change=allow)


def test_a_challenger_with_the_champions_inputs_rolls_out_with_the_reason_given() -> None:
    assert _reason(Versions(breast_cancer(), breast_cancer(version=2))) == "try v2"


def test_a_challenger_that_would_refuse_the_champions_requests_is_a_conflict_naming_the_fields() -> None:
    versions = Versions(breast_cancer(), churn())
    with pytest.raises(RegistryError) as refused:
        _reason(versions)
    assert refused.value.code == "conflict"
    assert "m v2 would refuse requests the champion accepts" in str(refused.value)
    assert "A canary would fail its share of traffic" in str(refused.value)


def test_an_allowed_signature_change_is_recorded_in_the_reason() -> None:
    reason = _reason(Versions(breast_cancer(), churn()), allow=True)
    assert reason.startswith("try v2 [signature change allowed: ")


def test_without_a_champion_there_is_nothing_to_compare() -> None:
    versions = Versions(breast_cancer(), churn())
    versions.champion = None
    assert _reason(versions) == "try v2"


def test_an_unknown_version_is_not_found() -> None:
    versions = Versions(breast_cancer(), churn())
    with pytest.raises(RegistryError) as missing:
        served_signature(versions, versions.read, "m", 7)
    assert missing.value.code == "not_found" and "m has no version 7" in str(missing.value)
