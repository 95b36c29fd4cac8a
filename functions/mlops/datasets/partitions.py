"""Partitioned dataset versions: an upload past one Lambda's reach kept as Parquet parts plus a
manifest written last (issue #20).

Layout. An upload of one file at or under `PartitionSettings.single_file_max_bytes` keeps today's
path (one `.npz`, `versioning.content_hash` as its version: unchanged; `partitioned_ingestion.route`
decides). A larger upload, or one of several files, becomes parts of `rows_per_part` rows each (the
last one shorter), cut from the upload's rows in order: by row count, never by input file, so the
same rows give the same parts however the upload was split into files. `rows_per_part` is the
setting's `part_bytes` (~128 MB) over the rows' average width, measured on the content (8 bytes per
number, bool or time, the UTF-8 length plus 4 per text cell): a sum over rows, so it is the same for
any split as well.

Names. A part is named by the hash of its content (`versioning.content_hash` of its columns as
stored), not of its Parquet bytes (which change with the writer's version); it lives at
`names.dataset_part_key`, so a Map child can write it before the version is known. The version is
the SHA-256 of the schema (column names and contract types, in order) and the ordered part hashes
(`partitioned_version_id`). The manifest lists each part's key, hash, rows, row offset, size and
byte digest; it is written after every part (`partitioned_ingestion.reduce`), so a version whose
manifest exists is complete.

The validation state machine's steps (`partitioned_ingestion`) use these: each slice of the upload
read and measured (`Segment`), `plan_parts` over the segments, each planned part built from its
pieces (`build_part`: Parquet bytes and hash) and validated (`mlops.contracts.partial_validation`),
then the version id (`partitioned_version_id`) and the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlops.contracts.coercion import as_arrow_strings
from mlops.datasets.versioning import (
    ColumnKind,
    PartEntry,
    column_arrays,
    content_hash,
)
from mlops.names import dataset_part_key, dataset_version_prefix

MB = 1 << 20
LAYOUT: Final = "parquet-parts/1"  # hashed into every partitioned version id: a new layout gets new ids

ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
    "string": pa.string(),
    "category": pa.string(),
}
_FIXED_WIDTH = 8  # bytes a number, bool or time counts for in a row's width
_TEXT_OVERHEAD = 4  # bytes a text cell counts for beyond its UTF-8 length (an Arrow offset)


@dataclass(frozen=True)
class PartitionSettings:
    """When an upload is partitioned, and how large its parts are (measured as in the module text)."""

    part_bytes: int = 128 * MB
    single_file_max_bytes: int = 256 * MB


@dataclass(frozen=True)
class Segment:
    """One input file of the upload, read: its rows and their measured width (bytes)."""

    rows: int
    bytes: int


@dataclass(frozen=True)
class Piece:
    """Rows `start` to `stop` (0-based, stop excluded) of one segment."""

    segment: int
    start: int
    stop: int


@dataclass(frozen=True)
class PlannedPart:
    index: int
    row_offset: int
    rows: int
    pieces: tuple[Piece, ...]


def measured_bytes(frame: pd.DataFrame, types: dict[str, ColumnKind]) -> int:
    """The rows' width as the module text counts it: a sum over rows, so any split adds up to it."""
    total = 0
    for position, name in enumerate(frame.columns):
        kind = types.get(str(name), "string")
        if kind in ("string", "category"):
            series = frame.iloc[:, position]
            text = as_arrow_strings(series)
            if text is None:
                text = pa.chunked_array([pa.array(series.astype("string").to_numpy(na_value=None), pa.string())])
            lengths = pc.sum(pc.binary_length(text)).as_py() or 0
            total += int(lengths) + _TEXT_OVERHEAD * len(frame)
        else:
            total += _FIXED_WIDTH * len(frame)
    return total


def rows_per_part(rows: int, measured: int, settings: PartitionSettings = PartitionSettings()) -> int:
    """Rows in each part but the last: about `part_bytes` of the rows' measured width."""
    if rows == 0 or measured == 0:
        return max(rows, 1)
    return max(1, rows * settings.part_bytes // measured)


def plan_parts(segments: Sequence[Segment], settings: PartitionSettings = PartitionSettings()) -> list[PlannedPart]:
    """Parts of `rows_per_part` rows over the segments' rows in order, each as its pieces."""
    rows = sum(s.rows for s in segments)
    size = rows_per_part(rows, sum(s.bytes for s in segments), settings)
    starts = np.cumsum([0] + [s.rows for s in segments])
    planned = []
    for index, offset in enumerate(range(0, rows, size)):
        stop = min(offset + size, rows)
        pieces = []
        for segment in range(len(segments)):
            low, high = max(offset, int(starts[segment])), min(stop, int(starts[segment + 1]))
            if low < high:
                pieces.append(Piece(segment, low - int(starts[segment]), high - int(starts[segment])))
        planned.append(PlannedPart(index=index, row_offset=offset, rows=stop - offset, pieces=tuple(pieces)))
    return planned


@dataclass(frozen=True)
class BuiltPart:
    entry: PartEntry
    body: bytes
    nulls: dict[str, int]


def build_part(
    dataset: str, planned: PlannedPart, segments: Sequence[pd.DataFrame], schema: Sequence[tuple[str, ColumnKind]]
) -> BuiltPart:
    """A planned part's rows from its pieces, as Parquet in the version's Arrow schema, with its hashes."""
    frame = pd.concat([segments[p.segment].iloc[p.start : p.stop] for p in planned.pieces], ignore_index=True)
    types = dict(schema)
    part_hash = content_hash(column_arrays(frame, types))
    body = parquet_bytes(frame, schema)
    entry = PartEntry(
        index=planned.index,
        key=dataset_part_key(dataset, part_hash),
        content_hash=part_hash,
        rows=planned.rows,
        row_offset=planned.row_offset,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
    )
    return BuiltPart(entry, body, {name: int(frame[name].isna().sum()) for name in frame.columns})


def parquet_bytes(frame: pd.DataFrame, schema: Sequence[tuple[str, ColumnKind]]) -> bytes:
    """Every part in one Arrow schema (an int column stays int64 with nulls), whatever its rows hold."""
    columns = []
    for position, (_, kind) in enumerate(schema):
        series = frame.iloc[:, position]
        if kind in ("string", "category"):
            series = series.astype("string")
        columns.append(pa.array(series, type=ARROW_TYPES[kind], from_pandas=True))
    table = pa.Table.from_arrays(columns, names=[name for name, _ in schema])
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def partitioned_version_id(schema: Sequence[tuple[str, ColumnKind]], part_hashes: Sequence[str]) -> str:
    """SHA-256 of the layout, the schema and the ordered part hashes."""
    document = {"layout": LAYOUT, "schema": [list(c) for c in schema], "parts": list(part_hashes)}
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


def manifest_key(dataset: str, version: str) -> str:
    return f"{dataset_version_prefix(dataset, version)}manifest.json"
