"""What serving refuses is still seen, and the serving policy is the deployed config's (issue #16,
item 3): a refused request keeps its well-formed rows and why each was refused for capture; the
model's deployed serving policy (a registry item `mlops config deploy` writes through the registry
API) is read at serve time on a cache, with the version's own policy when none is deployed, and each
change logged once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mlops.serving.inputs import InputPolicy, RequestError, encode_request
from mlops.serving.models import load_version
from mlops.serving.policy import DeployedPolicies, effective_policy
from tests.unit.serving.support import breast_cancer, churn


def _refused(rows: list[dict[str, Any]], registered: Any, policy: InputPolicy) -> RequestError:
    served = load_version(registered.record["model"], registered.model_version, registered.artifacts.__getitem__)
    with pytest.raises(RequestError) as caught:
        encode_request(rows, served.signature, policy)
    return caught.value


def test_a_refused_request_keeps_its_well_formed_rows_and_why_each_was_refused() -> None:
    registered = breast_cancer()
    rows = registered.records(registered.prepared.splits.rows_test[:4])
    rows[0]["mean_radius"] = -3.0  # below the contract's minimum
    rows[1]["mean_area"] = "big"  # malformed: the client's bug, not traffic
    rows[3]["mean_radius"], rows[3]["worst_area"] = -1.0, -2.0
    error = _refused(rows, registered, InputPolicy())
    assert error.status == 400 and error.code == "invalid_input"
    assert {(p.row, p.field, p.code) for p in error.problems} == {
        (0, "mean_radius", "out_of_range"),
        (1, "mean_area", "wrong_type"),
        (3, "mean_radius", "out_of_range"),
        (3, "worst_area", "out_of_range"),
    }
    assert "out_of_range values are refused by the model's serving policy (out_of_range: reject)" in error.message
    assert "send values the data contract allows, or ask the model's owner to set the policy to warn" in error.message
    refused = error.refused
    assert refused is not None and refused.rows == 3  # rows 0, 2 and 3; row 1 is malformed
    assert refused.refusals == [
        {"mean_radius": "out_of_range"},
        {},
        {"mean_radius": "out_of_range", "worst_area": "out_of_range"},
    ]
    assert refused.values["mean_radius"] == [-3.0, rows[2]["mean_radius"], -1.0]


def test_a_request_refused_only_for_malformed_values_has_nothing_to_capture() -> None:
    registered = breast_cancer()
    rows = registered.records(registered.prepared.splits.rows_test[:2])
    rows[0]["mean_radius"] = "12.5"
    error = _refused(rows, registered, InputPolicy())
    assert error.refused is None and "serving policy" not in error.message


def test_unseen_categories_are_kept_with_their_reason() -> None:
    row = {"age": 30.0, "income": 30000.0, "member": True, "city": "Atlantis"}
    error = _refused([row], churn("reject"), InputPolicy(unseen_category="reject"))
    assert error.refused is not None and error.refused.refusals == [{"city": "unseen_category"}]
    assert error.refused.values["city"] == ["Atlantis"]


# -- the deployed serving policy (a registry item) ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_deployed_policy_is_cached_for_the_ttl_and_each_change_is_logged_once() -> None:
    deployed: dict[str, dict[str, Any]] = {}
    reads: list[str] = []
    changes: list[tuple[str, str]] = []

    def read(model: str) -> dict[str, Any] | None:
        reads.append(model)
        return deployed.get(model)

    clock = Clock()
    policies = DeployedPolicies(read=read, ttl=60, clock=clock, on_change=lambda m, s, _: changes.append((m, s)))
    assert policies.for_model("churn") is None  # none deployed: the version's own applies
    assert reads == ["churn"]
    frozen = effective_policy(None, 3, InputPolicy(), 0.2)
    assert frozen.as_dict() == {
        "out_of_range": "reject",
        "unseen_category": "reject",
        "capture_sample_rate": 0.2,
        "source": "version 3 (its training config)",
    }

    deployed["churn"] = {
        "out_of_range": "warn",
        "unseen_category": "reject",
        "capture_sample_rate": Decimal("0.5"),  # as DynamoDB returns it
        "source": "configs/churn.yaml",
        "deployed_at": "2026-12-05T08:00:00+00:00",
    }
    clock.now = 59.0
    assert policies.for_model("churn") is None and len(reads) == 1  # cached
    clock.now = 60.0
    warn = policies.for_model("churn")
    assert warn is not None and warn.inputs == InputPolicy(out_of_range="warn", unseen_category="reject")
    assert warn.capture_sample_rate == 0.5
    assert warn.source == "deployed 2026-12-05T08:00:00+00:00 (configs/churn.yaml)"
    assert effective_policy(warn, 3, InputPolicy(), 0.2) is warn
    clock.now = 120.0
    assert policies.for_model("churn") == warn and changes == [("churn", "none"), ("churn", "deployed")]


def test_a_failed_read_keeps_the_last_policy_read() -> None:
    answers: list[Any] = [{"out_of_range": "warn", "unseen_category": "warn"}, ConnectionError("throttled")]

    def read(model: str) -> dict[str, Any] | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    clock = Clock()
    policies = DeployedPolicies(read=read, ttl=1, clock=clock)
    first = policies.for_model("churn")
    clock.now = 5.0
    assert first is not None and policies.for_model("churn") == first
