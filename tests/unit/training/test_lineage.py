"""What a run records for its version's lineage (issue #22): the trigger, the config as deployed,
the code asset, each dataset version's contract and uploads; and the parent, which is the champion
the gate compared the run with, not whichever one holds the alias when the run registers."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import numpy as np
import pytest

from mlops.datasets.versioning import SourceObject
from mlops.monitoring.retraining import AUTOMATIC_PREFIXES
from mlops.training.data import TrainingData, VersionUsed
from mlops.training.run import RunRef, _compared_with
from mlops.training.start import MANUAL, run_trigger
from tests.unit.training.test_data import DATASET, Platform, _join, _rows, _table, platform

__all__ = ["platform"]  # the fixture, shared with test_data
AT = "2026-11-23T12:00:00+00:00"


@pytest.mark.parametrize(
    ("reason", "trigger"),
    [
        ("drift: dataset drift in 9 features (mean_radius …)", "drift"),
        ("performance: roc_auc 0.81 past its floor 0.9 over 300 labels", "performance"),
        ("schedule: no training run for 7 days", "schedule"),
        ("new dataset version 0123456789ab", "new_data"),
        ("requested from the command line", MANUAL),
        ("scheduled retraining", MANUAL),  # a person's words, not the schedule's prefix
    ],
)
def test_a_runs_trigger_is_read_from_the_reason_its_starter_wrote(reason: str, trigger: str) -> None:
    assert run_trigger(reason) == trigger


def test_every_automatic_retraining_reason_has_its_own_trigger() -> None:
    assert all(run_trigger(f"{prefix} x") not in (MANUAL, "new_data") for prefix in AUTOMATIC_PREFIXES)


def test_a_run_records_its_trigger_config_code_and_each_versions_contract_and_upload(platform: Platform) -> None:
    first = _table(200, seed=1)
    old = platform.upload(first, "2026-11-01T09:00:00+00:00")
    new = platform.upload(_join(_rows(first, np.arange(10)), _table(50, seed=2)), "2026-11-08T09:00:00+00:00")
    platform.config()
    platform.services.code_asset_hash = "7d" * 32

    data = platform.prepare("drift-run", reason="drift: dataset drift in 2 features (age, plan)")

    assert [(v.version, v.contract_version, [u.key for u in v.uploads]) for v in data.versions] == [
        (old, 1, [f"raw/{DATASET}/{old[:6]}.csv"]),
        (new, 1, [f"raw/{DATASET}/{new[:6]}.csv"]),
    ]
    run = platform.services.models.get_run("drift-run")
    assert run is not None
    config = platform.artifacts.get(f"configs/{DATASET}.json")
    assert run["config"] == {"key": f"configs/{DATASET}.json", "sha256": hashlib.sha256(config).hexdigest()}
    assert (run["trigger"], run["code_asset_hash"]) == ("drift", "7d" * 32)
    assert run["training_data"]["versions"][1]["uploads"][0]["bucket"] == "raw"


def test_the_registry_item_keeps_the_first_uploads_of_a_many_file_version_and_counts_them() -> None:
    uploads = [SourceObject(bucket="raw", key=f"raw/{DATASET}/big/part-{i:03}.parquet", size=1) for i in range(45)]
    used = VersionUsed(version="a" * 64, created_at=AT, rows=45, contract_version=3, uploads=uploads)
    data = TrainingData(dataset=DATASET, policy="all", versions=[used], rows=45, max_rows=1000)
    [version] = data.summary()["versions"]
    assert (len(version["uploads"]), version["uploads_total"]) == (20, 45)
    assert version["uploads"][-1]["key"] == f"raw/{DATASET}/big/part-019.parquet"


def test_the_parent_is_the_champion_the_gate_compared_with(platform: Platform) -> None:
    registry = platform.services.models
    registry.start_run("first", {"dataset": DATASET, "started_at": AT})
    registry.register_version(DATASET, {"status": "registered"}, run_id="first", at=AT)
    registry.set_alias(DATASET, "champion", 1, reason="first model", actor="test", at=AT)
    run = RunRef("second", DATASET, DATASET, "b" * 64, f"models/{DATASET}/runs/second/")
    # Gated while v1 was champion (the run record holds what its gate step wrote, as DynamoDB reads it).
    assert _compared_with(platform.services, run, {"parent_version": Decimal(1)}) == 1
    # Gated with no champion: v1 promoted since (a racing run) is not what this one was compared with.
    assert _compared_with(platform.services, run, {"parent_version": None}) is None
    # Gated before the gate step recorded it: the champion of now, as before.
    assert _compared_with(platform.services, run, {}) == 1
