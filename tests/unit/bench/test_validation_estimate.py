"""The AWS estimate of partitioned validation (issue #20's 200M rows x 20 columns, 20 GB CSV): children
from the deployed slice size, waves of the deployed concurrency, Lambda billed at each step's
deployed memory at arm64 prices, from one measured slice scaled by its rows."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bench.cost_model import Prices
from bench.validation_estimate import DEPLOYED, Assumptions, SliceTimings, StepRun, aws_estimate
from infra.constructs.validation import STEPS

MB = 1 << 20
ROWS_PER_SLICE = 1_333_334  # 20 GB in 128 MiB slices is 150 of them, 200M rows in 150 is 1,333,333.3


def _measured(read_seconds: float = 4.0, parts: int = 1) -> SliceTimings:
    """A slice measured here with as many rows as a slice there holds, so nothing is rescaled."""
    return SliceTimings(
        slice_bytes=128 * MB,
        rows=ROWS_PER_SLICE,
        scan_seconds=0.5,
        read=StepRun(read_seconds, read_seconds, Counter({"GetObject": 3, "PutObject": 2})),
        cut=StepRun(0.1, 0.1, Counter({"GetObject": 2, "PutObject": 1})),
        check=StepRun(3.0, 3.0, Counter({"GetObject": 2, "PutObject": 20})),
        parts=parts,
        buckets=StepRun(0.16, 0.16, Counter({"GetObject": 16, "PutObject": 16})),
        bucket_count=16,
        staged_bytes=50 * MB,
        part_bytes=100 * MB,
        share_bytes=30 * MB,
        merge_seconds_per_part=0.02,
    )


def test_children_come_from_the_deployed_slice_size_and_waves_from_its_concurrency() -> None:
    assert (DEPLOYED.slice_mb, DEPLOYED.max_concurrency) == (128, 40)  # what the figures below assume
    estimate = aws_estimate(_measured())
    assert (estimate.slices, estimate.parts) == (150, 150)
    assumed = Assumptions()
    read_child = 4.0 + (20e9 / 150 + 50 * MB) / assumed.s3_bytes_per_second
    waves = math.ceil(150 / 40)
    assert estimate.minutes_by_step["read slices"] == pytest.approx(waves * (read_child + 2.0) / 60)
    # The plan reads and scans the whole file in one function: 20 GB at the assumed S3 rate.
    plan = 20e9 / assumed.s3_bytes_per_second + 0.5 * 20e9 / (128 * MB)
    assert estimate.minutes_by_step["plan (reads and scans the whole file)"] == pytest.approx(plan / 60)


def test_lambda_is_billed_at_each_steps_deployed_memory_at_arm64_prices() -> None:
    prices = Prices()
    slow, fast = aws_estimate(_measured(read_seconds=8.0)), aws_estimate(_measured(read_seconds=4.0))
    # 4 more seconds in each of 150 read_slice children, at read_slice's memory (3,008 MB).
    extra = 150 * 4.0 * STEPS["read_slice"][0] / 1024 * prices.lambda_gb_second_arm64
    assert slow.dollars_by_line["Lambda: read slices"] - fast.dollars_by_line["Lambda: read slices"] == pytest.approx(
        extra
    )
    assert slow.dollars - fast.dollars == pytest.approx(extra)
    transitions = (150 + 150) * 3 + 16 * 2 + 12
    assert fast.dollars_by_line["Step Functions transitions"] == pytest.approx(transitions * 0.025 / 1000)


def test_a_slice_measured_with_fewer_rows_is_scaled_up_by_rows() -> None:
    half = _measured()
    changed = {"rows": half.rows // 2, "read": StepRun(2.0, 2.0, half.read.requests), "staged_bytes": 25 * MB}
    half = SliceTimings(**{**half.__dict__, **changed})
    assert aws_estimate(half).minutes_by_step["read slices"] == pytest.approx(
        aws_estimate(_measured()).minutes_by_step["read slices"], rel=1e-6
    )


def test_the_reduce_copies_each_parts_parquet_and_npz_at_the_assumed_rate() -> None:
    one = aws_estimate(_measured(), assumed=Assumptions(copies_at_once=1))
    sixteen = aws_estimate(_measured())  # the reduce's PART_COPIES_AT_ONCE
    copied = (100 - 30) * MB * 200_000_000 / ROWS_PER_SLICE  # what check_one_part wrote but the shares
    seconds = copied / Assumptions().s3_bytes_per_second
    step = "reduce (merge, copy parts)"
    assert one.minutes_by_step[step] - sixteen.minutes_by_step[step] == pytest.approx(seconds * (1 - 1 / 16) / 60)
