"""Which dataset versions a run trains on, and how they become one table.

Data arrives in parts (a month per upload, a partial export, the same export twice): the config's
`data` policy chooses the accepted versions, oldest first; they are combined on the columns the
newest one has, and a row already present in an older version is counted once. What was used,
skipped and dropped is recorded, so a run says exactly which rows it learned from.

numpy and pydantic only: the prepare function runs it, and the CLI checks a config with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from mlops.datasets.versioning import (
    NULL_MASK_PREFIX,
    ColumnSchema,
    Manifest,
    SourceObject,
    column_mask,
    row_fingerprints,
)
from mlops.training.config import ConfigError, TrainingConfig
from mlops.training.data_policy import DataPolicy, match_versions
from mlops.training.features import CATEGORICAL_TYPES, DATETIME_TYPES, NUMERIC_TYPES

if TYPE_CHECKING:
    from mlops.datasets.records import DatasetVersion

NAMED_IN_REQUEST = "the dataset_version named in the training request"


class TrainingInputError(ValueError):
    """The run cannot start: no config, no dataset version, a config that does not fit the data."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionUsed(_Record):
    """One dataset version a run trained on; its rows are `first_row` onwards in the combined table."""

    version: str
    created_at: str
    rows: int
    duplicates: int = 0  # rows dropped: the same row is in an older version the run also used
    first_row: int = 0
    # Its lineage: the contract version it was validated against, and the raw uploads it was
    # accepted from (absent in runs recorded before issue #22).
    contract_version: int | None = None
    uploads: list[SourceObject] = []

    @property
    def used(self) -> int:
        return self.rows - self.duplicates


class VersionSkipped(_Record):
    version: str
    created_at: str
    rows: int
    reason: str


class ColumnNote(_Record):
    """A column the combination changed: absent from some versions (their rows read as missing), or
    dropped because versions disagree on its type and the config does not use it."""

    column: str
    note: str


class TrainingData(_Record):
    """The run's data lineage: stored with the run, its report and the version it registers."""

    dataset: str
    policy: str
    versions: list[VersionUsed]
    skipped: list[VersionSkipped] = []
    rows: int
    duplicates: int = 0
    max_rows: int
    columns: list[ColumnNote] = []

    def summary(self, keep: int = 20) -> dict[str, Any]:
        """The lineage for a registry item: the newest `keep` versions used and skipped, the first
        `keep` uploads of each, and the counts. data.json beside the run holds every one; a dataset
        with hourly uploads (or a partitioned upload of many files) would otherwise outgrow
        DynamoDB's 400 KB item."""
        document = self.model_dump(mode="json")
        document["versions_total"] = len(self.versions)
        document["skipped_total"] = len(self.skipped)
        document["versions"] = document["versions"][-keep:]
        document["skipped"] = document["skipped"][-keep:]
        for version in document["versions"]:
            version["uploads_total"] = len(version["uploads"])
            version["uploads"] = version["uploads"][:keep]
        return document

    @property
    def newest(self) -> str:
        """The newest version used: what drift compares with the newest accepted one."""
        return self.versions[-1].version


def choose_versions(policy: DataPolicy, records: Sequence[DatasetVersion], *, dataset: str) -> list[str]:
    """The ids `policy` chooses among a dataset's accepted versions (`records`, oldest first)."""
    if not records:
        raise TrainingInputError(f"dataset '{dataset}' has no version yet: upload data to raw/{dataset}/")
    ids = [r.version for r in records]
    if policy.versions is not None:
        matched, problems = match_versions(policy.versions, ids)
        if problems:
            raise ConfigError(problems, f"training config for dataset {dataset!r}")
        return [v for v in ids if v in matched]
    if policy.since is not None:
        since = policy.since
        chosen = [r.version for r in records if _accepted_at(r) >= since]
        if not chosen:
            newest = records[-1]
            raise TrainingInputError(
                f"dataset '{dataset}' has no version accepted since {since.isoformat()} (data.since); the newest, "
                f"{newest.version[:12]}, was accepted {newest.created_at}"
            )
        return chosen
    return ids[-1:] if policy.choice == "latest" else ids


def _accepted_at(record: DatasetVersion) -> datetime:
    moment = datetime.fromisoformat(record.created_at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def used_columns(config: TrainingConfig, newest: Manifest) -> list[str]:
    """The columns a run needs from every version: the label, the segment column and the features
    (by default every feature-typed column of the newest version not excluded or marked unique)."""
    named = [config.label, *([config.segment_column] if config.segment_column else [])]
    if config.features is not None:
        return [*named, *config.features]
    usable = (*NUMERIC_TYPES, *CATEGORICAL_TYPES, *DATETIME_TYPES)
    return named + [
        c.name
        for c in newest.columns
        if c.name not in named and c.name not in config.exclude and c.type in usable and not c.unique
    ]


def _mismatch(manifest: Manifest, newest: Manifest, needed: Sequence[str]) -> str | None:
    """Why `manifest` cannot join `newest`: the first column the config uses that it types
    differently. A column it lacks is no reason: its rows read as missing there."""
    theirs = {c.name: c.type for c in manifest.columns}
    ours = {c.name: c.type for c in newest.columns}
    for name in needed:
        if name in ours and name in theirs and theirs[name] != ours[name] and not _widens(theirs[name], ours[name]):
            return (
                f"column {name!r} is {theirs[name]} there but {ours[name]} in the newest version {newest.version[:12]}"
            )
    return None


def _widens(*types: str) -> bool:
    """int and float mix as float: a contract that retypes a count column must not drop every older row."""
    return set(types) <= {"int", "float"}


def _skipped(manifest: Manifest, reason: str) -> VersionSkipped:
    return VersionSkipped(
        version=manifest.version, created_at=manifest.created_at.isoformat(), rows=manifest.rows, reason=reason
    )


def plan_versions(
    config: TrainingConfig, manifests: Sequence[Manifest], *, strict: bool
) -> tuple[list[Manifest], list[VersionSkipped]]:
    """Which of the chosen versions (oldest first) can be combined with the newest, within the row cap.

    A version whose contract changed the type of a column the config uses is skipped (recorded with
    its reason) when the policy chose it by rule (all, since); when the config named it (`strict`)
    the run fails. Past data.max_rows, rule-chosen versions are taken newest first and the older
    ones skipped, so a growing dataset keeps training on its newest rows; named ones are refused."""
    newest = manifests[-1]
    needed = used_columns(config, newest)
    used: list[Manifest] = []
    skipped: list[VersionSkipped] = []
    for manifest in manifests:
        reason = _mismatch(manifest, newest, needed)
        if reason is None:
            used.append(manifest)
        elif strict:
            raise TrainingInputError(
                f"dataset version {manifest.version[:12]} (data.versions) cannot be combined with "
                f"{newest.version[:12]}: {reason}; leave it out of data.versions"
            )
        else:
            skipped.append(_skipped(manifest, f"contract changed: {reason}"))
    total = sum(m.rows for m in used)
    while total > config.data.max_rows and len(used) > 1 and not strict:
        oldest = used.pop(0)
        total -= oldest.rows
        skipped.append(
            _skipped(oldest, f"older than the newest {total:,} rows, and data.max_rows is {config.data.max_rows:,}")
        )
    if total > config.data.max_rows:
        raise TrainingInputError(
            f"the {len(used)} dataset version(s) chosen by data ({config.data.describe()}) hold {total:,} rows, over "
            f"data.max_rows ({config.data.max_rows:,}), which the prepare function can hold in memory: train on "
            "fewer with data: {since: <ISO date>} or data: {versions: [...]}, or sample the uploads"
        )
    skipped.sort(key=lambda v: v.created_at)
    return used, skipped


def _absent(values: NDArray[Any], rows: int) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """`rows` missing values of `values`'s kind (a column an older version does not have)."""
    kind = values.dtype.kind
    if kind == "f":
        filler: NDArray[Any] = np.full(rows, np.nan, dtype=values.dtype)
    elif kind == "M":
        filler = np.full(rows, np.datetime64("NaT"), dtype=values.dtype)
    elif kind in "iu":
        filler = np.full(rows, np.nan)  # joined with the present ints, the column becomes float with NaN
    else:
        filler = np.zeros(rows, dtype=values.dtype)
    return filler, np.ones(rows, dtype=bool)


@dataclass(frozen=True)
class CombinedData:
    arrays: dict[str, NDArray[Any]]
    columns: list[ColumnSchema]
    data: TrainingData


def combine_versions(
    dataset: str,
    policy: str,
    max_rows: int,
    parts: Sequence[tuple[Manifest, Mapping[str, NDArray[Any]]]],
    skipped: Sequence[VersionSkipped] = (),
    uploads: Mapping[str, Sequence[SourceObject]] | None = None,
) -> CombinedData:
    """One table from the versions (oldest first) on the newest's columns: a column an older version
    lacks reads as missing in its rows; one whose type differs between versions is dropped (plan
    already skipped versions that type a column the config uses differently). Each is noted. A row
    already in an older version is dropped (duplicates within one version are the contract's
    business and stay). `uploads` names each version's raw uploads (a partitioned version has many);
    a version it leaves out was accepted from its manifest's one `source`."""
    newest = parts[-1][0]

    def lineage(manifest: Manifest) -> dict[str, Any]:
        named = (uploads or {}).get(manifest.version) or [manifest.source]
        return {"contract_version": manifest.contract_version, "uploads": [u for u in named if u.key]}

    if len(parts) == 1:
        only = VersionUsed(
            version=newest.version, created_at=newest.created_at.isoformat(), rows=newest.rows, **lineage(newest)
        )
        data = TrainingData(
            dataset=dataset, policy=policy, versions=[only], skipped=list(skipped), rows=newest.rows, max_rows=max_rows
        )
        return CombinedData(dict(parts[0][1]), list(newest.columns), data)
    columns: list[ColumnSchema] = []
    notes: list[ColumnNote] = []
    sizes = [int(next(iter(arrays.values())).shape[0]) for _, arrays in parts]
    completed: list[dict[str, NDArray[Any]]] = [{} for _ in parts]
    declared = [{c.name: c.type for c in manifest.columns} for manifest, _ in parts]
    for newest_column in newest.columns:
        column = newest_column
        having = [i for i, (_, a) in enumerate(parts) if column.name in a and column.name in declared[i]]
        types = {declared[i][column.name] for i in having}
        if len(types) > 1 and _widens(*types):
            column = column.model_copy(update={"type": "float"})
            notes.append(ColumnNote(column=column.name, note="int in some versions, float in others: read as float"))
        elif types != {column.type}:
            note = f"dropped: its type differs between versions ({', '.join(sorted(types))})"
            notes.append(ColumnNote(column=column.name, note=note))
            continue
        columns.append(column)
        lacking = [i for i in range(len(parts)) if i not in having]
        if lacking:
            rows = sum(sizes[i] for i in lacking)
            notes.append(
                ColumnNote(
                    column=column.name,
                    note=f"absent from {len(lacking)} older version(s): their {rows:,} rows read as missing",
                )
            )
        present = parts[having[0]][1][column.name]
        for i, (_, part) in enumerate(parts):
            if i in having:
                completed[i][column.name] = part[column.name]
                completed[i][f"{NULL_MASK_PREFIX}{column.name}"] = column_mask(part, column.name)
            else:
                completed[i][column.name], completed[i][f"{NULL_MASK_PREFIX}{column.name}"] = _absent(present, sizes[i])
    names = [c.name for c in columns]
    # Equal rows have equal fingerprints (64 bits: a chance collision in 10M rows is ~3e-6).
    keys = np.concatenate([row_fingerprints(part, names) for part in completed])
    part_of_row = np.repeat(np.arange(len(parts)), sizes)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    keep = part_of_row == part_of_row[first][inverse.reshape(-1)]
    arrays: dict[str, NDArray[Any]] = {}
    combined: list[ColumnSchema] = []
    for column in columns:
        values = np.concatenate([part[column.name] for part in completed])[keep]
        arrays[column.name] = values
        missing = np.concatenate([part[f"{NULL_MASK_PREFIX}{column.name}"] for part in completed])[keep]
        if missing.any() and values.dtype.kind not in "fM":
            arrays[f"{NULL_MASK_PREFIX}{column.name}"] = missing
        combined.append(column.model_copy(update={"dtype": values.dtype.str, "nulls": int(missing.sum())}))
    used: list[VersionUsed] = []
    start = 0
    for (manifest, _), size, index in zip(parts, sizes, range(len(parts)), strict=True):
        dropped = int(np.count_nonzero(~keep[part_of_row == index]))
        used.append(
            VersionUsed(
                version=manifest.version,
                created_at=manifest.created_at.isoformat(),
                rows=size,
                duplicates=dropped,
                first_row=start,
                **lineage(manifest),
            )
        )
        start += size - dropped
    data = TrainingData(
        dataset=dataset,
        policy=policy,
        versions=used,
        skipped=list(skipped),
        rows=int(keep.sum()),
        duplicates=int((~keep).sum()),
        max_rows=max_rows,
        columns=notes,
    )
    return CombinedData(arrays, combined, data)
