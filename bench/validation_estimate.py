"""The issue's AWS target for partitioned validation, "200M rows x 20 columns (20 GB CSV) in <= 10
minutes for <= $0.50", estimated from durations measured here (issue #20).

Measured (`measure_slice`): one CSV slice of the benchmark's table driven through the validation
state machine's own steps (`mlops.datasets.partitioned_ingestion`: plan, read_slice, cut,
check_one_part, bucket_repeats) on moto's in-process S3, each step timed, and every S3 request
counted by operation; plus the plan's quote scan (`record_cuts.csv_ranges`) over the same bytes,
whose time per byte the plan pays for the whole 20 GB. The merge's time per part comes from the
partitions benchmark (`merge_parts` of its 8 parts).

Estimated (`aws_estimate`): the upload cut into slices of the deployed `slice_mb`; each slice's
step times scaled by its rows (200M rows over the slices) and billed at the step's deployed memory
(`infra.constructs.validation.STEPS`) at Lambda arm64 prices (`cost_model.Prices`), with its S3
bytes moved at an assumed rate; Distributed Map children in waves of the deployed
`max_concurrency`, each wave as long as its slowest child; Standard state transitions and S3
requests at list prices. What is assumed is printed in the figure's note (`Assumptions.note`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from moto import mock_aws

from bench.cost_model import Prices, lambda_cost
from infra.constructs.validation import STEPS
from infra.settings import IngestionSettings
from mlops.buckets import ArtifactsBucket, CuratedBucket, QuarantineBucket, RawBucket
from mlops.datasets import partitioned_ingestion as steps
from mlops.datasets.ingestion import IngestionServices
from mlops.datasets.upload_plan import MB, Slice, read_items
from mlops.record_cuts import csv_ranges

T = TypeVar("T")
ESTIMATE_ROWS = 200_000_000
ESTIMATE_BYTES = 20 * 10**9  # the "20 GB CSV"
TARGET_MINUTES = 10.0
TARGET_DOLLARS = 0.50
DEPLOYED = IngestionSettings.model_validate({})  # the stack's defaults: slice_mb, part_mb, max_concurrency
_BUCKETS = ("raw", "artifacts", "curated", "quarantine")
_GETS = ("GetObject", "HeadObject", "ListObjectsV2")
_PUTS = ("PutObject", "CopyObject")


@dataclass(frozen=True)
class StepRun:
    """One step's measured run: wall and CPU seconds (every thread of this process, moto's S3 too),
    and S3 requests by operation. The estimate bills the CPU seconds: as if the function had one
    core, and unlike the wall time, hardly lengthened by other work on this shared machine."""

    seconds: float
    cpu_seconds: float
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def gets(self) -> int:
        return sum(self.requests[name] for name in _GETS)

    @property
    def puts(self) -> int:
        return sum(self.requests[name] for name in _PUTS)


@dataclass(frozen=True)
class SliceTimings:
    """One CSV slice through the validation steps, measured here."""

    slice_bytes: int
    rows: int
    scan_seconds: float  # CPU seconds of the plan's quote scan over `slice_bytes` (csv_ranges)
    read: StepRun  # read_slice
    cut: StepRun
    check: StepRun  # check_one_part, every part cut from this slice
    parts: int
    buckets: StepRun  # bucket_repeats, every bucket
    bucket_count: int
    staged_bytes: int  # what read_slice wrote (the slice as Parquet)
    part_bytes: int  # what check_one_part wrote (the part's Parquet and npz, its shares and record)
    share_bytes: int  # of which the hash buckets' shares, which bucket_repeats reads
    merge_seconds_per_part: float  # merge_parts, from the partitions benchmark


@dataclass(frozen=True)
class Assumptions:
    """What is not measured here, stated in the figure's note."""

    s3_bytes_per_second: float = 100e6  # one Lambda reading or writing one object
    copies_at_once: int = steps.PART_COPIES_AT_ONCE  # the reduce's server-side copies of the accepted parts at once
    seconds_per_wave: float = 2.0  # a Map's children starting (cold start, Map scheduling), per wave
    transitions_per_child: int = 3  # a Distributed Map child execution: start, its task, end
    transitions_per_iteration: int = 2  # an inline Map iteration: its task, its end
    transitions_outside_maps: int = 12  # plan, cut, reduce, the choices and the catches

    def note(self) -> str:
        return (
            f"CPU seconds measured on this x86_64 machine (not Graviton) billed as if on one core, "
            f"moto's in-process S3 included; S3 transfer at {self.s3_bytes_per_second / 1e6:.0f} MB/s per object, "
            f"the reduce's server-side copies of the parts at that rate, {self.copies_at_once} at a time, "
            f"{self.seconds_per_wave:g} s of start-up per Map wave; step times scale with rows"
        )


@dataclass(frozen=True)
class ValidationEstimate:
    """Minutes and dollars for the issue's upload, with the lines they add up from."""

    slices: int
    parts: int
    minutes_by_step: dict[str, float]
    dollars_by_line: dict[str, float]

    @property
    def minutes(self) -> float:
        return sum(self.minutes_by_step.values())

    @property
    def dollars(self) -> float:
        return sum(self.dollars_by_line.values())


def measure_slice(data: bytes, contract_yaml: str, dataset: str, merge_seconds_per_part: float) -> SliceTimings:
    """`data` (one CSV file no larger than a slice) through the validation steps on moto's S3."""
    settings = DEPLOYED
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for name in _BUCKETS:
            s3.create_bucket(Bucket=name)
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="artifacts", Key=f"contracts/{dataset}.yaml", Body=contract_yaml.encode())
        key = f"raw/{dataset}/upload.csv"
        stored = s3.put_object(Bucket="raw", Key=key, Body=data)
        calls: Counter[str] = Counter()
        s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
        services = steps.PartitionedServices(
            IngestionServices(
                raw=RawBucket(s3, "raw"),
                artifacts=ArtifactsBucket(s3, "artifacts"),
                curated=CuratedBucket(s3, "curated"),
                quarantine=QuarantineBucket(s3, "quarantine"),
                registry=None,  # type: ignore[arg-type]  # only the reduce records anything
                notify=lambda subject, body: None,
                start_training=lambda request, run: None,
            ),
            steps.PartitioningSettings(slice_bytes=settings.slice_mb * MB, part_bytes=settings.part_mb * MB),
        )
        upload = steps.upload_for(key, "raw", stored["VersionId"], len(data))
        run = steps.ValidationRun(dataset=dataset, run=steps.run_name(upload), upload=upload)
        planned = steps.plan(run, services)
        assert planned.problem is None and planned.slices == 1, planned
        item = read_items(services.artifacts.get(planned.items_key), Slice)[0]

        def step(work: Callable[[], T]) -> tuple[StepRun, T]:
            calls.clear()
            started, cpu = time.perf_counter(), time.process_time()
            value = work()
            return StepRun(time.perf_counter() - started, time.process_time() - cpu, Counter(calls)), value

        read, record = step(lambda: steps.read_slice(run, item, services))
        assert record.failure is None, record.failure
        staged_bytes = _stored_bytes(s3, steps.WorkFolder(run).staged(0))
        cut, outcome = step(lambda: steps.cut(run, 1, services))
        parts = read_items(services.artifacts.get(outcome.items_key), steps.PartItem)
        before = _folder_bytes(s3, steps.WorkFolder(run).prefix)
        check, _ = step(lambda: [steps.check_one_part(run, part, services) for part in parts])
        part_bytes = _folder_bytes(s3, steps.WorkFolder(run).prefix) - before
        share_bytes = _folder_bytes(s3, steps.WorkFolder(run).prefix + "shares/")
        buckets, _ = step(lambda: [steps.bucket_repeats(run, b, len(parts), services) for b in outcome.buckets])
    started = time.process_time()
    csv_ranges(_Bytes(data), 4 * MB)  # small slices, so the scan is the plan's over a big file
    return SliceTimings(
        slice_bytes=len(data),
        rows=record.rows,
        scan_seconds=time.process_time() - started,
        read=read,
        cut=cut,
        check=check,
        parts=len(parts),
        buckets=buckets,
        bucket_count=len(outcome.buckets),
        staged_bytes=staged_bytes,
        part_bytes=part_bytes,
        share_bytes=share_bytes,
        merge_seconds_per_part=merge_seconds_per_part,
    )


def aws_estimate(
    measured: SliceTimings,
    *,
    rows: int = ESTIMATE_ROWS,
    size: int = ESTIMATE_BYTES,
    settings: IngestionSettings | None = None,
    prices: Prices | None = None,
    assumed: Assumptions = Assumptions(),
) -> ValidationEstimate:
    """Minutes and dollars for `rows` in a `size`-byte CSV, from one measured slice (module text)."""
    settings = settings or DEPLOYED
    prices = prices or Prices()
    rate = assumed.s3_bytes_per_second
    slices = math.ceil(size / (settings.slice_mb * MB))
    scale = rows / slices / measured.rows  # a slice here -> a slice there, by rows
    by_rows = slices * scale  # measured slices' worth of rows there
    parts = max(1, math.ceil(measured.parts * by_rows))
    per_part = by_rows / parts  # a measured slice's work per part there
    read_child = measured.read.cpu_seconds * scale + (size / slices + measured.staged_bytes * scale) / rate
    check_child = (measured.check.cpu_seconds + (measured.staged_bytes + measured.part_bytes) / rate) * per_part
    bucket_child = (measured.buckets.cpu_seconds + measured.share_bytes / rate) * by_rows / measured.bucket_count
    waves = {
        "read": math.ceil(slices / settings.max_concurrency),
        "check": math.ceil(parts / settings.max_concurrency),
        "buckets": math.ceil(measured.bucket_count / settings.max_concurrency),
    }
    plan = size / rate + measured.scan_seconds * size / measured.slice_bytes
    cut = measured.cut.cpu_seconds * slices
    # The part's Parquet and npz (what check_one_part wrote but its shares and record) are copied.
    copied = (measured.part_bytes - measured.share_bytes) * by_rows
    reduce = measured.merge_seconds_per_part * parts + copied / rate / assumed.copies_at_once
    minutes = {
        "plan (reads and scans the whole file)": plan / 60,
        "read slices": waves["read"] * (read_child + assumed.seconds_per_wave) / 60,
        "cut": cut / 60,
        "check parts": waves["check"] * (check_child + assumed.seconds_per_wave) / 60,
        "repeats per bucket": waves["buckets"] * (bucket_child + assumed.seconds_per_wave) / 60,
        "reduce (merge, copy parts)": reduce / 60,
    }

    def billed(step: str, seconds: float, invocations: float) -> float:
        return lambda_cost(STEPS[step][0], seconds * 1000, invocations, "arm64", prices)

    gets = measured.read.gets * slices + measured.check.gets * by_rows + measured.buckets.gets * parts / measured.parts
    puts = measured.read.puts * slices + measured.check.puts * by_rows + measured.buckets.puts + 2 * parts
    transitions = (
        (slices + parts) * assumed.transitions_per_child
        + measured.bucket_count * assumed.transitions_per_iteration
        + assumed.transitions_outside_maps
    )
    dollars = {
        "Lambda: plan": billed("plan", plan, 1),
        "Lambda: read slices": billed("read_slice", read_child * slices, slices),
        "Lambda: cut": billed("cut", cut, 1),
        "Lambda: check parts": billed("check_part", check_child * parts, parts),
        "Lambda: repeats": billed("bucket_repeats", bucket_child * measured.bucket_count, measured.bucket_count),
        "Lambda: reduce": billed("reduce", reduce, 1),
        "Step Functions transitions": transitions * prices.step_functions_per_transition,
        "S3 requests": gets * prices.s3_per_get + puts * prices.s3_per_put,
    }
    return ValidationEstimate(slices=slices, parts=parts, minutes_by_step=minutes, dollars_by_line=dollars)


class _Bytes:
    """Bytes as a `record_cuts.ByteSource`."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, stop: int) -> bytes:
        return self.data[start:stop]


def _stored_bytes(s3: Any, key: str) -> int:
    return int(s3.head_object(Bucket="artifacts", Key=key)["ContentLength"])


def _folder_bytes(s3: Any, prefix: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="artifacts", Prefix=prefix)
    return sum(int(item["Size"]) for page in pages for item in page.get("Contents", []))
