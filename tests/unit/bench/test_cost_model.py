"""The cost model's arithmetic: known inputs give known dollars (bench/cost_model.py)."""

from __future__ import annotations

import pytest

from bench import cost_model as cm


def _profile(name: str, memory: int, billed: tuple[int, ...], log_bytes: float = 0.0) -> cm.FunctionProfile:
    return cm.FunctionProfile(name, memory, "arm64", billed, log_bytes)


def _measured(**overrides: object) -> cm.Measured:
    values: dict[str, object] = {
        "predict": _profile("predict", 1024, (1, 1, 2, 4)),
        "drift": _profile("drift", 2048, (500,)),
        "training_steps": (_profile("prepare", 1024, (1000,)), _profile("fit", 2048, (2000, 3000))),
        "training_transitions": 10,
        "training_s3_puts": 20,
        "training_bytes_stored": 0,
        "drift_s3_puts": 2,
        "drift_s3_gets": 10,
        "access_log_bytes_per_request": 0.0,
        "capture_bytes_per_row": 0.0,
        "alarms": 20,
        "kms_keys": 1,
        "custom_metrics": 10,
        "architecture": "arm64",
    }
    values.update(overrides)
    return cm.Measured(**values)  # type: ignore[arg-type]


def test_billed_duration_rounds_up_to_the_millisecond() -> None:
    assert cm.billed_ms(0.0) == 1
    assert cm.billed_ms(0.2) == 1
    assert cm.billed_ms(1.0) == 1
    assert cm.billed_ms(1.01) == 2
    assert cm.billed_ms(123.4) == 124
    with pytest.raises(ValueError):
        cm.billed_ms(-1.0)


def test_percentile_is_nearest_rank() -> None:
    assert cm.percentile([5, 1, 3, 2, 4], 50) == 3
    assert cm.percentile([1, 2, 3, 4], 50) == 2
    assert cm.percentile([1, 2, 3, 4], 100) == 4
    with pytest.raises(ValueError):
        cm.percentile([], 50)


def test_lambda_cost_is_gb_seconds_plus_requests() -> None:
    prices = cm.Prices()
    # 1M invocations of 100 ms at 1,024 MB: 100,000 GB-s
    arm = cm.lambda_cost(1024, 100 * 1_000_000, 1_000_000, "arm64", prices)
    assert arm == pytest.approx(100_000 * 0.0000133334 + 0.20)
    x86 = cm.lambda_cost(1024, 100 * 1_000_000, 1_000_000, "x86_64", prices)
    assert x86 == pytest.approx(100_000 * 0.0000166667 + 0.20)
    # 512 MB for 2 s once: 1 GB-s
    assert cm.lambda_cost(512, 2000, 1, "arm64", prices) == pytest.approx(0.0000133334 + 0.0000002)
    with pytest.raises(ValueError):
        prices.lambda_gb_second("sparc")


def test_profile_mean_p50_and_total() -> None:
    p = _profile("predict", 1769, (1, 1, 2, 4))
    assert p.mean_billed_ms == 2.0 and p.p50_billed_ms == 1 and p.total_billed_ms == 8


def test_xray_reservoir_then_five_percent() -> None:
    assert cm.xray_traces(1_000_000) == 1_000_000  # under one a second: every request
    seconds = cm.SECONDS_PER_MONTH
    assert cm.xray_traces(100_000_000) == pytest.approx(seconds + 0.05 * (100_000_000 - seconds))


def test_sagemaker_baselines() -> None:
    prices = cm.Prices()
    assert cm.sagemaker_always_on(prices.sagemaker_ml_t2_medium_hour) == pytest.approx(40.88)
    assert cm.sagemaker_always_on(prices.sagemaker_ml_m5_large_hour) == pytest.approx(83.95)


def test_fixed_cost_counts_alarms_keys_and_metrics() -> None:
    fixed = cm.fixed_cost(_measured())
    assert fixed.lines == {
        "CloudWatch alarms": pytest.approx(2.00),
        "KMS customer-managed keys": pytest.approx(1.00),
        "CloudWatch custom metrics": pytest.approx(3.00),
    }
    assert fixed.total == pytest.approx(6.00)


def test_predictions_cost_lines() -> None:
    m = _measured(access_log_bytes_per_request=0.0, capture_bytes_per_row=0.0)
    b = cm.predictions_cost(m, 1_000_000, a=cm.Assumptions(capture_sample_rate=0.0))
    # mean 2 ms at 1 GB: 2,000 GB-s
    assert b.lines["predict Lambda"] == pytest.approx(2000 * 0.0000133334 + 0.20)
    assert b.lines["API Gateway requests"] == pytest.approx(3.50)
    assert b.lines["X-Ray traces (sampled share)"] == pytest.approx(0.05)  # 1 % of 1M traces at $5 per million
    assert b.lines["CloudWatch Logs ingestion (Lambda + API access logs)"] == 0.0
    assert b.lines["S3 capture writes"] == 0.0
    # one container refreshing its aliases every 30 s: 87,600 reads
    assert b.lines["DynamoDB alias reads"] == pytest.approx(87_600 * 0.125 / 1e6)


def test_logs_and_capture_scale_with_traffic() -> None:
    m = _measured(
        predict=_profile("predict", 1024, (1,), log_bytes=512.0),
        access_log_bytes_per_request=512.0,
        capture_bytes_per_row=1024.0,
    )
    b = cm.predictions_cost(m, 1024**2 * 10, a=cm.Assumptions(capture_sample_rate=1.0, capture_retention_days=30))
    # 10 x 1,048,576 requests x 1 KiB = 10 GiB of logs and 10 GiB of capture kept for a month
    assert b.lines["CloudWatch Logs ingestion (Lambda + API access logs)"] == pytest.approx(5.00)
    assert b.lines["S3 capture storage (steady state)"] == pytest.approx(0.23)
    # 4 rows a second fill no 1,000-row object within a minute: one object a minute (43,800)
    assert b.lines["S3 capture writes"] == pytest.approx(43_800 * 0.005 / 1000)
    busy = cm.predictions_cost(m, 1_000_000_000, a=cm.Assumptions(capture_sample_rate=1.0))
    assert busy.lines["S3 capture writes"] == pytest.approx(1_000_000 * 0.005 / 1000)  # full objects


def test_drift_and_training_costs() -> None:
    m = _measured()
    drift = cm.drift_cost(m, 730, a=cm.Assumptions(dynamodb_writes_per_drift_check=0, dynamodb_reads_per_drift_check=0))
    assert drift.lines["drift Lambda"] == pytest.approx(730 * (1.0 * 0.0000133334 + 0.0000002))
    assert drift.lines["drift S3 requests"] == pytest.approx(730 * (2 * 0.000005 + 10 * 0.0000004))
    training = cm.training_cost(m, 4, a=cm.Assumptions(dynamodb_writes_per_training_run=0, s3_gets_per_training_put=0))
    # prepare 1 GB-s, fit 2 GB x 5 s = 10 GB-s; 3 invocations a run
    assert training.lines["training Lambda"] == pytest.approx(4 * (11 * 0.0000133334 + 3 * 0.0000002))
    assert training.lines["Step Functions transitions"] == pytest.approx(4 * 10 * 0.000025)
    assert training.lines["training S3 requests"] == pytest.approx(4 * 20 * 0.000005)


def test_platform_cost_is_the_sum_of_its_parts() -> None:
    m = _measured()
    total = cm.platform_cost(m, 10_000_000, drift_checks=730, training_runs=4).total
    parts = (
        cm.fixed_cost(m).total
        + cm.predictions_cost(m, 10_000_000).total
        + cm.drift_cost(m, 730).total
        + cm.training_cost(m, 4).total
    )
    assert total == pytest.approx(parts)


def test_assumed_sampling_rates_are_the_deployment_defaults() -> None:
    """The table prices the stack as deployed: if a default changes, the assumption must follow."""
    from infra.settings import ServingSettings

    deployed, assumed = ServingSettings.model_validate({}), cm.Assumptions()
    assert assumed.capture_sample_rate == deployed.capture_sample_rate
    assert assumed.trace_sample_rate == deployed.trace_sample_rate
