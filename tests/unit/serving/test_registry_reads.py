"""Serving's registry reads through botocore's low-level client find what the registry wrote through
boto3: the same aliases (a canary's rollout with its weight), version record and deployed policy,
and nothing for a model that has none. On moto's DynamoDB, as the registry's own tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import botocore.session
import pytest

from mlops.registry.models import ModelRegistry
from mlops.serving.registry_reads import ServingRegistry, plain
from tests.unit.serving.support import churn

AT = "2026-11-23T12:00:00+00:00"


@pytest.fixture
def written(registry_table: Any) -> tuple[ModelRegistry, ServingRegistry]:
    registry = ModelRegistry(registry_table)
    record = {**churn().record, "serving": {"capture_sample_rate": Decimal("0.25"), "out_of_range": "warn"}}
    record.pop("version")
    for run in ("r1", "r2"):
        registry.start_run(run, {"dataset": "churn", "started_at": AT})
        registry.register_version("churn", record, run_id=run, at=AT)
    registry.set_alias("churn", "champion", 1, reason="first", actor="t", at=AT)
    registry.set_alias(
        "churn", "challenger", 2, reason="canary", actor="t", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    registry.set_serving_policy(
        "churn",
        {"out_of_range": "warn", "unseen_category": "reject"},
        source="configs/churn.yaml",
        reason="r",
        actor="t",
        at=AT,
    )
    client = botocore.session.get_session().create_client("dynamodb", region_name="us-east-1")
    return registry, ServingRegistry(client, registry_table.name)


def test_serving_reads_what_the_registry_wrote(written: tuple[ModelRegistry, ServingRegistry]) -> None:
    registry, serving = written
    assert serving.aliases("churn") == registry.aliases("churn")
    assert serving.aliases("churn")["challenger"]["rollout"] == {"mode": "canary", "weight": Decimal("0.1")}
    assert serving.model_version("churn", 2) == registry.model_version("churn", 2)
    assert serving.model_version("churn", 2).serving["capture_sample_rate"] == 0.25  # type: ignore[union-attr]
    assert serving.serving_policy("churn") == registry.serving_policy("churn")


def test_a_model_without_versions_aliases_or_policy_reads_as_none(
    written: tuple[ModelRegistry, ServingRegistry],
) -> None:
    _, serving = written
    assert serving.aliases("nobody") == {}
    assert serving.model_version("churn", 9) is None and serving.serving_policy("nobody") is None


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ({"N": "0.1"}, Decimal("0.1")),
        ({"NULL": True}, None),
        ({"BOOL": False}, False),
        ({"L": [{"S": "a"}, {"N": "2"}]}, ["a", Decimal(2)]),
        ({"M": {"k": {"SS": ["x", "y"]}}}, {"k": {"x", "y"}}),
        ({"NS": ["1", "2.5"]}, {Decimal(1), Decimal("2.5")}),
    ],
)
def test_each_attribute_type_reads_as_boto3_gives_it(typed: dict[str, Any], value: Any) -> None:
    assert plain(typed) == value


def test_an_attribute_type_dynamodb_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown type 'X'"):
        plain({"X": "1"})
