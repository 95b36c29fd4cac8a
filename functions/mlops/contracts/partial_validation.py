"""Validation of a partitioned dataset version: each part checked by the contract's own checks, the
parts' records merged into the single-file report (same keys, same findings, same row numbers).

Three steps, each a pure function a Step Functions state can run (the wiring is elsewhere):

1. `check_part` (one Distributed Map child per part): today's checks (`checks.column_checks`) on
   the part's rows, kept as a `PartSummary` (JSON): each result with the denominator of its share,
   its examples at global rows (the part's row offset added), and the figures that merge
   (`sketches`); plus one `BucketShare` per bucket: the 64-bit hash and global row of every row
   (for `duplicate_rows`) and of every valid value of each `unique` column, split by hash.
2. `find_repeats` (one child per bucket): equal hashes always land in one bucket, so each bucket
   finds its repeats alone: the rows equal to an earlier row, the distinct count, the first ones.
3. `merge_parts` (the reduce): the report, built by the same result functions as `validate`.

What merges exactly: row counts, columns present, types, nulls, min/max and their violations,
allowed values, regex, uniqueness and duplicate rows (by 64-bit hashes, as the single-file check:
a false repeat among a million rows has a probability of about 3e-8), label class counts and shares.
Mean and std merge by Chan's update: exact but for rounding (relative difference below 1e-12).
Sketch-based: a `distribution.quantile` check's observed value, read from a rank summary whose rank
error is at most `sketches.RankSummary.rank_error_bound` (0.0005 for a million rows in 8 parts),
so its verdict can differ from the single file's only when the exact quantile is that close to a
bound. Per-column distinct counts (not in today's report) come from HyperLogLog (0.81 %).

Where the single-file report differs by construction: in a `unique` column that also has
unparseable cells, its observed distinct count counts the unparseable values seen before the last
new valid one (a quirk of `value_codes`); here it counts distinct valid values only.

A part that failed to read (`PartFailure`) or is missing fails the whole version: the report has
a file problem naming the part and, for a CSV part, the line.

One module because a part's record and the reduce that reads it change together: every slot
`check_part` writes (`PartResult.slot`) is read back by `merge_parts`, in the report's order.
The second pass's hashing and buckets, which stand alone, are in `mlops.contracts.repeats`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops.contracts.checks import (
    class_counts,
    class_share_result,
    column_checks,
    distribution_result,
    duplicate_rows_result,
    presence,
    result,
    row_count,
)
from mlops.contracts.column_view import ColumnView, column_view
from mlops.contracts.model import DataContract, Expectation
from mlops.contracts.profile import (
    PART_SAMPLE_SIZE,
    ColumnProfile,
    merge_profiles,
    profile_undeclared,
    profile_view,
)
from mlops.contracts.reading import FileProblem, read_table, system_memory_pool
from mlops.contracts.repeats import (
    ROWS_KEY,
    BucketRepeats,
    BucketShare,
    HashedRows,
    Repeats,
    find_repeats,
    series_hashes,
    split_buckets,
    unique_hashes,
    view_hashes,
)
from mlops.contracts.report import (
    MAX_EXAMPLES,
    Example,
    ExpectationResult,
    FileProblemInfo,
    ValidationReport,
    json_safe,
)
from mlops.contracts.sketches import DEFAULT_LEVELS, HyperLogLog, Moments, RankSummary

DEFAULT_BUCKETS = 16
_MAX_WORKERS = 4
_SEED = np.uint64(0x345678)

Slot = Literal["presence", "summed", "unique", "distribution", "class_share", "row_count", "duplicate_rows"]
RowValues = Callable[[str, list[int]], list[Any]]  # (column, 1-based global rows) -> the cells as read


@dataclass(frozen=True)
class PartSettings:
    """How a part is checked: hash buckets for the second pass, rank-summary levels, distinct counts."""

    buckets: int = DEFAULT_BUCKETS
    levels: int = DEFAULT_LEVELS
    distinct_counts: bool = True


class PartRef(BaseModel):
    """Where a part's rows sit in the version: `row_offset` rows come before its first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    row_offset: int = Field(ge=0)
    rows: int = Field(ge=0)
    name: str


class PartFailure(BaseModel):
    """A part that could not be read: fails the whole version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    part: PartRef
    code: str
    message: str
    line: int | None = None
    byte_offset: int | None = None


class PartResult(BaseModel):
    """One result of a part, in the report's order; `slot` says how the parts' results merge."""

    model_config = ConfigDict(extra="forbid")

    slot: Slot
    result: ExpectationResult | None = None  # presence, summed and unique: the part's own result
    total: int = 0  # the denominator of its unexpected share in this part
    distribution: int | None = None  # its index in the contract's `distributions`


class ClassCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    count: int
    first_row: int  # 1-based, global


class PartSummary(BaseModel):
    """Everything the reduce needs from one part (JSON; its hashes travel as `BucketShare`s)."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    part: PartRef
    column_names: list[str]
    results: list[PartResult]
    moments: dict[str, Moments] = Field(default_factory=dict)
    quantiles: dict[str, RankSummary] = Field(default_factory=dict)
    classes: list[ClassCount] = Field(default_factory=list)
    complete_unique: list[str] = Field(default_factory=list, description="unique columns with no null or bad cell")
    distinct: dict[str, HyperLogLog] = Field(default_factory=dict)
    profiles: dict[str, ColumnProfile] = Field(default_factory=dict, description="for the report page")


@dataclass
class CheckedPart:
    """A part's summary and its shares of the buckets (one per bucket, in bucket order)."""

    summary: PartSummary
    shares: list[BucketShare] = field(default_factory=list)


class PartitionedValidation(BaseModel):
    """The merged report, and what the parts tell beyond it."""

    model_config = ConfigDict(extra="forbid")

    report: ValidationReport
    distinct_estimates: dict[str, int] = Field(default_factory=dict, description="HyperLogLog, 0.81 % error")
    quantile_rank_error_bound: dict[str, float] = Field(default_factory=dict)


# -- step 1: a part ---------------------------------------------------------------------------------


def check_part_bytes(
    data: bytes, part: PartRef, contract: DataContract, settings: PartSettings = PartSettings()
) -> CheckedPart | PartFailure:
    """Read a part (Parquet, or a CSV piece) and check it; a file problem is the part's failure."""
    try:
        frame = read_table(data, filename=part.name, contract=contract)
    except FileProblem as problem:
        return PartFailure(
            part=part, code=problem.code, message=problem.message, line=problem.line, byte_offset=problem.byte_offset
        )
    if len(frame) != part.rows:
        return PartFailure(
            part=part, code="part_rows", message=f"the part has {len(frame)} rows where its plan says {part.rows}"
        )
    return check_part(frame, part, contract, settings)


def check_part(
    frame: pd.DataFrame, part: PartRef, contract: DataContract, settings: PartSettings = PartSettings()
) -> CheckedPart:
    """The contract's checks on one part's rows, as a record that merges with the other parts'."""
    with system_memory_pool():
        return _PartChecker(frame, part, contract, settings).run()


@dataclass
class _ColumnPart:
    results: list[PartResult]
    row_hash: npt.NDArray[np.uint64] | None = None
    unique: HashedRows | None = None
    complete: bool = False
    moments: Moments | None = None
    quantiles: RankSummary | None = None
    classes: list[ClassCount] | None = None
    distinct: HyperLogLog | None = None
    profile: ColumnProfile | None = None


class _PartChecker:
    def __init__(self, frame: pd.DataFrame, part: PartRef, contract: DataContract, settings: PartSettings) -> None:
        self.frame = frame
        self.part = part
        self.contract = contract
        self.settings = settings
        self.rows = len(frame)
        self.names = [str(c) for c in frame.columns]
        self.hashing = contract.duplicate_rows.value != "allow"
        self.global_rows = np.arange(part.row_offset, part.row_offset + self.rows, dtype=np.int64)

    def run(self) -> CheckedPart:
        results = [PartResult(slot="presence", result=r) for r in presence(self.contract, self.names)]
        summary = PartSummary(part=self.part, column_names=self.names, results=results)
        row_hash = np.full(self.rows, _SEED, dtype=np.uint64)
        multiplier = 1000003
        unique: dict[str, HashedRows] = {}
        workers = max(1, min(len(self.names), os.cpu_count() or 1, _MAX_WORKERS))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # Columns in threads (their kernels release the GIL), consumed in column order.
            jobs = pool.map(self._column, range(len(self.names)))
            for name, done in zip(self.names, jobs, strict=True):
                summary.results.extend(done.results)
                if done.row_hash is not None:
                    with np.errstate(over="ignore"):
                        row_hash ^= done.row_hash
                        row_hash *= np.uint64(multiplier)
                    multiplier = (multiplier * 3 + 82520) % (1 << 63)
                if done.unique is not None:
                    unique[name] = done.unique
                if done.complete:
                    summary.complete_unique.append(name)
                if done.moments is not None:
                    summary.moments[name] = done.moments
                if done.quantiles is not None:
                    summary.quantiles[name] = done.quantiles
                if done.classes is not None:
                    summary.classes = done.classes
                if done.distinct is not None:
                    summary.distinct[name] = done.distinct
                if done.profile is not None:
                    summary.profiles[name] = done.profile
        if self.contract.row_count is not None:
            summary.results.append(PartResult(slot="row_count"))
        keys = dict(unique)
        if self.hashing:
            keys[ROWS_KEY] = HashedRows(row_hash, self.global_rows)
            summary.results.append(PartResult(slot="duplicate_rows"))
        return CheckedPart(summary, split_buckets(keys, self.part.index, self.settings.buckets))

    def _column(self, position: int) -> _ColumnPart:
        name = self.names[position]
        series = self.frame.iloc[:, position]
        spec = self.contract.column(name)
        if spec is None:
            hashes = series_hashes(series)
            distinct = HyperLogLog.of(hashes) if self.settings.distinct_counts else None
            profile = profile_undeclared(name, series, PART_SAMPLE_SIZE)
            return _ColumnPart([], row_hash=hashes if self.hashing else None, distinct=distinct, profile=profile)
        view = column_view(series, spec)
        checked, _ = column_checks(spec, view, self.rows, repeats=False)  # `find_repeats` counts them
        non_null = self.rows - int(np.count_nonzero(view.null))
        valid = view.valid_count
        done = _ColumnPart([], profile=profile_view(name, spec.type.value, view, PART_SAMPLE_SIZE))
        for item in checked:
            local = _at_global_rows(item, self.part.row_offset)
            total = self.rows if item.expectation == "column.not_null" else non_null
            total = total if item.expectation in ("column.type", "column.not_null") else valid
            slot: Slot = "unique" if item.expectation == "column.unique" else "summed"
            done.results.append(PartResult(slot=slot, result=local, total=total))
        hashed = view_hashes(view) if self.hashing or self.settings.distinct_counts else None
        if spec.unique is not None and spec.unique.value:
            values = unique_hashes(view, hashed)
            done.unique = HashedRows(values[view.valid], self.global_rows[view.valid])
            done.complete = view.bad is None and not view.null.any()
        statistics = {item.statistic for item in self.contract.distributions if item.column == name}
        numbers = _valid_numbers(view)
        if numbers is not None and statistics & {"mean", "std"}:
            done.moments = Moments.of(numbers)
        if numbers is not None and "quantile" in statistics:
            done.quantiles = RankSummary.of(numbers, self.settings.levels)
        for index, wanted in enumerate(self.contract.distributions):
            if wanted.column == name:
                done.results.append(PartResult(slot="distribution", distribution=index))
        if name == self.contract.label and self.contract.label_min_class_share is not None:
            offset = self.part.row_offset
            done.classes = [ClassCount(label=k, count=c, first_row=f + offset) for k, c, f in class_counts(view)]
            done.results.append(PartResult(slot="class_share"))
        if hashed is not None:
            done.row_hash = hashed if self.hashing else None
            done.distinct = HyperLogLog.of(hashed[~view.null]) if self.settings.distinct_counts else None
        return done


def _at_global_rows(item: ExpectationResult, offset: int) -> ExpectationResult:
    if not item.examples or offset == 0:
        return item
    return item.model_copy(update={"examples": [Example(row=e.row + offset, value=e.value) for e in item.examples]})


def _valid_numbers(view: ColumnView) -> npt.NDArray[np.float64] | None:
    """The values a distribution check computes on (as `checks.distribution` does); None: not numbers."""
    if view.numbers is None or view.numbers.dtype.kind not in "iufb":
        return None
    return np.asarray(view.numbers[view.valid], dtype=np.float64)


# -- step 3: the reduce ----------------------------------------------------------------------------


def merge_parts(
    contract: DataContract,
    parts: Sequence[PartSummary | PartFailure],
    buckets: Sequence[BucketRepeats],
    *,
    expected_parts: int,
    file_name: str,
    row_values: RowValues,
    levels: int = DEFAULT_LEVELS,
) -> PartitionedValidation:
    """The version's report from every part's summary and every bucket's repeats.

    `row_values` reads a few cells back from the parts (the examples of a `unique` check, at most
    `MAX_EXAMPLES` per column). Any failed, missing or misplaced part rejects the version.
    """
    problem = _parts_problem(parts, expected_parts)
    if problem is not None:
        report = ValidationReport.build(
            dataset=contract.dataset,
            contract_version=contract.version,
            file_name=file_name,
            rows=0,
            column_names=[],
            results=[],
            file_problem=problem,
        )
        return PartitionedValidation(report=report)
    summaries = sorted((p for p in parts if isinstance(p, PartSummary)), key=lambda s: s.part.index)
    repeats: dict[str, Repeats] = {}
    for bucket in buckets:
        for name, found in bucket.keys.items():
            repeats[name] = repeats.get(name, Repeats()).merge(found)
    return _Reduce(contract, summaries, repeats, row_values, levels).run(file_name)


def _parts_problem(parts: Sequence[PartSummary | PartFailure], expected: int) -> FileProblemInfo | None:
    failures = sorted((p for p in parts if isinstance(p, PartFailure)), key=lambda f: f.part.index)
    if failures:
        first = failures[0]
        where = f"part {first.part.index + 1} of {expected} ({first.part.name})"
        line = f", line {first.line}" if first.line is not None else ""
        others = f"; {len(failures) - 1} other part(s) failed too" if len(failures) > 1 else ""
        return FileProblemInfo(
            code=first.code,
            message=f"{where}{line}: {first.message}{others}",
            line=first.line,
            byte_offset=first.byte_offset,
        )
    summaries = sorted((p for p in parts if isinstance(p, PartSummary)), key=lambda s: s.part.index)
    indexes = [s.part.index for s in summaries]
    if indexes != list(range(expected)):
        missing = sorted(set(range(expected)) - set(indexes))
        what = f"part(s) {', '.join(str(i + 1) for i in missing)}" if missing else "a part reported twice"
        return FileProblemInfo(
            code="missing_part", message=f"{what} of {expected} reported no result: the version is incomplete"
        )
    offset = 0
    for summary in summaries:
        if summary.part.row_offset != offset:
            return FileProblemInfo(
                code="part_offsets",
                message=f"part {summary.part.index + 1} starts at row {summary.part.row_offset}, not {offset}",
            )
        offset += summary.part.rows
        if summary.column_names != summaries[0].column_names:
            return FileProblemInfo(
                code="parts_disagree",
                message=f"part {summary.part.index + 1}'s columns differ from part 1's",
            )
    return None


class _Reduce:
    def __init__(
        self,
        contract: DataContract,
        summaries: list[PartSummary],
        repeats: dict[str, Repeats],
        row_values: RowValues,
        levels: int,
    ) -> None:
        self.contract = contract
        self.summaries = summaries
        self.repeats = repeats
        self.row_values = row_values
        self.levels = levels
        self.rows = sum(s.part.rows for s in summaries)

    def run(self, file_name: str) -> PartitionedValidation:
        first = self.summaries[0]
        results: list[ExpectationResult] = []
        for position, slot in enumerate(first.results):
            same = [s.results[position] for s in self.summaries]
            results.append(self._merged(slot, same))
        distinct: dict[str, HyperLogLog] = {}
        for summary in self.summaries:
            for name, sketch in summary.distinct.items():
                distinct[name] = distinct[name].merge(sketch) if name in distinct else sketch
        report = ValidationReport.build(
            dataset=self.contract.dataset,
            contract_version=self.contract.version,
            file_name=file_name,
            rows=self.rows,
            column_names=first.column_names,
            results=results,
            profiles=self._profiles(first.column_names, distinct),
        )
        bounds = {
            name: RankSummary.union(
                [s.quantiles[name] for s in self.summaries if name in s.quantiles]
            ).rank_error_bound(self.levels)
            for name in first.quantiles
        }
        return PartitionedValidation(
            report=report,
            distinct_estimates={name: sketch.estimate() for name, sketch in distinct.items()},
            quantile_rank_error_bound=bounds,
        )

    def _profiles(self, names: list[str], distinct: dict[str, HyperLogLog]) -> list[ColumnProfile]:
        """Each column's profile over the parts; text columns' distinct counts from HyperLogLog."""
        profiles = []
        for name in names:
            parts = [s.profiles[name] for s in self.summaries if name in s.profiles]
            if not parts:
                continue
            merged = merge_profiles(parts)
            if merged.scale == "text" and name in distinct:
                merged = merged.model_copy(update={"distinct": distinct[name].estimate(), "distinct_estimated": True})
            profiles.append(merged)
        return profiles

    def _merged(self, slot: PartResult, same: list[PartResult]) -> ExpectationResult:
        if slot.slot == "presence":
            assert slot.result is not None
            return slot.result  # every part has the same columns
        if slot.slot == "summed":
            return _summed(same)
        if slot.slot == "unique":
            return self._unique(same)
        if slot.slot == "distribution":
            assert slot.distribution is not None
            return self._distribution(slot.distribution)
        if slot.slot == "class_share":
            return self._class_share()
        if slot.slot == "row_count":
            assert self.contract.row_count is not None
            return row_count(self.contract.row_count, self.rows)
        return self._duplicate_rows()

    def _unique(self, same: list[PartResult]) -> ExpectationResult:
        local = same[0].result
        assert local is not None and local.column is not None
        column = local.column
        found = self.repeats.get(column, Repeats())
        rows = [row for row, _ in found.firsts]
        values = self.row_values(column, rows) if rows else []
        return result(
            "column.unique",
            column,
            Expectation(mostly=local.mostly, severity=local.severity),
            unexpected=found.repeated,
            total=sum(p.total for p in same),
            observed=found.distinct,
            examples=[Example(row=row, value=json_safe(value)) for row, value in zip(rows, values, strict=True)],
            details=local.details,
        )

    def _distribution(self, index: int) -> ExpectationResult:
        item = self.contract.distributions[index]
        observed: float | None = None
        if item.statistic == "quantile":
            pieces = [s.quantiles[item.column] for s in self.summaries if item.column in s.quantiles]
            if pieces:
                observed = RankSummary.union(pieces).quantile(item.q if item.q is not None else 0.5)
        else:
            moments = Moments()
            for summary in self.summaries:
                if item.column in summary.moments:
                    moments = moments.merge(summary.moments[item.column])
            if moments.count:
                observed = moments.mean if item.statistic == "mean" else moments.std
        return distribution_result(item, observed)

    def _class_share(self) -> ExpectationResult:
        check = self.contract.label_min_class_share
        assert check is not None and self.contract.label is not None
        merged: dict[str, tuple[int, int]] = {}
        for summary in self.summaries:
            for item in summary.classes:
                count, first = merged.get(item.label, (0, item.first_row))
                merged[item.label] = (count + item.count, min(first, item.first_row))
        classes = sorted(((k, c, f) for k, (c, f) in merged.items()), key=lambda entry: entry[2])
        return class_share_result(check, self.contract.label, classes)

    def _duplicate_rows(self) -> ExpectationResult:
        check = self.contract.duplicate_rows
        if self.rows:
            for name in self.summaries[0].column_names:
                spec = self.contract.column(name)
                distinct = (
                    spec is not None
                    and spec.unique is not None
                    and spec.unique.value
                    and all(name in s.complete_unique for s in self.summaries)
                    and self.repeats.get(name, Repeats()).repeated == 0
                )
                if distinct:
                    return duplicate_rows_result(check, self.rows, 0, [], name)
        found = self.repeats.get(ROWS_KEY, Repeats())
        return duplicate_rows_result(check, self.rows, found.repeated, found.firsts, None)


def _summed(same: list[PartResult]) -> ExpectationResult:
    """Counted checks: unexpected and totals add up; the first examples are the earliest parts'."""
    results = [p.result for p in same if p.result is not None]
    first = results[0]
    unexpected = sum(r.unexpected_count for r in results)
    examples = [e for r in results for e in r.examples][:MAX_EXAMPLES]
    observed: Any = None
    if first.expectation == "column.not_null":
        observed = unexpected
    elif first.expectation in ("column.min", "column.max"):
        seen = [r.observed_value for r in results if r.observed_value is not None]
        pick = min if first.expectation == "column.min" else max
        observed = pick(seen, key=_order) if seen else None
    return result(
        first.expectation,
        first.column,
        Expectation(mostly=first.mostly, severity=first.severity),
        unexpected=unexpected,
        total=sum(p.total for p in same),
        observed=observed,
        examples=examples,
        details=first.details,
    )


def _order(value: Any) -> Any:
    """A min/max observed value as JSON holds it: a number, an ISO time (ordered as text), or inf."""
    if isinstance(value, str) and value in ("inf", "-inf"):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (0, float(value), "")


# -- all three in one process (tests, benchmarks, the local cloud's fallback) ---------------------------


def validate_parts(
    frames: Sequence[pd.DataFrame],
    contract: DataContract,
    *,
    file_name: str = "<parts>",
    settings: PartSettings = PartSettings(),
) -> PartitionedValidation:
    """Plan, check every part, find repeats per bucket and merge, in this process."""
    checked: list[CheckedPart] = []
    offset = 0
    for index, frame in enumerate(frames):
        part = PartRef(index=index, row_offset=offset, rows=len(frame), name=f"part-{index:05d}")
        checked.append(check_part(frame, part, contract, settings))
        offset += len(frame)
    buckets = [find_repeats(bucket, [c.shares[bucket] for c in checked]) for bucket in range(settings.buckets)]
    return merge_parts(
        contract,
        [c.summary for c in checked],
        buckets,
        expected_parts=len(frames),
        file_name=file_name,
        row_values=frame_row_values(frames),
        levels=settings.levels,
    )


def frame_row_values(frames: Sequence[pd.DataFrame]) -> RowValues:
    """Cells looked up in the parts' frames, in order (a part's rows follow the previous part's)."""
    starts = np.cumsum([0] + [len(f) for f in frames])

    def row_values(column: str, rows: list[int]) -> list[Any]:
        values = []
        for row in rows:
            index = int(np.searchsorted(starts, row - 1, side="right")) - 1
            values.append(frames[index][column].iloc[row - 1 - int(starts[index])])
        return values

    return row_values
