"""Batch scoring in parts (the batch scoring state machine's steps) against one invocation, on the same
5,000,000-row file in one run (issue #20).

Data: the training benchmark's synthetic table (`bench_training.synthetic`: 20 float features), its
platform-default logistic regression fitted, exported to ONNX and loaded as serving loads it; the
file is an `id` column and the 20 features (6 significant digits), 10,000 seeded test rows repeated
to 5,000,000 (about 750 MB of CSV), held in memory as the object S3 would hold.

One invocation: `score_upload` over the whole file (10,000-row parts, as deployed). In parts: the
state machine's steps in its order, in this one process, one child after the other: plan (the
cutter's scan), count each 64 MB slice, number, score each item, finish. Outputs are compared by
sha256, part by part, and `_SUCCESS.json` field by field without its timing.

Figures: whether the outputs are byte-identical; the total work in parts against one invocation's
time; and an estimate for 100M rows on AWS from the measured per-child durations: each child's
duration x 20 billed at its deployed memory (arm64 Lambda prices), plus requests and Standard state
transitions, and the wall time with 40 children at once (the deployed `max_concurrency`). Durations
are this machine's (2 cores, x86_64), not Graviton's; the S3 reads here are memory copies, so reading
is added at 100 MB/s (the plan reads the file once, each child its slice) and S3 requests are left
out (a few per child): the estimate is the shape of the cost, not a quote.

Gzip input ("split by one task first"): a gzip (level 6) of the first 1,000,000 rows of the same
file (not all 5M: one invocation and the parts of the full file already take about five minutes),
scored by one invocation (which decompresses as it reads) and in parts (plan, then the split task
that decompresses the file once into plain 64 MB pieces in the work folder, then counts and scores
over the pieces). Figures: identical outputs, the split's time and rate, the total work against one
invocation, and the file the split could handle in one 15-minute Lambda at the measured rate plus
S3 at 100 MB/s (reading the gzip, writing the pieces).

    python -m bench batch_parts            # full run (~7 min quiet; 12 min at load 10)
    python -m bench batch_parts --quick    # 50,000 rows (gzip: 20,000): checks the harness
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from bench import bench_training as training
from bench.bench_inference import publishable
from bench.cost_model import Prices, lambda_cost
from bench.figures import Figure
from mlops.registry.versions import ModelVersion
from mlops.serving.batch import BatchUpload, OpenedObject, score_upload
from mlops.serving.batch import parts as steps
from mlops.serving.batch.reading import Readable
from mlops.serving.models import ServedVersion, load_version
from mlops.training.prepare import prepare

BENCHMARK = "batch_parts"
KEY = "batch/synthetic/big.csv"
GZIP_KEY = "batch/synthetic/big-night.csv.gz"
GZIP_ROWS = 1_000_000
LAMBDA_SECONDS = 15 * 60
CHUNK_ROWS = 10_000  # infra.constructs.batch_scoring.SCORING_CHUNK_ROWS
SLICE_BYTES = 64 << 20  # infra.settings.BatchScoringSettings.slice_mb
CONCURRENCY = 40  # infra.settings.BatchScoringSettings.max_concurrency
# step: memory MB as deployed (infra.constructs.batch_scoring.STEPS)
MEMORY_MB = {"plan": 1769, "count": 1769, "number": 1024, "score": 2048, "finish": 1024}
TRANSITIONS_PER_CHILD = 3  # a child execution: start, its task, end
ESTIMATE_ROWS = 100_000_000
S3_READ_BYTES_PER_SECOND = 100e6  # one Lambda reading one object (the validation plan's README figure)


class HashingBucket:
    """One input held whole, outputs kept as their sha256 (5M rows of parts need not stay in memory)."""

    def __init__(self, key: str, body: bytes) -> None:
        self.key, self.body = key, body
        self.digests: dict[str, str] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.work: dict[str, bytes] = {}

    def open(self, key: str) -> OpenedObject:
        return OpenedObject(io.BytesIO(self.body), "v1", None, len(self.body))

    def get_json(self, key: str) -> dict[str, Any] | None:
        return self.documents.get(key)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.digests[key] = hashlib.sha256(body).hexdigest()
        if key.endswith(".json"):
            self.documents[key] = json.loads(body)

    def delete(self, key: str) -> None:
        self.digests.pop(key, None)


class Input:
    """The input by byte ranges, as S3 serves it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, key: str, version_id: str | None, start: int, stop: int) -> Readable:
        return io.BytesIO(self.body[start:stop])

    def get(self, key: str) -> bytes | None:
        return self.body

    def put(self, key: str, body: bytes, content_type: str) -> None:
        raise AssertionError("the input is never written")


class WorkFolder:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def stream(self, key: str, version_id: str | None, start: int, stop: int) -> Readable:
        return io.BytesIO(self.objects[key][start:stop])

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body


@dataclass
class Timings:
    """Seconds per step; per child for the two Maps."""

    plan: float = 0.0
    split: float = 0.0  # a gzip input's decompress-and-split task
    split_cpu: float = 0.0  # its CPU time: this machine is shared, its wall time partly waiting
    number: float = 0.0
    finish: float = 0.0
    count: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.plan + self.split + self.number + self.finish + sum(self.count) + sum(self.score)


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


def served_model() -> ServedVersion:
    arrays, columns = training.synthetic(training.QUICK.rows)
    config = training.platform_config(training.QUICK)
    prepared = prepare(arrays, columns, config)
    logistic = next(c for c in config.candidates if c.estimator == "logistic_regression")
    published = publishable("synthetic", training.fit_and_export(logistic, prepared, config), prepared, config, columns)
    record = ModelVersion.from_item({**published.record, "model": "synthetic", "version": 1})
    return load_version("synthetic", record, published.artifacts.__getitem__)


def input_file(rows: int, features: list[str]) -> bytes:
    """10,000 seeded rows of the synthetic table, repeated to `rows`, each with its own id."""
    arrays, _ = training.synthetic(10_000, seed=1)
    block = np.column_stack([arrays[name] for name in features])
    lines = [",".join(f"{v:.6g}" for v in row) for row in block.tolist()]
    header = ",".join(["id", *features]) + "\n"
    body = "".join(f"{i},{lines[i % len(lines)]}\n" for i in range(rows))
    return (header + body).encode()


def in_parts(run: steps.PartsRun, services: steps.PartsServices, work: WorkFolder) -> tuple[Timings, Any]:
    timings = Timings()
    timings.plan, planned = _timed(lambda: steps.plan(run, services))
    if planned.gzip:
        cpu = time.process_time()
        timings.split, planned = _timed(lambda: steps.split(run, services))
        timings.split_cpu = time.process_time() - cpu
    for line in work.objects[planned.items_key].decode().splitlines():
        piece = steps.InputSlice(**json.loads(line))
        timings.count.append(_timed(partial(steps.count, run, piece, services))[0])
    timings.number, numbered = _timed(lambda: steps.number(run, planned.slices, services))
    for line in work.objects[numbered.items_key].decode().splitlines():
        item = steps.ScoreItem.from_json(json.loads(line))
        timings.score.append(_timed(partial(steps.score, run, item, services))[0])
    given = steps.FinishInput(slices=planned.slices, items=numbered.items)
    timings.finish, outcome = _timed(lambda: steps.finish(run, given, services))
    return timings, outcome


def _without_timing(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("seconds", "finished_at")}


def aws_estimate(timings: Timings, rows: int, size: int) -> tuple[float, float]:
    """(dollars, minutes) for ESTIMATE_ROWS rows: the measured per-child seconds scaled by the rows,
    plus reading from S3 at S3_READ_BYTES_PER_SECOND (here the reads are memory copies): the plan
    reads the whole file once, each child its slice."""
    scale = ESTIMATE_ROWS / rows
    read_slice = min(size, SLICE_BYTES) / S3_READ_BYTES_PER_SECOND
    children = {
        step: [t + read_slice for t in seconds]
        for step, seconds in (("count", timings.count), ("score", timings.score))
    }
    plan = timings.plan * scale + size * scale / S3_READ_BYTES_PER_SECOND
    serial = plan + (timings.number + timings.finish) * scale
    prices = Prices()
    dollars = sum(
        lambda_cost(MEMORY_MB[step], sum(seconds) * scale * 1000, len(seconds) * scale, "arm64", prices)
        for step, seconds in children.items()
    )
    dollars += lambda_cost(MEMORY_MB["plan"], serial * 1000, 3, "arm64", prices)  # plan, number, finish
    invocations = sum(len(seconds) for seconds in children.values()) * scale + 3
    dollars += invocations * TRANSITIONS_PER_CHILD * prices.step_functions_per_transition
    waves = {step: math.ceil(len(seconds) * scale / CONCURRENCY) for step, seconds in children.items()}
    wall = serial + sum(waves[step] * max(seconds) for step, seconds in children.items())
    return dollars, wall / 60


@dataclass(frozen=True)
class Compared:
    """One input scored by one invocation and in parts."""

    identical: bool
    single_time: float
    timings: Timings
    parts: int
    single_cpu: float  # CPU seconds: on a shared machine the wall times are partly waiting
    parts_cpu: float


def compare(served: ServedVersion, key: str, data: bytes) -> Compared:
    """Score `data` by one invocation and by the state machine's steps; compare the outputs."""
    upload = BatchUpload("raw", key, "v1")
    alone = HashingBucket(key, data)
    cpu = time.process_time()
    single_time, outcome = _timed(lambda: score_upload(upload, alone, lambda model: served, chunk_rows=CHUNK_ROWS))
    single_cpu = time.process_time() - cpu
    assert outcome.status == "scored", outcome.summary

    bucket, work = HashingBucket(key, data), WorkFolder()
    routing = steps.PartsRouting(0, 0, lambda run: run.run)
    started = score_upload(upload, bucket, lambda model: served, chunk_rows=CHUNK_ROWS, parts=routing)
    assert started.status == "in_parts", started.summary
    run_input = steps.PartsRun(
        steps.run_name(upload), upload, 1, served.onnx_sha256, CHUNK_ROWS, time.time(), len(data)
    )
    services = steps.PartsServices(bucket, Input(data), work, lambda model, number: served, slice_bytes=SLICE_BYTES)
    cpu = time.process_time()
    timings, finished = in_parts(run_input, services, work)
    parts_cpu = time.process_time() - cpu
    assert finished.status == "scored", finished.summary

    success = ".predictions/_SUCCESS.json"
    one = {k: v for k, v in alone.digests.items() if not k.endswith(success)}
    parted = {k: v for k, v in bucket.digests.items() if not k.endswith(success)}
    documents = [
        _without_timing(next(d for k, d in b.documents.items() if k.endswith(success))) for b in (alone, bucket)
    ]
    identical = one == parted and documents[0] == documents[1]
    return Compared(identical, single_time, timings, len(one), single_cpu, parts_cpu)


def split_ceiling(seconds: float, plain: int, compressed: int) -> float:
    """Bytes of plain CSV one split task handles in a Lambda's 15 minutes: the measured decompress-and-cut
    rate here, plus reading the gzip and writing the pieces at S3_READ_BYTES_PER_SECOND."""
    per_plain_byte = seconds / plain + (1 + compressed / plain) / S3_READ_BYTES_PER_SECOND
    return LAMBDA_SECONDS / per_plain_byte


def run(quick: bool) -> list[Figure]:
    rows = 50_000 if quick else 5_000_000
    served = served_model()
    features = [spec.name for spec in served.signature.inputs]
    data = input_file(rows, features)
    plain = compare(served, KEY, data)
    identical, single_time, timings = plain.identical, plain.single_time, plain.timings
    dollars, minutes = aws_estimate(timings, rows, len(data))
    described = (
        f"{rows:,} rows x 20 features, {len(data) / 1e6:.0f} MB CSV, {plain.parts} parts of {CHUNK_ROWS:,} rows, "
        f"{len(timings.count)} slices of {SLICE_BYTES >> 20} MB"
    )
    per_child = (
        f"per slice: count {np.median(timings.count):.2f} s, score {np.median(timings.score):.2f} s (median), "
        f"plan {timings.plan:.1f} s, number {timings.number:.2f} s, finish {timings.finish:.2f} s"
    )
    return [
        Figure(
            benchmark=BENCHMARK,
            figure="parts and _SUCCESS.json byte-identical to one invocation's",
            value=float(identical),
            unit="bool",
            target="1",
            met=identical,
            data=described,
        ),
        Figure(
            benchmark=BENCHMARK,
            figure="total work in parts, children one after the other (plan, counts, number, scoring, finish)",
            value=timings.total,
            unit="s",
            baseline="one invocation: score_upload",
            baseline_value=single_time,
            ratio=timings.total / single_time,
            ratio_meaning="value / baseline",
            data=f"{described}; {per_child}",
        ),
        Figure(
            benchmark=BENCHMARK,
            figure=f"estimated AWS cost of {ESTIMATE_ROWS // 1_000_000}M rows in parts (Lambda arm64 + Step Functions)",
            value=dollars,
            unit="$",
            target="<= 1",
            met=dollars <= 1,
            data=f"measured per-child seconds x {ESTIMATE_ROWS / rows:g}, at deployed memory; {per_child}",
        ),
        Figure(
            benchmark=BENCHMARK,
            figure=f"estimated wall time of {ESTIMATE_ROWS // 1_000_000}M rows, {CONCURRENCY} children at once",
            value=minutes,
            unit="min",
            target="<= 10",
            met=minutes <= 10,
            data="the plan's scan at 100 MB/s from S3, number and finish scaled by the rows; each Map: waves of "
            f"{CONCURRENCY} x its slowest child here (+ its slice read at 100 MB/s)",
        ),
        *gzip_figures(served, features, 20_000 if quick else GZIP_ROWS),
    ]


def gzip_figures(served: ServedVersion, features: list[str], rows: int) -> list[Figure]:
    """A gzip input split by one task first, then scored in parts, against one invocation."""
    plain = input_file(rows, features)
    data = gzip.compress(plain, compresslevel=6, mtime=0)
    compared = compare(served, GZIP_KEY, data)
    timings = compared.timings
    described = (
        f"{rows:,} rows x 20 features: {len(plain) / 1e6:.0f} MB CSV, {len(data) / 1e6:.0f} MB gzip (level 6), "
        f"{len(timings.count)} pieces of {SLICE_BYTES >> 20} MB, {compared.parts} parts of {CHUNK_ROWS:,} rows"
    )
    rate = len(plain) / timings.split_cpu / 1e6
    ceiling = split_ceiling(timings.split_cpu, len(plain), len(data))
    load = f"load average {os.getloadavg()[0]:.1f}"
    return [
        Figure(
            benchmark=BENCHMARK,
            figure="gzip input: parts and _SUCCESS.json byte-identical to one invocation's",
            value=float(compared.identical),
            unit="bool",
            target="1",
            met=compared.identical,
            data=described,
        ),
        Figure(
            benchmark=BENCHMARK,
            figure="gzip input: the split task (decompress once, cut into plain pieces at record ends)",
            value=timings.split,
            unit="s",
            data=f"{described}; {timings.split_cpu:.1f} s CPU: {rate:.0f} MB/s of CSV written as pieces (to memory "
            f"here); {load}",
        ),
        Figure(
            benchmark=BENCHMARK,
            figure="gzip input: total work in parts, split included, children one after the other",
            value=timings.total,
            unit="s",
            baseline="one invocation: score_upload, decompressing as it reads",
            baseline_value=compared.single_time,
            ratio=timings.total / compared.single_time,
            ratio_meaning="value / baseline",
            data=f"{described}; plan {timings.plan:.2f} s, split {timings.split:.1f} s, "
            f"counts {sum(timings.count):.1f} s, scoring {sum(timings.score):.1f} s; "
            f"CPU time {compared.parts_cpu:.1f} s against {compared.single_cpu:.1f} s "
            f"({compared.parts_cpu / compared.single_cpu:.2f}x); {load}",
        ),
        Figure(
            benchmark=BENCHMARK,
            figure="gzip input: estimated largest file one split task handles in a 15-minute Lambda",
            value=ceiling / 1e9,
            unit="GB of CSV",
            data=f"the measured split rate ({rate:.0f} MB/s of CPU time here, x86_64) plus reading the gzip and "
            f"writing the pieces at {S3_READ_BYTES_PER_SECOND / 1e6:.0f} MB/s; "
            f"about {ceiling / (len(plain) / rows) / 1e6:.0f}M rows of this table",
        ),
    ]
