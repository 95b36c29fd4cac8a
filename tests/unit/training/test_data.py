"""Training data by policy (#16): a run trains on every accepted dataset version by default, a row
uploaded twice counted once; `latest`, `since` and `versions` choose as stated; a request's
`dataset_version` wins; the run, its report and the registered version say which versions and rows
it used. Generated tables, stored as dataset versions in moto's S3 and DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from numpy.typing import NDArray

from mlops.buckets import ArtifactsBucket, CuratedBucket
from mlops.datasets.records import DatasetRecords, DatasetVersion
from mlops.datasets.versioning import (
    NULL_MASK_PREFIX,
    ColumnSchema,
    Manifest,
    SourceObject,
    content_hash,
    npz_bytes,
)
from mlops.names import dataset_version_prefix
from mlops.registry.keys import table_definition
from mlops.registry.models import ModelRegistry
from mlops.training.config import ConfigError, TrainingConfig, load_training_config
from mlops.training.data import TrainingData, TrainingInputError, combine_versions, plan_versions
from mlops.training.run import DATA_RECORD, TrainingServices, prepare_step

DATASET = "churn"
Table = dict[str, NDArray[Any]]


def _table(rows: int, seed: int, *, with_plan: bool = True) -> Table:
    rng = np.random.RandomState(seed)
    age = rng.normal(45, 15, rows).round(3)
    plan = rng.choice(["basic", "plus", "pro"], rows).astype("<U8")
    plan_missing = rng.rand(rows) < 0.1
    table: Table = {"age": age, "churned": ((age + rng.normal(0, 10, rows)) > 50).astype(np.int64)}
    if with_plan:
        table["plan"] = np.where(plan_missing, "", plan)
        table[f"{NULL_MASK_PREFIX}plan"] = plan_missing
    return table


def _columns(table: Table, plan_type: str = "category") -> list[ColumnSchema]:
    kinds = {"age": "float", "churned": "int", "plan": plan_type}
    return [
        ColumnSchema(name=n, type=kinds[n], dtype=v.dtype.str)  # type: ignore[arg-type]
        for n, v in table.items()
        if not n.startswith(NULL_MASK_PREFIX)
    ]


def _rows(table: Table, index: NDArray[np.int64]) -> Table:
    return {name: values[index] for name, values in table.items()}


def _join(*tables: Table) -> Table:
    return {name: np.concatenate([t[name] for t in tables]) for name in tables[0]}


@dataclass
class Platform:
    services: TrainingServices
    registry: DatasetRecords
    curated: CuratedBucket
    artifacts: ArtifactsBucket

    def upload(self, table: Table, created_at: str, columns: list[ColumnSchema] | None = None) -> str:
        """A dataset version as ingestion stores it: npz, manifest, registry record."""
        version = content_hash(table)
        prefix = dataset_version_prefix(DATASET, version)
        self.curated.put(f"{prefix}data.npz", npz_bytes(table), "application/octet-stream")
        rows = int(next(iter(table.values())).shape[0])
        manifest = Manifest(
            dataset=DATASET,
            version=version,
            rows=rows,
            columns=columns or _columns(table),
            label="churned",
            content_hash=version,
            data_key=f"{prefix}data.npz",
            report_key=f"{prefix}report.json",
            source=SourceObject(bucket="raw", key=f"raw/{DATASET}/{version[:6]}.csv", size=1),
            contract_version=1,
            created_at=datetime.fromisoformat(created_at),
        )
        self.curated.put(f"{prefix}manifest.json", manifest.model_dump_json().encode(), "application/json")
        self.registry.put_dataset_version(
            DatasetVersion(
                dataset=DATASET,
                version=version,
                created_at=created_at,
                manifest_key=f"{prefix}manifest.json",
                rows=rows,
            )
        )
        return version

    def config(self, **data: Any) -> None:
        document = {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "churned",
            "candidates": [{"name": "logreg", "estimator": "logistic_regression"}],
            **({"data": data["data"]} if "data" in data else {}),
        }
        self.artifacts.put(f"configs/{DATASET}.json", json.dumps(document).encode(), "application/json")

    def prepare(self, run_id: str, **request: Any) -> TrainingData:
        payload = prepare_step({"dataset": DATASET, **request}, run_id, f"arn:{run_id}", self.services)
        stored = TrainingData.model_validate_json(self.artifacts.get(f"{payload['prefix']}{DATA_RECORD}"))
        assert payload["dataset_version"] == stored.newest
        return stored


@pytest.fixture
def platform() -> Iterator[Platform]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("curated", "artifacts"):
            s3.create_bucket(Bucket=bucket)
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(**table_definition("registry"))
        registry = DatasetRecords(table)
        curated, artifacts = CuratedBucket(s3, "curated"), ArtifactsBucket(s3, "artifacts")
        services = TrainingServices(artifacts, curated, registry, ModelRegistry(table))
        yield Platform(services, registry, curated, artifacts)


def test_a_run_trains_on_every_accepted_version_and_counts_a_row_uploaded_twice_once(platform: Platform) -> None:
    first = _table(300, seed=1)
    # The second upload repeats 40 rows of the first (an overlapping export) and brings 100 new ones.
    second = _join(_rows(first, np.arange(40)), _table(100, seed=2))
    old = platform.upload(first, "2026-11-01T09:00:00+00:00")
    new = platform.upload(second, "2026-11-08T09:00:00+00:00")
    platform.config()

    data = platform.prepare("all-versions")

    assert data.policy == "all" and data.newest == new
    assert [(v.version, v.rows, v.duplicates, v.used, v.first_row) for v in data.versions] == [
        (old, 300, 0, 300, 0),
        (new, 140, 40, 100, 300),
    ]
    assert (data.rows, data.duplicates) == (400, 40)
    run = platform.services.models.get_run("all-versions")
    assert run is not None and run["dataset_version"] == new
    assert [(v["version"], v["rows"], v["duplicates"]) for v in run["training_data"]["versions"]] == [
        (old, 300, 0),
        (new, 140, 40),
    ]
    assert sum(int(n) for k, n in run["rows"].items() if k != "dropped_missing_label") == 400


def test_latest_since_and_versions_choose_as_stated_and_a_requested_version_wins(platform: Platform) -> None:
    tables = [_table(120, seed=s) for s in (1, 2, 3)]
    ids = [platform.upload(t, f"2026-11-{day:02d}T09:00:00+00:00") for t, day in zip(tables, (1, 8, 15), strict=True)]

    def used(data: Any, **request: Any) -> list[str]:
        platform.config(data=data)
        return [
            v.version for v in platform.prepare(f"run-{len(platform.artifacts.keys('models/'))}", **request).versions
        ]

    assert used("latest") == [ids[2]]
    assert used({"since": "2026-11-08"}) == ids[1:]
    assert used({"since": "2026-11-08T09:00:01"}) == ids[2:]
    assert used({"versions": [ids[2][:12], ids[0]]}) == [ids[0], ids[2]]  # prefixes of 12+, oldest first
    # An explicit dataset_version in the request (mlops train --dataset-version) wins over the config.
    platform.config(data="latest")
    data = platform.prepare("named", dataset_version=ids[0])
    assert [v.version for v in data.versions] == [ids[0]]
    assert data.policy == "the dataset_version named in the training request"


def test_unknown_versions_and_an_empty_since_are_refused_naming_the_field(platform: Platform) -> None:
    known = platform.upload(_table(120, seed=1), "2026-11-01T09:00:00+00:00")
    platform.config(data={"versions": [known[:12], "abcdefabcdef"]})
    with pytest.raises(ConfigError, match=r"data\.versions\[1\]: no accepted dataset version 'abcdefabcdef'"):
        platform.prepare("unknown")
    platform.config(data={"since": "2026-12-01"})
    with pytest.raises(
        TrainingInputError, match=r"no version accepted since 2026-12-01T00:00:00\+00:00 \(data.since\)"
    ):
        platform.prepare("too-late")
    platform.config(data={"since": "last tuesday"})
    with pytest.raises(ConfigError, match=r"data\.since: 'last tuesday' is not an ISO date"):
        platform.prepare("not-a-date")
    assert platform.services.models.runs_for_dataset(DATASET) == [], "nothing was recorded"
    assert platform.artifacts.keys("models/") == []


def test_a_version_whose_contract_changed_a_used_column_is_skipped_by_rule_and_refused_by_name(
    platform: Platform,
) -> None:
    """Chosen by rule (all, since), a version that types a column the config uses differently is
    left out with its reason in the report; named in data.versions, it fails the run. A version that
    lacks a column is combined: its rows read as missing there, and the lineage says so (an upload
    that adds a column must not throw away every older row)."""
    before = platform.upload(_table(150, seed=1, with_plan=False), "2026-11-01T09:00:00+00:00")
    retyped = _table(150, seed=2)
    changed = platform.upload(retyped, "2026-11-04T09:00:00+00:00", _columns(retyped, plan_type="string"))
    newest = platform.upload(_table(150, seed=3), "2026-11-08T09:00:00+00:00")
    platform.config()
    data = platform.prepare("skips")
    assert [v.version for v in data.versions] == [before, newest]
    assert [(s.version, s.reason) for s in data.skipped] == [
        (changed, f"contract changed: column 'plan' is string there but category in the newest version {newest[:12]}"),
    ]
    assert [(c.column, c.note) for c in data.columns] == [
        ("plan", "absent from 1 older version(s): their 150 rows read as missing")
    ]
    platform.config(data={"versions": [changed, newest]})
    with pytest.raises(
        TrainingInputError, match=rf"dataset version {changed[:12]} \(data.versions\) cannot be combined"
    ):
        platform.prepare("refuses")
    # A config that does not use the column combines all of them; the column whose type differs
    # between versions is dropped, and the lineage says why.
    document = json.loads(platform.artifacts.get(f"configs/{DATASET}.json"))
    document.update(exclude=["plan"], data="all")
    platform.artifacts.put(f"configs/{DATASET}.json", json.dumps(document).encode(), "application/json")
    combined = platform.prepare("shared-columns")
    assert len(combined.versions) == 3
    assert [c.column for c in combined.columns] == ["plan"] and "type differs" in combined.columns[0].note


def test_past_data_max_rows_the_newest_versions_are_kept_and_named_ones_refused(platform: Platform) -> None:
    """A growing dataset under `all` keeps training on its newest rows; a named selection over the
    cap, or one version over it, is refused before any row is read."""
    oldest = platform.upload(_table(150, seed=1), "2026-11-01T09:00:00+00:00")
    newest = platform.upload(_table(150, seed=2), "2026-11-08T09:00:00+00:00")
    platform.config(data={"max_rows": 200})
    data = platform.prepare("newest-rows")
    assert [v.version for v in data.versions] == [newest]
    assert [(s.version, s.reason) for s in data.skipped] == [
        (oldest, "older than the newest 150 rows, and data.max_rows is 200")
    ]
    platform.config(data={"versions": [oldest, newest], "max_rows": 200})
    with pytest.raises(TrainingInputError, match=r"hold 300 rows, over data.max_rows \(200\)"):
        platform.prepare("too-big")
    platform.config(data={"max_rows": 100})
    with pytest.raises(TrainingInputError, match=r"hold 150 rows, over data.max_rows \(100\)"):
        platform.prepare("one-too-big")


def _manifest(version: str, table: Table, created_at: str) -> Manifest:
    return Manifest(
        dataset=DATASET,
        version=version,
        rows=int(next(iter(table.values())).shape[0]),
        columns=_columns(table),
        content_hash=version,
        data_key="d",
        report_key="r",
        source=SourceObject(bucket="b", key="k", size=1),
        contract_version=1,
        created_at=datetime.fromisoformat(created_at),
    )


def test_combining_keeps_duplicates_within_a_version_and_treats_missing_values_as_equal() -> None:
    """Duplicates inside one upload are the contract's business (duplicate_rows); across uploads a
    row, missing values and all, counts once. An int column with gaps (stored as float) joins one without."""
    a = _table(50, seed=1)
    a = _join(a, _rows(a, np.arange(5)))  # five rows twice within version a
    b = _join(_rows(a, np.arange(10)), _table(20, seed=4))
    b["churned"] = b["churned"].astype(np.float64)
    b["churned"][-1] = np.nan
    combined = combine_versions(
        DATASET,
        "all",
        1000,
        [(_manifest("a" * 64, a, "2026-11-01T00:00:00"), a), (_manifest("b" * 64, b, "2026-11-02T00:00:00"), b)],
    )
    assert [(v.rows, v.duplicates) for v in combined.data.versions] == [(55, 0), (30, 10)]
    assert combined.arrays["churned"].dtype.kind == "f" and combined.arrays["age"].shape == (75,)
    assert combined.arrays[f"{NULL_MASK_PREFIX}plan"].sum() == combined.columns[2].nulls
    assert [c.name for c in combined.columns] == ["age", "churned", "plan"]


def test_the_report_and_the_model_card_list_each_version_its_rows_and_its_duplicates() -> None:
    from mlops.registry.views import model_card
    from mlops.training.prepare import prepare
    from mlops.training.report import training_report_html

    a, b = _table(200, seed=1), _table(100, seed=2)
    b = _join(b, _rows(a, np.arange(30)))
    combined = combine_versions(
        DATASET,
        "since: 2026-11-01T00:00:00+00:00",
        5000,
        [
            (_manifest("a" * 64, a, "2026-11-01T00:00:00+00:00"), a),
            (_manifest("b" * 64, b, "2026-11-02T00:00:00+00:00"), b),
        ],
    )
    config = TrainingConfig.model_validate(
        {
            "dataset": DATASET,
            "problem_type": "binary",
            "label": "churned",
            "candidates": [{"name": "l", "estimator": "logistic_regression"}],
        }
    )
    meta = prepare(combined.arrays, combined.columns, config).meta
    page = training_report_html(
        config=config,
        meta=meta,
        candidates=[],
        selected=None,
        evaluation=None,
        parity=None,
        gates=None,
        data=combined.data.model_dump(mode="json"),
    )
    assert "<h2>Training data</h2>" in page and "since: 2026-11-01T00:00:00+00:00" in page
    assert f"<td><code>{'b' * 64}</code></td><td>2026-11-02T00:00:00+00:00</td>" in page
    assert '<td class="num">130</td><td class="num">30</td><td class="num">100</td>' in page
    card = model_card({"training_data": combined.data.model_dump(mode="json"), "dataset_version": "b" * 64})
    assert card["lineage"]["dataset_versions"] == [
        {"version": "a" * 64, "rows": 200, "duplicates": 0},
        {"version": "b" * 64, "rows": 130, "duplicates": 30},
    ]


def test_plan_versions_compares_with_the_newest_chosen_version() -> None:
    old, new = _table(10, seed=1, with_plan=False), _table(10, seed=2)
    config = load_training_config(
        "dataset: churn\nproblem_type: binary\nlabel: churned\nfeatures: [age]\n"
        "candidates: [{name: l, estimator: logistic_regression}]\n"
    )
    manifests = [_manifest("a" * 64, old, "2026-11-01T00:00:00"), _manifest("b" * 64, new, "2026-11-02T00:00:00")]
    used, skipped = plan_versions(config, manifests, strict=True)
    assert [m.version for m in used] == ["a" * 64, "b" * 64] and skipped == []  # 'plan' is not used


def test_a_column_retyped_between_int_and_float_combines_as_float(platform: Platform) -> None:
    """Found by a newcomer: a contract that retyped a count column from float to int made `all`
    skip every older version (400 of 8,200 rows trained on). int and float mix as float."""
    older = _table(150, seed=1)
    older["age"] = older["age"].round().astype(np.int64)
    first = platform.upload(
        older,
        "2026-11-01T09:00:00+00:00",
        [c.model_copy(update={"type": "int"}) if c.name == "age" else c for c in _columns(older)],
    )
    newest = platform.upload(_table(150, seed=2), "2026-11-08T09:00:00+00:00")
    platform.config()
    data = platform.prepare("widened")
    assert [v.version for v in data.versions] == [first, newest] and data.skipped == []
    assert [(c.column, c.note) for c in data.columns] == [
        ("age", "int in some versions, float in others: read as float")
    ]
