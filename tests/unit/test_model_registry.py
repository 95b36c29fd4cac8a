"""Model versions, aliases and audit on moto's DynamoDB: numbering is atomic, promotions race safely."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import dynamodb_atomicity
from mlops.registry_table import ModelRegistry, RegistryError

AT = "2026-11-23T12:00:00+00:00"


@pytest.fixture
def registry() -> Iterator[ModelRegistry]:
    dynamodb_atomicity.install()  # DynamoDB applies each request atomically; moto needs telling
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ModelRegistry(table)


def _run(registry: ModelRegistry, run_id: str) -> str:
    registry.start_run(run_id, {"dataset": "d", "started_at": AT})
    return run_id


def _register(registry: ModelRegistry, run_id: str, status: str = "registered") -> int:
    record: dict[str, Any] = {"status": status, "metrics": {"roc_auc": "0.97"}}
    return registry.register_version("m", record, run_id=_run(registry, run_id), at=AT)


def test_versions_are_numbered_per_model_and_a_retried_registration_is_the_same_version(
    registry: ModelRegistry,
) -> None:
    assert _register(registry, "r1") == 1
    assert _register(registry, "r2") == 2
    assert registry.register_version("m", {"status": "registered"}, run_id="r1", at=AT) == 1
    assert registry.get_version("m", 3) is None


def test_concurrent_registrations_get_distinct_numbers(registry: ModelRegistry) -> None:
    for i in range(8):
        _run(registry, f"c{i}")
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(
            pool.map(
                lambda i: registry.register_version("m", {"status": "registered"}, run_id=f"c{i}", at=AT), range(8)
            )
        )
    assert sorted(numbers) == list(range(1, 9))


def test_two_racing_promotions_end_with_exactly_one_winner(registry: ModelRegistry) -> None:
    for run in ("r1", "r2", "r3"):
        _register(registry, run)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)

    def promote(version: int) -> str:
        try:
            registry.set_alias("m", "champion", version, reason="race", actor=f"user{version}", at=AT)
        except RegistryError as error:
            assert error.code == "conflict" and "changed while promoting" in error.message
            return "conflict"
        return "won"

    for _ in range(10):  # many rounds: a lost update would show as two winners in some round
        registry.set_alias("m", "champion", 1, reason="reset", actor="t", at=AT)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(promote, [2, 3]))
        champion = registry.get_alias("m", "champion")
        assert champion is not None
        if sorted(outcomes) == ["conflict", "won"]:
            winner = 2 if outcomes[0] == "won" else 3
            assert champion["version"] == winner and champion["previous_version"] == 1
        else:  # the two ran one after the other: the second saw the first's result as its "before"
            assert outcomes == ["won", "won"] and champion["previous_version"] in (2, 3)


def test_an_alias_never_points_at_a_rejected_or_missing_version(registry: ModelRegistry) -> None:
    _register(registry, "r1", status="rejected")
    with pytest.raises(RegistryError, match="rejected") as rejected:
        registry.set_alias("m", "champion", 1, reason="x", actor="t", at=AT)
    assert rejected.value.code == "conflict"
    with pytest.raises(RegistryError) as missing:
        registry.set_alias("m", "champion", 9, reason="x", actor="t", at=AT)
    assert missing.value.code == "not_found"
    assert registry.get_alias("m", "champion") is None


def test_every_change_leaves_an_audit_event(registry: ModelRegistry) -> None:
    _register(registry, "r1")
    _register(registry, "r2")
    registry.set_alias("m", "champion", 1, reason="first model", actor="alice", at=AT)
    registry.set_alias("m", "champion", 2, reason="better auc", actor="bob", at=AT)
    events = [(e["action"], e["actor"], e["before"], e["after"]) for e in registry.audit("m")]
    assert ("set_alias:champion", "bob", {"version": 1}, {"version": 2}) in events
    assert [e[0] for e in events].count("register") == 2
    assert len(events) == 4
    champion = registry.get_alias("m", "champion")
    assert champion is not None and (champion["version"], champion["previous_version"]) == (2, 1)
