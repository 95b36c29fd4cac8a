"""Dataset versions as the CLI shows them: each accepted upload's rows and contract version, and the
training runs (and the model versions they registered) whose data included it. Every command shows
a version's first 12 characters; any unique prefix names it back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry's record; `DatasetVersion` below is the CLI's view of one
    from mlops.datasets.records import DatasetVersion as DatasetRecord

SHOWN = 12  # characters of a version's hash printed by every command


class VersionPrefixError(ValueError):
    """A prefix that names no dataset version, or more than one; the message lists the candidates."""


def resolve_version(dataset: str, prefix: str, known: Sequence[str]) -> str:
    """The one accepted version of `dataset` that starts with `prefix` (case-insensitive)."""
    wanted = prefix.strip().lower()
    if not wanted:
        raise VersionPrefixError("give a dataset version (its hash, or the first characters `mlops datasets` shows)")
    hits = [version for version in known if version.lower().startswith(wanted)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        listed = ", ".join(v[:SHOWN] for v in known[-10:]) or "none yet"
        raise VersionPrefixError(
            f"no accepted version of dataset {dataset!r} starts with {prefix!r} (its versions: {listed}; "
            f"`mlops datasets show {dataset}` lists them)"
        )
    shown = max(SHOWN, _distinct_length(hits))
    raise VersionPrefixError(
        f"{prefix!r} names {len(hits)} versions of dataset {dataset!r}: {', '.join(h[:shown] for h in hits)}; "
        "give more characters"
    )


def _distinct_length(versions: Sequence[str]) -> int:
    """The shortest prefix length that tells these versions apart."""
    for length in range(1, max(len(v) for v in versions) + 1):
        if len({v[:length] for v in versions}) == len(versions):
            return length
    return max(len(v) for v in versions)


@dataclass(frozen=True)
class TrainedOn:
    """A training run whose data included a dataset version, and the model version it registered."""

    run_id: str
    status: str
    started_at: str
    model: str | None
    model_version: int | None


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: str
    created_at: str
    rows: int | None
    contract_version: int | None
    source_key: str | None
    manifest_key: str | None
    trained_on: tuple[TrainedOn, ...]

    def as_document(self) -> dict[str, Any]:
        return asdict(self)


def runs_using(runs: Iterable[Mapping[str, Any]]) -> dict[str, list[TrainedOn]]:
    """version -> the runs that trained on it (a run may combine several versions: its
    `training_data.versions`; runs recorded before that name one `dataset_version`)."""
    found: dict[str, list[TrainedOn]] = {}
    for run in runs:
        data = run.get("training_data") or {}
        used = [str(v.get("version")) for v in data.get("versions") or [] if v.get("version")]
        if not used and run.get("dataset_version"):
            used = [str(run["dataset_version"])]
        registered = run.get("version", run.get("registered_version"))
        entry = TrainedOn(
            run_id=str(run.get("run_id")),
            status=str(run.get("status") or "-"),
            started_at=str(run.get("started_at") or ""),
            model=run.get("model"),
            model_version=int(registered) if registered is not None else None,
        )
        for version in dict.fromkeys(used):
            found.setdefault(version, []).append(entry)
    return found


def dataset_versions(
    dataset: str, records: Iterable[DatasetRecord], runs: Iterable[Mapping[str, Any]]
) -> list[DatasetVersion]:
    """The dataset's versions, newest first, each with what trained on it (newest run first)."""
    using = runs_using(runs)
    versions = [
        DatasetVersion(
            dataset=dataset,
            version=r.version,
            created_at=r.created_at,
            rows=r.rows,
            contract_version=r.contract_version,
            source_key=r.source_key,
            manifest_key=r.manifest_key,
            trained_on=tuple(sorted(using.get(r.version, []), key=lambda t: t.started_at, reverse=True)),
        )
        for r in records
    ]
    return sorted(versions, key=lambda v: v.created_at, reverse=True)


def trained_text(trained_on: Sequence[TrainedOn]) -> str:
    """`v3 (run …), failed run …`: the model versions first, as a person asks "what used this"."""
    if not trained_on:
        return "-"
    parts = []
    for t in trained_on:
        if t.model_version is not None:
            parts.append(f"{t.model or ''} v{t.model_version}".strip())
        else:
            parts.append(f"{t.status} run {t.run_id}")
    return ", ".join(parts)


VERSIONS_HEADER = f"{'VERSION':<{SHOWN}}  {'CREATED':<19}  {'ROWS':>9}  {'CONTRACT':>8}  TRAINED"


def version_line(v: DatasetVersion) -> str:
    rows = f"{v.rows:,}" if v.rows is not None else "-"
    contract = f"v{v.contract_version}" if v.contract_version is not None else "-"
    return (
        f"{v.version[:SHOWN]:<{SHOWN}}  {v.created_at[:19]:<19}  {rows:>9}  {contract:>8}  {trained_text(v.trained_on)}"
    )


def used_version_line(used: Mapping[str, Any]) -> str:
    """A dataset version a run used (a model card's lineage, a run's training data): its id, its rows
    and those dropped as already in an older one."""
    return f"    {str(used['version'])[:SHOWN]}  {used['rows']:>9,} rows  {used.get('duplicates', 0):>7,} duplicates"
