"""A model version's lineage: what started its run, the code and config that trained it, the version
it was compared with, and the dataset versions it learned from, back to the files people uploaded.

Assembled from the version's record and its run's record (neither is stored twice), shown by
`GET /v1/models/{name}/versions/{version}/lineage` and printed by `mlops models lineage`. A version
registered before a field was recorded (issue #22) shows it as unknown, never as something else.
The standard library only: the registry's records need no AWS SDK and no pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

UNKNOWN = "not recorded (registered before lineage was)"


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """One raw upload a dataset version was accepted from: where it is, and which S3 version of it."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> UploadedFile:
        return cls(
            bucket=str(document.get("bucket") or ""),
            key=str(document["key"]),
            version_id=_text(document.get("version_id")),
            etag=_text(document.get("etag")),
            size=_int(document.get("size")),
        )


@dataclass(frozen=True, kw_only=True)
class DatasetVersionUsed:
    """A dataset version the run trained on: its rows, those dropped as already in an older version,
    the contract version it passed and the uploads it came from."""

    version: str
    rows: int
    duplicates: int = 0
    contract_version: int | None = None
    uploads: tuple[UploadedFile, ...] = ()
    uploads_total: int = 0  # the record keeps the first uploads of a many-file version; data.json every one

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DatasetVersionUsed:
        uploads = tuple(UploadedFile.from_json(u) for u in document.get("uploads") or [])
        return cls(
            version=str(document["version"]),
            rows=int(document.get("rows") or 0),
            duplicates=int(document.get("duplicates") or 0),
            contract_version=_int(document.get("contract_version")),
            uploads=uploads,
            uploads_total=int(document.get("uploads_total") or len(uploads)),
        )


@dataclass(frozen=True, kw_only=True)
class Lineage:
    """One version's chain, newest link first: version, run, code, config, data, uploads."""

    model: str
    version: int
    status: str
    trigger: str | None  # manual | new_data | schedule | drift | performance
    reason: str | None
    parent_version: int | None  # the champion its gate compared it with; None: there was none
    code_asset_hash: str | None
    code_version: str | None
    config_key: str | None
    config_sha256: str | None
    run_id: str | None
    started_at: str | None
    dataset: str | None
    data_policy: str | None
    rows: int | None
    duplicates: int | None
    split_rows: Mapping[str, int] = field(default_factory=dict)
    dataset_versions: tuple[DatasetVersionUsed, ...] = ()
    dataset_versions_total: int = 0
    imported_file: Mapping[str, str] | None = None  # a model trained elsewhere: {key, sha256, file_name, format}

    @classmethod
    def from_records(cls, version: Mapping[str, Any], run: Mapping[str, Any] | None) -> Lineage:
        """From the version's record and its run's (None: the run record is gone or was never written),
        both as plain JSON (mlops.registry.views.plain)."""
        run = run or {}
        data = version.get("training_data") or run.get("training_data") or {}
        config = run.get("config") or {}
        used = tuple(DatasetVersionUsed.from_json(v) for v in data.get("versions") or [])
        return cls(
            model=str(version["model"]),
            version=int(version["version"]),
            status=str(version["status"]),
            trigger=_text(version.get("trigger") or run.get("trigger")),
            reason=_text(run.get("reason") or version.get("reason")),
            parent_version=_int(version.get("parent_version")),
            code_asset_hash=_text(version.get("code_asset_hash") or run.get("code_asset_hash")),
            code_version=_text(version.get("code_version")),
            config_key=_text(version.get("config_key") or config.get("key")),
            config_sha256=_text(version.get("config_sha256") or config.get("sha256")),
            run_id=_text(version.get("run_id")),
            started_at=_text(run.get("started_at")),
            dataset=_text(version.get("dataset") or data.get("dataset")),
            data_policy=_text(data.get("policy")),
            rows=_int(data.get("rows")),
            duplicates=_int(data.get("duplicates")),
            split_rows={str(k): int(v) for k, v in (version.get("split_rows") or run.get("rows") or {}).items()},
            dataset_versions=used,
            dataset_versions_total=int(data.get("versions_total") or len(used)),
            imported_file=version.get("imported_file") or None,
        )

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Lineage:
        """What `to_json` wrote (the API's answer, read back by the CLI)."""
        fields = dict(document)
        fields["dataset_versions"] = tuple(DatasetVersionUsed.from_json(v) for v in document["dataset_versions"])
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["dataset_versions"] = [asdict(v) for v in self.dataset_versions]
        return document

    def lines(self) -> list[str]:
        """The chain as a person reads it, from the version back to the files that were uploaded."""
        started = f"{self.trigger}: {self.reason}" if self.trigger and self.reason else self.reason or UNKNOWN
        if self.trigger and self.reason and self.reason.startswith(f"{self.trigger}:"):
            started = self.reason  # the reason already says it ("drift: dataset drift in ...")
        lines = [
            f"{self.model} v{self.version} ({self.status})",
            f"  started by: {started}",
            "  compared with: "
            + (f"v{self.parent_version}, the champion when it was gated" if self.parent_version else "no champion"),
            "  code: "
            + (f"asset {self.code_asset_hash}" if self.code_asset_hash else f"asset {UNKNOWN}")
            + (f" (package {self.code_version})" if self.code_version else ""),
            "  config: "
            + (f"{self.config_key} sha256 {self.config_sha256}" if self.config_key and self.config_sha256 else UNKNOWN),
            f"  run: {self.run_id or UNKNOWN}" + (f", started {self.started_at[:19]}" if self.started_at else ""),
        ]
        if self.imported_file:
            imported = self.imported_file
            lines.append(f"  imported file: {imported.get('file_name')} sha256 {imported.get('sha256')}")
        if self.split_rows:
            lines.append("    rows: " + ", ".join(f"{k} {v:,}" for k, v in self.split_rows.items()))
        data = f"  data: dataset {self.dataset or UNKNOWN}"
        if self.data_policy:
            data += f" (policy {self.data_policy})"
        if self.rows is not None:
            data += f", {self.rows:,} rows, {self.duplicates or 0:,} duplicates dropped"
        lines.append(data)
        if self.dataset_versions_total > len(self.dataset_versions):
            lines.append(f"    (the newest {len(self.dataset_versions)} of {self.dataset_versions_total} versions)")
        for used in self.dataset_versions:
            contract = f", contract v{used.contract_version}" if used.contract_version is not None else ""
            lines.append(
                f"    dataset version {used.version[:12]}: {used.rows:,} rows, {used.duplicates:,} duplicates{contract}"
            )
            for upload in used.uploads:
                detail = [f"S3 version {upload.version_id}"] if upload.version_id else []
                detail += [f"{upload.size:,} bytes"] if upload.size is not None else []
                lines.append(
                    f"      upload s3://{upload.bucket}/{upload.key}" + (f" ({', '.join(detail)})" if detail else "")
                )
            if used.uploads_total > len(used.uploads):
                lines.append(
                    f"      ... and {used.uploads_total - len(used.uploads):,} more uploads (the run's data.json)"
                )
            if not used.uploads:
                lines.append(f"      uploads: {UNKNOWN}")
        return lines
