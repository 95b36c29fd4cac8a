"""Model versions, aliases and audit on moto's DynamoDB: numbering is atomic, promotions race safely."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops.registry.errors import RegistryError
from mlops.registry.models import ModelRegistry

AT = "2026-11-23T12:00:00+00:00"


@pytest.fixture
def registry(registry_table: Any) -> ModelRegistry:
    return ModelRegistry(registry_table)


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


def test_rollback_puts_the_champion_back_in_one_call(registry: ModelRegistry) -> None:
    for run in ("r1", "r2"):
        _register(registry, run)
    with pytest.raises(RegistryError, match="no champion to roll back") as no_alias:
        registry.rollback("m", reason="x", actor="t", at=AT)
    assert no_alias.value.code == "conflict"
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    with pytest.raises(RegistryError, match="replaced no earlier version"):
        registry.rollback("m", reason="x", actor="t", at=AT)
    registry.set_alias("m", "champion", 2, reason="better", actor="t", at=AT)
    registry.rollback("m", reason="v2 misbehaves", actor="carol", at=AT)
    champion = registry.get_alias("m", "champion")
    assert champion is not None and (champion["version"], champion["previous_version"]) == (1, 2)
    with pytest.raises(RegistryError, match="replaced no earlier version"):  # not back to v2
        registry.rollback("m", reason="again", actor="carol", at=AT)
    last = registry.audit("m")[0]  # newest first
    assert (last["actor"], last["reason"], last["after"]) == ("carol", "rollback: v2 misbehaves", {"version": 1})
    with pytest.raises(RegistryError) as unknown:
        registry.rollback("nope", reason="x", actor="t", at=AT)
    assert unknown.value.code == "not_found"


def test_approval_archive_tags_and_listing(registry: ModelRegistry) -> None:
    _register(registry, "r1")
    _register(registry, "r2", status="pending_approval")
    _register(registry, "r3", status="rejected")
    with pytest.raises(RegistryError, match="pending_approval"):
        registry.set_alias("m", "champion", 2, reason="x", actor="t", at=AT)
    registry.approve("m", 2, reason="reviewed by the risk team", actor="dana", at=AT)
    registry.set_alias("m", "champion", 2, reason="approved", actor="dana", at=AT)
    with pytest.raises(RegistryError, match="is champion"):
        registry.archive("m", 2, reason="x", actor="t", at=AT)
    registry.archive("m", 1, reason="superseded", actor="t", at=AT)
    with pytest.raises(RegistryError, match="approve needs pending_approval"):
        registry.approve("m", 1, reason="x", actor="t", at=AT)
    registry.tag("m", 2, {"team": "risk"}, actor="t", at=AT)
    assert registry.get_version("m", 2)["tags"]["team"] == "risk"  # type: ignore[index]
    statuses = {
        s: [v["version"] for v in registry.list_versions("m", status=s)[0]]
        for s in ("registered", "archived", "rejected", "pending_approval")
    }
    assert statuses == {"registered": [2], "archived": [1], "rejected": [3], "pending_approval": []}
    first, token = registry.list_versions("m", limit=2)
    second, _ = registry.list_versions("m", limit=2, next_token=token)
    assert ([v["version"] for v in first], [v["version"] for v in second]) == ([3, 2], [1])
    assert token is not None
    models, _ = registry.list_models()
    assert [m["model"] for m in models] == ["m"]
    model = registry.get_model("m")
    assert model["aliases"]["champion"]["version"] == 2 and model["latest_version"] == 3
    registry.remove_alias("m", "champion", reason="pause serving", actor="t", at=AT)
    assert registry.get_alias("m", "champion") is None
    actions = [e["action"] for e in registry.audit("m")]
    assert actions.count("register") == 3 and "approve" in actions and "archive" in actions
    assert "tag" in actions and "remove_alias:champion" in actions
    with pytest.raises(RegistryError, match="next_token"):
        registry.list_versions("m", next_token="garbage!")


def test_drift_results_are_kept_per_check_newest_first(registry: ModelRegistry) -> None:
    for minute in (0, 10, 5):
        assert registry.put_drift_result(
            "m", 1, f"2026-11-23T12:{minute:02d}:00+00:00", {"drift_share": "0.1", "dataset_drift": False}
        )
    assert not registry.put_drift_result("m", 1, "2026-11-23T12:10:00+00:00", {"drift_share": "0.9"})
    results = registry.drift_results("m")
    assert [r["checked_at"][14:16] for r in results] == ["10", "05", "00"]
    assert results[0]["drift_share"] == "0.1", "a rerun never overwrites a recorded check"


def test_one_drift_check_of_a_model_at_a_time_and_a_dead_checks_lease_runs_out(registry: ModelRegistry) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    lease = timedelta(minutes=11)
    assert registry.claim_drift_check("m", owner="a", now=now, lease=lease) is None
    held = registry.claim_drift_check("m", owner="b", now=now + timedelta(minutes=1), lease=lease)
    assert held == f"a since {now.isoformat()}"
    assert registry.claim_drift_check("m", owner="a", now=now, lease=lease) is None, "a retry of the holder"
    assert registry.claim_drift_check("other", owner="b", now=now, lease=lease) is None, "models are apart"
    # a dies holding the lease: b gets the model once the lease has run out, not before
    assert registry.claim_drift_check("m", owner="b", now=now + timedelta(minutes=10), lease=lease) is not None
    assert registry.claim_drift_check("m", owner="b", now=now + lease, lease=lease) is None
    registry.release_drift_check("m", owner="a", now=now + lease)  # a late release by a does not end b's lease
    assert registry.claim_drift_check("m", owner="c", now=now + lease, lease=lease) is not None
    registry.release_drift_check("m", owner="b", now=now + lease)
    assert registry.claim_drift_check("m", owner="c", now=now + lease, lease=lease) is None
    assert registry.drift_results("m") == [], "the lease is not a drift result"


def test_a_challenger_carries_its_rollout_and_serving_reads_every_alias_in_one_query(registry: ModelRegistry) -> None:
    for run in ("r1", "r2"):
        _register(registry, run)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    item = registry.set_alias(
        "m", "challenger", 2, reason="canary", actor="t", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    assert item["rollout"]["mode"] == "canary" and float(item["rollout"]["weight"]) == 0.1
    aliases = registry.aliases("m")
    assert {name: int(a["version"]) for name, a in aliases.items()} == {"champion": 1, "challenger": 2}
    assert float(aliases["challenger"]["rollout"]["weight"]) == 0.1
    # Same version, new rollout: a change (with an audit event); no rollout stops the traffic.
    registry.set_alias("m", "challenger", 2, reason="shadow", actor="t", at=AT, rollout={"mode": "shadow"})
    assert registry.aliases("m")["challenger"]["rollout"]["mode"] == "shadow"
    registry.set_alias("m", "challenger", 2, reason="stop", actor="t", at=AT)
    assert "rollout" not in registry.aliases("m")["challenger"]
    actions = [e["action"] for e in registry.audit("m")]
    assert actions.count("set_alias:challenger") == 3


def test_promoting_the_challengers_version_ends_its_rollout_so_a_rollback_leaves_no_canary(
    registry: ModelRegistry,
) -> None:
    for run in ("r1", "r2", "r3"):
        _register(registry, run)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    registry.set_alias(
        "m", "challenger", 2, reason="canary", actor="t", at=AT, rollout={"mode": "canary", "weight": 0.1}
    )
    registry.set_alias("m", "champion", 2, reason="canary was fine", actor="t", at=AT)
    assert {name: int(a["version"]) for name, a in registry.aliases("m").items()} == {"champion": 2}
    registry.rollback("m", reason="worse on Monday", actor="t", at=AT)
    assert {name: int(a["version"]) for name, a in registry.aliases("m").items()} == {"champion": 1}
    [ended] = [e for e in registry.audit("m") if e["action"] == "remove_alias:challenger"]
    assert int(ended["before"]["version"]) == 2 and "became champion" in ended["reason"]
    # A challenger on another version is a different rollout: promoting some other version keeps it.
    registry.set_alias("m", "challenger", 3, reason="next canary", actor="t", at=AT, rollout={"mode": "shadow"})
    registry.set_alias("m", "champion", 2, reason="again", actor="t", at=AT)
    assert int(registry.aliases("m")["challenger"]["version"]) == 3


@pytest.mark.parametrize(
    ("alias", "rollout", "message"),
    [
        ("champion", {"mode": "canary", "weight": 0.5}, "not to the champion"),
        ("challenger", {"mode": "blue-green"}, "rollout.mode must be one of canary, shadow"),
        ("challenger", {"mode": "canary", "weight": 1.5}, "from 0 to 1"),
        ("challenger", {"mode": "canary"}, "from 0 to 1"),
        ("challenger", {"mode": "shadow", "weight": 0.2}, "a shadow answers no requests"),
    ],
)
def test_an_invalid_rollout_is_refused_naming_the_field(
    registry: ModelRegistry, alias: str, rollout: dict[str, Any], message: str
) -> None:
    _register(registry, "r1")
    with pytest.raises(RegistryError, match=message) as caught:
        registry.set_alias("m", alias, 1, reason="x", actor="t", at=AT, rollout=rollout)
    assert caught.value.code == "invalid"


def test_a_promotion_repeated_after_a_crash_after_its_write_changes_nothing_more(registry: ModelRegistry) -> None:
    """The caller crashed (or lost the answer) after the write and sends the same request again."""
    for run in ("r1", "r2"):
        _register(registry, run)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    first = registry.set_alias("m", "champion", 2, reason="better", actor="t", at=AT, expected_version=1)
    again = registry.set_alias("m", "champion", 2, reason="better", actor="t", at=AT, expected_version=1)
    assert again == registry.get_alias("m", "champion")
    assert {k: again[k] for k in ("version", "previous_version", "history")} == {
        "version": 2,
        "previous_version": 1,
        "history": [1],
    }
    assert {k: first[k] for k in ("version", "previous_version", "history")} == {
        "version": 2,
        "previous_version": 1,
        "history": [1],
    }
    promotions = [e["after"] for e in registry.audit("m") if e["action"] == "set_alias:champion"]
    assert promotions == [{"version": 2}, {"version": 1}], (
        "one audit event per change (newest first), none for the repeat"
    )


def test_a_retried_rollback_naming_the_version_it_rolls_back_from_is_reported_not_applied_twice(
    registry: ModelRegistry,
) -> None:
    for run in ("r1", "r2", "r3"):
        _register(registry, run)
    for version in (1, 2, 3):
        registry.set_alias("m", "champion", version, reason="newer", actor="t", at=AT)
    rolled = registry.rollback("m", reason="v3 misbehaves", actor="carol", at=AT, expected_version=3)
    assert rolled["version"] == 2
    with pytest.raises(RegistryError) as retried:
        registry.rollback("m", reason="v3 misbehaves", actor="carol", at=AT, expected_version=3)
    assert retried.value.code == "conflict"
    assert "champion of m is version 2, not 3" in retried.value.message
    champion = registry.get_alias("m", "champion")
    assert champion is not None and champion["version"] == 2, "not rolled back a second time, to v1"
    rollbacks = [e for e in registry.audit("m") if e["reason"].startswith("rollback:")]
    assert len(rollbacks) == 1
    # Without expected_version a rollback steps back again, as before.
    assert registry.rollback("m", reason="v2 too", actor="carol", at=AT)["version"] == 1


def test_a_promotion_that_loses_a_race_says_what_the_alias_holds_now(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other promotion's write lands between this one's read and its transaction."""
    for run in ("r1", "r2", "r3"):
        _register(registry, run)
    registry.set_alias("m", "champion", 1, reason="first", actor="t", at=AT)
    real_get_alias = ModelRegistry.get_alias
    raced = [False]

    def read_then_lose_the_race(self: ModelRegistry, name: str, alias: str) -> dict[str, Any] | None:
        seen = real_get_alias(self, name, alias)
        if not raced[0]:
            raced[0] = True
            real_set_alias(self, "m", "champion", 3, reason="the other operator", actor="bob", at=AT)
        return seen

    real_set_alias = ModelRegistry.set_alias
    monkeypatch.setattr(ModelRegistry, "get_alias", read_then_lose_the_race)
    with pytest.raises(RegistryError) as lost:
        registry.set_alias("m", "champion", 2, reason="mine", actor="alice", at=AT)
    monkeypatch.undo()
    assert lost.value.code == "conflict"
    assert "changed while promoting version 2: it now holds version 3 (it was version 1" in lost.value.message
    champion = registry.get_alias("m", "champion")
    assert champion is not None and champion["version"] == 3
    assert [e["actor"] for e in registry.audit("m") if e["action"] == "set_alias:champion"] == [
        "bob",
        "t",
    ]  # newest first


def test_running_out_of_allocation_attempts_is_reported_and_loses_nothing(
    registry: ModelRegistry, registry_table: Any
) -> None:
    """Every attempt finds its number taken (a stale counter read each time): the registration is
    refused as a conflict after MAX_ALLOCATION_ATTEMPTS, the run stays unregistered, and a retry
    registers it."""
    from mlops.registry.models import MAX_ALLOCATION_ATTEMPTS

    _register(registry, "r1")
    _run(registry, "r2")
    reads: list[int] = []

    class StaleCounter:
        """The table, except that the model's version counter always reads as 0."""

        def __getattr__(self, attribute: str) -> Any:
            return getattr(registry_table, attribute)

        def get_item(self, **kwargs: Any) -> dict[str, Any]:
            response = dict(registry_table.get_item(**kwargs))
            if kwargs["Key"] == {"pk": "MODEL#m", "sk": "META"} and "Item" in response:
                reads.append(1)
                response["Item"] = {**response["Item"], "latest_version": 0}
            return response

    with pytest.raises(RegistryError) as exhausted:
        ModelRegistry(StaleCounter()).register_version("m", {"status": "registered"}, run_id="r2", at=AT)
    assert exhausted.value.code == "conflict"
    assert f"after {MAX_ALLOCATION_ATTEMPTS} tries" in exhausted.value.message
    assert len(reads) == MAX_ALLOCATION_ATTEMPTS
    run = registry.get_run("r2")
    assert run is not None and "registered_version" not in run
    assert [e["action"] for e in registry.audit("m")] == ["register"], "no half-registered version"
    assert registry.register_version("m", {"status": "registered"}, run_id="r2", at=AT) == 2
    assert [int(v["version"]) for v in registry.list_versions("m")[0]] == [2, 1]


def test_concurrent_registrations_lose_nothing(registry: ModelRegistry) -> None:
    """Each racing run ends with its own version, recorded on the run and once in the audit trail."""
    runs = [f"c{i}" for i in range(8)]
    for run in runs:
        _run(registry, run)
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = dict(
            zip(
                runs,
                pool.map(lambda run: registry.register_version("m", {"status": "registered"}, run_id=run, at=AT), runs),
                strict=True,
            )
        )
    for run, number in numbers.items():
        assert registry.get_run(run)["registered_version"] == number  # type: ignore[index]
        assert registry.get_version("m", number)["run_id"] == run  # type: ignore[index]
    registered = [e["after"] for e in registry.audit("m") if e["action"] == "register"]
    assert sorted((a["run_id"], int(a["version"])) for a in registered) == sorted(numbers.items())
    assert registry.get_model("m")["latest_version"] == len(runs)


def test_the_audit_trail_lists_the_latest_changes_first_however_long_it_is(registry: ModelRegistry) -> None:
    _register(registry, "r1")
    _register(registry, "r2")
    for i in range(6):
        registry.set_alias(
            "m", "champion", 1 + i % 2, reason=f"change {i}", actor="t", at=f"2026-11-23T12:00:0{i}+00:00"
        )
    latest = registry.audit("m", limit=3)
    assert [e["reason"] for e in latest] == ["change 5", "change 4", "change 3"]


def test_a_drift_check_skips_a_model_another_check_holds_and_frees_it_when_done(registry: ModelRegistry) -> None:
    import boto3

    from mlops.buckets import ArtifactsBucket
    from mlops.datasets.records import DatasetRecords
    from mlops.monitoring.checks import DriftServices, check_model

    version = _register(registry, "r1")
    registry.set_alias("m", "champion", version, reason="first", actor="t", at=AT)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    s3 = boto3.client("s3", region_name="us-east-1")
    services = DriftServices(
        registry=registry,
        datasets=DatasetRecords(registry.table),
        artifacts=ArtifactsBucket(s3, "no-such-bucket"),
        start_training=lambda *_: None,
        notify=lambda *_: None,
        now=lambda: now,
        checker="second",
    )
    assert registry.claim_drift_check("m", owner="first", now=now, lease=timedelta(minutes=5)) is None
    outcome = check_model(services, "m", force=True, window_hours=1)
    assert outcome.status == "skipped" and "another drift check holds this model (first since" in outcome.detail
    registry.release_drift_check("m", owner="first", now=now)
    with pytest.raises(KeyError):  # the version has no reference profile: run_checks reports this
        check_model(services, "m", force=True, window_hours=1)
    assert registry.claim_drift_check("m", owner="third", now=now, lease=timedelta(minutes=5)) is None, (
        "a check that failed still let go of the model"
    )


def test_a_number_nearer_zero_than_dynamodb_holds_is_stored_as_zero(registry: ModelRegistry) -> None:
    """DynamoDB stores magnitudes from 1E-130 (boto3 refuses smaller ones with decimal.Underflow): a
    serving policy's 1e-308 sample rate is deployed as 0, never a failed request."""
    registry.set_serving_policy(
        "m", {"capture_sample_rate": 1.1125369292536007e-308}, source="s", reason="fuzzed", actor="t", at=AT
    )
    policy = registry.serving_policy("m")
    assert policy is not None and policy["capture_sample_rate"] == 0
