"""The ingestion benchmark's data: a seeded 20-column table, clean and with a share of bad cells.

The same logical table is written as CSV and as Parquet (dates are text in both: the contract gives
them a strptime format; a dirty column that holds unparseable numbers is text in the Parquet file
too, as an export of the same sheet would be). Every bad cell is of one known kind, and the
generator keeps them (``truth.json``: counts per column and kind; ``truth.npz``: the 0-based rows),
so each tool's findings can be checked against what was put in.

Files are written once to a cache directory outside the checkout, keyed by the generator's
parameters and version, and reused by later runs.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

GENERATOR_VERSION = 2  # bump when the data changes, so cached files are not reused
SEED = 20260101
DIRTY_SHARE = 0.05
STATES = ("clean", "dirty")
FORMATS = ("csv", "parquet")

INT_COLUMNS = tuple(f"int_{i}" for i in range(6))
FLOAT_COLUMNS = tuple(f"float_{i}" for i in range(8))
INT_MIN, INT_MAX = 0, 999
FLOAT_MIN, FLOAT_MAX = -100.0, 200.0
PLANS = ("free", "pro", "enterprise")
COUNTRIES = ("DE", "FR", "US", "GB", "IT", "ES")
ID_REGEX = "C[0-9]{7}"
DATE_FORMAT = "%Y-%m-%d"
DATE_MIN, DATE_MAX = date(2020, 1, 1), date(2024, 12, 31)
NOTES = tuple(
    f"{word} {suffix}".strip()
    for word in ("called", "emailed", "upgrade asked", "complaint", "no answer", "renewal", "trial", "referral")
    for suffix in ("", "twice", "on Monday", "- follow up next week", "(see ticket)")
)

# The bad-cell kinds, named after the platform's expectation each one must trip.
NULL = "not_null"
TYPE = "type"
BELOW = "min"
ABOVE = "max"
NOT_ALLOWED = "allowed_values"
REGEX = "regex"
DUPLICATE = "unique"
KINDS = (TYPE, NULL, BELOW, ABOVE, NOT_ALLOWED, REGEX, DUPLICATE)
FIRST_OCCURRENCE = "unique_first"  # the rows whose ids were copied: valid, but repeated (kept in truth.npz only)

# Per column family: the kinds of bad cell, the picked rows split evenly between them, and the text
# put there (None: a null; a tuple alternates its values).
_SPOILS: dict[str, list[tuple[str, Any]]] = {
    # Regex misses are made from the row's own id ("X1234567", "c1234567", "C1234567A"), so they stay unique.
    "customer_id": [(NULL, None), (REGEX, "mangle"), (DUPLICATE, "copy")],
    "int": [(TYPE, ("abc", "1.5", "12x")), (BELOW, ("-5", "-1")), (ABOVE, ("1000", "2500")), (NULL, None)],
    "float": [(TYPE, ("1,5", "abc")), (BELOW, ("-1000.5", "-100.25")), (ABOVE, ("1000000.0", "200.5")), (NULL, None)],
    "plan": [(NOT_ALLOWED, ("other", "Pro")), (NULL, None)],
    "country": [(NOT_ALLOWED, ("XX", "de")), (NULL, None)],
    "note": [(NULL, None)],
    "active": [(TYPE, ("maybe", "2")), (NULL, None)],
    "signup": [(TYPE, ("not a date", "2021-13-45")), (BELOW, ("2019-06-30",)), (ABOVE, ("2031-01-01",)), (NULL, None)],
}


@dataclass(frozen=True)
class Dataset:
    """The four files of one size, and the bad cells of the dirty ones."""

    directory: Path
    rows: int

    def path(self, state: str, fmt: str) -> Path:
        return self.directory / f"{state}.{fmt}"

    def truth(self) -> dict[str, dict[str, int]]:
        """Bad cells per column and kind in the dirty files (kinds absent from a column are omitted)."""
        loaded: dict[str, dict[str, int]] = json.loads((self.directory / "truth.json").read_text())["columns"]
        return loaded

    def bad_rows(self) -> dict[str, npt.NDArray[np.int64]]:
        """``"<column>/<kind>"`` -> the 0-based rows of those bad cells (and ``"<column>/unique_first"``)."""
        with np.load(self.directory / "truth.npz") as npz:
            return {key: npz[key] for key in npz.files}


def family(column: str) -> str:
    if column in INT_COLUMNS:
        return "int"
    if column in FLOAT_COLUMNS:
        return "float"
    return column


def column_names() -> list[str]:
    return ["customer_id", *INT_COLUMNS, *FLOAT_COLUMNS, "plan", "country", "note", "active", "signup"]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "serverless-mlops" / "bench-data"


def ensure(rows: int, *, seed: int = SEED, dirty_share: float = DIRTY_SHARE, root: Path | None = None) -> Dataset:
    """The cached files for these parameters, generated first if they are not there yet."""
    name = f"ingestion-v{GENERATOR_VERSION}-rows{rows}-seed{seed}-dirty{dirty_share:g}"
    directory = (root or cache_root()) / name
    if (directory / "complete").exists():
        return Dataset(directory, rows)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f"{name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write(staging, rows, seed, dirty_share)
        (staging / "complete").write_text("")
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Dataset(directory, rows)


def _write(directory: Path, rows: int, seed: int, dirty_share: float) -> None:
    import pyarrow.parquet as pq

    clean = generate(rows, seed)
    dirty, bad = spoil(clean, seed, dirty_share)
    for state, table in (("clean", clean), ("dirty", dirty)):
        write_csv(table, directory / f"{state}.csv")
        pq.write_table(table, directory / f"{state}.parquet")
    counts: dict[str, dict[str, int]] = {}
    for key, positions in bad.items():
        column, kind = key.split("/")
        if kind in KINDS:
            counts.setdefault(column, {})[kind] = len(positions)
    parameters = {"rows": rows, "seed": seed, "dirty_share": dirty_share, "version": GENERATOR_VERSION}
    (directory / "truth.json").write_text(json.dumps({"parameters": parameters, "columns": counts}, indent=1))
    np.savez(directory / "truth.npz", **bad)  # type: ignore[arg-type]


def write_csv(table: Any, path: Path) -> None:
    """CSV as spreadsheets export it: quotes only around a field that needs them, nulls as empty fields.

    (Arrow's writer quotes every text field, which would turn the dirty file's numbers into "12".)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = []
    for column in table.columns:
        text = pc.if_else(column, "true", "false") if pa.types.is_boolean(column.type) else column
        text = text if pa.types.is_string(text.type) else pc.cast(text, pa.string())
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(pc.match_substring_regex(text, '[",\\r\\n]'), quoted, text)
        fields.append(pc.fill_null(text, ""))
    lines = pc.binary_join_element_wise(*fields, ",")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(table.column_names) + "\n")
        for chunk in lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]:
            out.write("\n".join(chunk.to_pylist()))
            out.write("\n")


def generate(rows: int, seed: int) -> Any:
    """The clean table (a pyarrow Table): unique ids, bounded numbers, allowed categories, ISO dates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if rows >= 10**7:
        raise ValueError("ids have 7 digits: at most 9,999,999 rows")
    rng = np.random.default_rng(seed)
    numbers = pc.cast(pa.array(rng.permutation(rows)), pa.string())
    ids = pc.binary_join_element_wise("C", pc.utf8_lpad(numbers, width=7, padding="0"), "")
    columns: dict[str, Any] = {"customer_id": ids}
    for name in INT_COLUMNS:
        columns[name] = pa.array(rng.integers(INT_MIN, INT_MAX + 1, rows))
    for name in FLOAT_COLUMNS:
        columns[name] = pa.array(np.round(np.clip(rng.normal(50, 30, rows), FLOAT_MIN, FLOAT_MAX), 3))
    columns["plan"] = pa.array(np.asarray(PLANS)[rng.choice(len(PLANS), rows, p=[0.6, 0.3, 0.1])])
    columns["country"] = pa.array(np.asarray(COUNTRIES)[rng.integers(0, len(COUNTRIES), rows)])
    columns["note"] = pa.array(np.asarray(NOTES)[rng.integers(0, len(NOTES), rows)])
    columns["active"] = pa.array(rng.random(rows) < 0.7)
    span = (DATE_MAX - DATE_MIN).days + 1
    days = rng.integers(0, span, rows).astype("timedelta64[D]") + np.datetime64(DATE_MIN.isoformat())
    columns["signup"] = pc.strftime(pa.array(days.astype("datetime64[s]")), format=DATE_FORMAT)
    return pa.table(columns)


def spoil(clean: Any, seed: int, share: float) -> tuple[Any, dict[str, npt.NDArray[np.int64]]]:
    """``share`` of every column's cells made bad, split evenly between the column's kinds of bad cell.

    Returns the dirty table (a spoiled column becomes text) and ``"<column>/<kind>"`` -> sorted rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed + 1)
    rows = clean.num_rows
    count = round(rows * share)
    columns: dict[str, Any] = {}
    bad: dict[str, npt.NDArray[np.int64]] = {}
    for name in clean.column_names:
        array = clean.column(name).combine_chunks()
        picked = rng.choice(rows, count, replace=False)
        spoils = _SPOILS[family(name)]
        text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
        if pa.types.is_boolean(array.type):
            text = pc.if_else(array, "true", "false")
        values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
        for (kind, replacement), part in zip(spoils, np.array_split(picked, len(spoils)), strict=True):
            rows_of_kind = np.sort(part).astype(np.int64)
            bad[f"{name}/{kind}"] = rows_of_kind  # (for repeated ids: replaced below by the later row of each pair)
            if replacement is None:
                values[rows_of_kind] = None
            elif replacement == "copy":
                # Each copied id comes from a distinct row that keeps its own, valid id.
                spoiled = np.zeros(rows, dtype=np.bool_)
                spoiled[picked] = True
                sources = rng.choice(np.flatnonzero(~spoiled), len(rows_of_kind), replace=False)
                values[rows_of_kind] = values[sources]
                # A repeat is the later row of a pair, as the platform and pandera (exclude_first) count it.
                later = np.maximum(rows_of_kind, sources)
                bad[f"{name}/{kind}"] = np.sort(later).astype(np.int64)
                bad[f"{name}/{FIRST_OCCURRENCE}"] = np.sort(np.minimum(rows_of_kind, sources)).astype(np.int64)
            elif replacement == "mangle":
                ids = values[rows_of_kind]
                mangled = [("X" + v[1:], "c" + v[1:], v + "A") for v in ids]
                values[rows_of_kind] = [m[i % 3] for i, m in enumerate(mangled)]
            else:
                cycle = np.asarray(replacement, dtype=object)
                values[rows_of_kind] = cycle[np.arange(len(rows_of_kind)) % len(cycle)]
        columns[name] = pa.array(values, pa.string())
    return pa.table(columns), bad
