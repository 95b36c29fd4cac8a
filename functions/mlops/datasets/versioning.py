"""Accepted data as a dataset version: named by the hash of its content, stored in a form that needs
no pandas to read (a numpy `.npz` of one array per column), described by a manifest written last.

Why npz: the training functions carry scikit-learn and scipy, which leave no room in Lambda's
250 MB for pandas or pyarrow; numpy reads `.npz` with `allow_pickle=False`, so loading a dataset
version can never execute code.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

# Column arrays are stored under their own names; a column with missing values also gets a mask.
NULL_MASK_PREFIX = "__null__:"
HASH_ALGORITHM = "sha256"

ColumnKind = Literal["int", "float", "bool", "string", "category", "datetime"]


class ColumnSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: ColumnKind
    dtype: str = Field(description="numpy dtype of the stored array")
    nulls: int = 0
    # What the contract promised about the column when the version was accepted: serving checks
    # prediction requests against it. Absent in versions written before these fields existed.
    nullable: bool | None = None
    min: float | None = None
    max: float | None = None
    allowed_values: list[str] | None = None
    unique: bool | None = None


class SourceObject(BaseModel):
    """The upload a dataset version came from."""

    model_config = ConfigDict(extra="forbid")

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int


class Manifest(BaseModel):
    """Everything needed to trust and read a dataset version; written after the data, so a version
    whose manifest exists is complete."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    version: str = Field(description="content hash (sha256 hex) of the data")
    rows: int
    columns: list[ColumnSchema]
    label: str | None = None
    content_hash: str
    hash_algorithm: str = HASH_ALGORITHM
    data_key: str
    report_key: str
    data_format: Literal["npz"] = "npz"
    source: SourceObject
    contract_version: int
    created_at: datetime
    validation: dict[str, Any] = Field(default_factory=dict, description="the report's summary figures")


class PartEntry(BaseModel):
    """One part as the manifest lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    key: str
    content_hash: str = Field(description="versioning.content_hash of the part's columns as stored")
    rows: int
    row_offset: int
    size: int = Field(description="bytes of the Parquet object")
    sha256: str = Field(description="of the Parquet object's bytes: a reader checks what it fetched")
    npz_key: str | None = Field(
        default=None, description="the part's columns as `data.npz` holds a version's: what training reads"
    )


class PartitionedManifest(BaseModel):
    """A partitioned version: its parts in order; written after them, so one that exists is complete."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    version: str = Field(description="partitioned_version_id of the schema and the part hashes")
    layout: Literal["parquet-parts/1"] = "parquet-parts/1"
    rows: int
    rows_per_part: int
    columns: list[ColumnSchema]
    parts: list[PartEntry]
    label: str | None = None
    hash_algorithm: str = HASH_ALGORITHM
    report_key: str
    sources: list[SourceObject]
    contract_version: int
    created_at: datetime
    validation: dict[str, Any] = Field(default_factory=dict, description="the report's summary figures")


class ColumnBuildError(ValueError):
    """A column's values could not be stored: names the column and, when known, the first such row (1-based)."""

    def __init__(self, column: str, reason: str, row: int | None = None) -> None:
        self.column = column
        self.reason = reason
        self.row = row
        where = f"column '{column}'" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {reason}")


# Stored datetimes are nanoseconds since 1970 in an int64: the instants it can hold.
_NS_FIRST = np.datetime64("1677-09-21T00:12:43.145225", "us")
_NS_LAST = np.datetime64("2262-04-11T23:47:16.854775", "us")


def column_arrays(frame: Any, types: dict[str, ColumnKind]) -> dict[str, NDArray[Any]]:
    """One numpy array per column (plus null masks), in a dtype numpy can load without pickle.

    `frame` holds typed columns (`mlops.contracts.parsed_column`): a value that cannot be stored
    raises ColumnBuildError naming the column and the first such row, never a bare numpy error.
    """
    arrays: dict[str, NDArray[Any]] = {}
    for name in frame.columns:
        kind = types.get(name, "string")
        series = frame[name]
        mask = series.isna().to_numpy()
        try:
            values = _column_values(series, kind, bool(mask.any()))
        except ColumnBuildError:
            raise
        except Exception as error:  # any failure to convert is about this column's values
            raise ColumnBuildError(str(name), str(error), _first_failing_row(series, kind)) from error
        arrays[str(name)] = values
        if mask.any() and kind not in ("int", "float", "datetime"):
            arrays[f"{NULL_MASK_PREFIX}{name}"] = mask
    return arrays


def _column_values(series: Any, kind: ColumnKind, has_missing: bool) -> NDArray[Any]:
    if kind in ("int", "float"):
        return np.asarray(
            series.to_numpy(dtype="float64" if has_missing or kind == "float" else "int64", na_value=np.nan)
        )
    if kind == "bool":
        return np.asarray(series.fillna(False).to_numpy(dtype=bool))
    if kind == "datetime":
        if series.dtype.kind == "M":  # numpy would wrap an instant past nanoseconds' range silently
            stamps = series.to_numpy(dtype="datetime64[us]")
            outside = ~np.isnat(stamps) & ((stamps < _NS_FIRST) | (stamps > _NS_LAST))
            if outside.any():
                row = int(np.argmax(outside))
                raise ColumnBuildError(
                    str(series.name),
                    f"{stamps[row]} is outside the dates a dataset version stores "
                    f"({_NS_FIRST.astype('datetime64[D]')} to {_NS_LAST.astype('datetime64[D]')})",
                    row + 1,
                )
        return np.asarray(series.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT")))
    return np.asarray(series.astype("string").fillna("").to_numpy(dtype=str))


def _first_failing_row(series: Any, kind: ColumnKind) -> int | None:
    """The 1-based row of the first value that does not convert, by halving (a few conversions of
    shrinking slices); None when the column converts slice by slice (the failure was not one value's)."""

    def fails(part: Any) -> bool:
        try:
            _column_values(part, kind, bool(part.isna().to_numpy().any()))
        except Exception:
            return True
        return False

    low, high = 0, len(series)
    if high == 0 or not fails(series):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if fails(series.iloc[low:middle]):
            high = middle
        else:
            low = middle
    return low + 1 if fails(series.iloc[low:high]) else None


def content_hash(arrays: dict[str, NDArray[Any]]) -> str:
    """Hash of the data itself (names, dtypes, shapes, values in column order), not of the file bytes:
    the same content uploaded again, as CSV or Parquet, gets the same version."""
    digest = hashlib.sha256()
    for name, values in arrays.items():
        contiguous = np.ascontiguousarray(values)
        header = f"{name}\x00{contiguous.dtype.str}\x00{contiguous.shape}\x00".encode()
        digest.update(len(header).to_bytes(8, "little"))
        digest.update(header)
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def column_mask(arrays: Mapping[str, NDArray[Any]], name: str) -> NDArray[np.bool_]:
    """Missing values of a stored column: NaN/NaT in numbers and datetimes, the null mask otherwise."""
    values = arrays[name]
    mask = arrays.get(f"{NULL_MASK_PREFIX}{name}")
    if mask is not None:
        return np.asarray(mask, dtype=bool)
    if values.dtype.kind == "f":
        return np.asarray(np.isnan(values), dtype=bool)
    if values.dtype.kind == "M":
        return np.asarray(np.isnat(values), dtype=bool)
    return np.zeros(values.shape[0], dtype=bool)


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finalizer, elementwise (uint64 arithmetic wraps, as the algorithm needs)."""
    z = values + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _value_hashes(values: NDArray[Any], missing: NDArray[np.bool_]) -> NDArray[np.uint64]:
    """A 64-bit hash per value that depends on the value only (not on the array's dtype width):
    numbers by their float64 value, datetimes by their nanoseconds, text by its characters."""
    kind = values.dtype.kind
    with np.errstate(all="ignore"):
        if kind in "biuf":
            bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 is 0.0
        elif kind == "M":
            bits = np.asarray(values, dtype="datetime64[ns]").view(np.int64).view(np.uint64)
        else:
            uniques, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
            bits = np.array([_text_hash(str(u)) for u in uniques.tolist()], dtype=np.uint64)[inverse.reshape(-1)]
    hashes = _mix(np.asarray(bits, dtype=np.uint64))
    hashes[missing] = np.uint64(0)
    return hashes


def row_fingerprints(arrays: Mapping[str, NDArray[Any]], columns: list[str]) -> NDArray[np.uint64]:
    """A 64-bit fingerprint per row of `columns` (in that order): equal rows give equal fingerprints
    in any dataset version and any run, so a later run can tell which of its rows an earlier model
    was fitted on. Missing equals missing."""
    n = int(arrays[columns[0]].shape[0]) if columns else 0
    fingerprint = np.zeros(n, dtype=np.uint64)
    for name in columns:
        salt = np.uint64(_text_hash(name))
        with np.errstate(all="ignore"):
            fingerprint = _mix(fingerprint ^ salt ^ _value_hashes(arrays[name], column_mask(arrays, name)))
    return fingerprint


def npz_bytes(arrays: dict[str, NDArray[Any]]) -> bytes:
    """A deterministic `.npz` (fixed zip timestamps), so equal content gives equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, values in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(values), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def npz_with_meta(arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """Arrays (None ones left out) plus a small JSON document, as one deterministic `.npz`: how a
    pipeline step hands arrays and their description to the next."""
    stored = {name: np.asarray(value) for name, value in arrays.items() if value is not None}
    stored["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return npz_bytes(stored)


def read_npz_with_meta(data: bytes) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """(meta, arrays) of an `npz_with_meta` object; never unpickles."""
    arrays = read_npz(data)
    return json.loads(arrays.pop("meta").tobytes().decode()), arrays


def read_npz(data: bytes) -> dict[str, NDArray[Any]]:
    """Columns of a dataset version; never unpickles."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@dataclass(frozen=True)
class StoredVersion:
    """A dataset version as training reads it: its manifest (a partitioned version's shown in the
    single-file shape) and the `.npz` objects that hold its rows, in order."""

    manifest: Manifest
    data_keys: tuple[str, ...]
    sources: tuple[SourceObject, ...] = ()  # every raw upload it was accepted from (a training run's lineage)


def stored_version(document: bytes) -> StoredVersion:
    """Either layout's `manifest.json`. A partitioned version lists its parts; each part's `npz_key`
    holds its columns as a single-file version's `data.npz` does (`concatenate_parts` joins them)."""
    raw = json.loads(document)
    if "parts" not in raw:
        manifest = Manifest.model_validate(raw)
        return StoredVersion(manifest, (manifest.data_key,), (manifest.source,))
    parts = PartitionedManifest.model_validate(raw)
    keys = tuple(p.npz_key for p in parts.parts if p.npz_key)
    if len(keys) != len(parts.parts):
        raise ValueError(f"dataset version {parts.version[:12]} has parts without an npz copy: training cannot read it")
    source = parts.sources[0] if parts.sources else SourceObject(bucket="", key="", size=0)
    view = Manifest(
        dataset=parts.dataset,
        version=parts.version,
        rows=parts.rows,
        columns=parts.columns,
        label=parts.label,
        content_hash=parts.version,
        data_key=keys[0] if keys else "",
        report_key=parts.report_key,
        source=source,
        contract_version=parts.contract_version,
        created_at=parts.created_at,
        validation=parts.validation,
    )
    return StoredVersion(view, keys, tuple(parts.sources))


def concatenate_parts(parts: Sequence[Mapping[str, NDArray[Any]]]) -> dict[str, NDArray[Any]]:
    """The parts' columns end to end, as one `data.npz` of the same rows holds them: a column with a
    missing value in any part becomes float64 (an int column) or gets a null mask, as `column_arrays`
    does for one file."""
    if len(parts) == 1:
        return dict(parts[0])
    names = [name for name in parts[0] if not name.startswith(NULL_MASK_PREFIX)]
    arrays: dict[str, NDArray[Any]] = {}
    for name in names:
        arrays[name] = np.concatenate([p[name] for p in parts])
        mask = f"{NULL_MASK_PREFIX}{name}"
        if any(mask in p for p in parts):
            arrays[mask] = np.concatenate([p.get(mask, np.zeros(p[name].shape[0], dtype=bool)) for p in parts])
    return arrays


def read_version_arrays(version: StoredVersion, read: Callable[[str], bytes]) -> dict[str, NDArray[Any]]:
    """A version's columns, read with numpy alone (the training layer has no pyarrow)."""
    return concatenate_parts([read_npz(read(key)) for key in version.data_keys])
