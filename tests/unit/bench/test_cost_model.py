"""The cost model's arithmetic: known inputs give known dollars (bench/cost_model.py)."""

from __future__ import annotations

import pytest

from bench import cost_model as cm
from infra.settings import ServingSettings


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


def test_an_idle_month_costs_the_alarms_and_the_key_only() -> None:
    """Idle means idle (issue #21): no custom metric is emitted without traffic, and CloudWatch bills
    a metric only for the hours it is emitted."""
    m = _measured()
    assert cm.fixed_cost(m).lines == {cm.ALARMS: pytest.approx(2.00), cm.KEYS: pytest.approx(1.00)}
    assert cm.predictions_cost(m, 0).lines[cm.METRICS] == 0.0
    assert cm.predictions_cost(m, 1).lines[cm.METRICS] == pytest.approx(3.00)


def test_predictions_cost_lines_through_the_default_front_door() -> None:
    m = _measured(access_log_bytes_per_request=100.0, capture_bytes_per_row=0.0)
    b = cm.predictions_cost(m, 1_000_000, a=cm.Assumptions(capture_sample_rate=0.0))
    # mean 2 ms at 1 GB: 2,000 GB-s
    assert b.lines[cm.PREDICT_LAMBDA] == pytest.approx(2000 * 0.0000133334 + 0.20)
    # a function URL costs nothing beyond Lambda's request, traces nothing, writes no access log
    assert b.lines[cm.FRONT_DOOR] == 0.0 and b.lines[cm.XRAY] == 0.0 and b.lines[cm.LOGS] == 0.0
    assert b.lines["S3 capture writes"] == 0.0
    # one container refreshing its aliases every 30 s: 87,600 reads
    assert b.lines["DynamoDB alias reads"] == pytest.approx(87_600 * 0.125 / 1e6)


def test_each_front_door_prices_its_requests_access_log_and_traces() -> None:
    m = _measured(access_log_bytes_per_request=1024.0)
    volume = 1024**2  # a GiB of access log at 1 KiB a request
    rest = cm.predictions_cost(m, volume, d=cm.Deployment(front_door=cm.REST_API))
    http = cm.predictions_cost(m, volume, d=cm.Deployment(front_door=cm.HTTP_API))
    assert rest.lines[cm.FRONT_DOOR] == pytest.approx(volume * 3.50 / 1e6)
    assert http.lines[cm.FRONT_DOOR] == pytest.approx(volume * 1.00 / 1e6)
    assert rest.lines[cm.LOGS] == pytest.approx(0.50) and http.lines[cm.LOGS] == 0.0
    # the REST stage's sampling rule traces 1 %; an HTTP API does not trace
    assert rest.lines[cm.XRAY] == pytest.approx(volume * 0.01 * 5.00 / 1e6) and http.lines[cm.XRAY] == 0.0
    with pytest.raises(ValueError, match="unknown front door"):
        cm.Deployment(front_door="grpc")


def test_logs_and_capture_scale_with_traffic() -> None:
    m = _measured(
        predict=_profile("predict", 1024, (1,), log_bytes=512.0),
        access_log_bytes_per_request=512.0,
        capture_bytes_per_row=1024.0,
    )
    rest = cm.Deployment(front_door=cm.REST_API)
    a = cm.Assumptions(capture_sample_rate=1.0, capture_retention_days=30)
    b = cm.predictions_cost(m, 1024**2 * 10, a=a, d=rest)
    # 10 x 1,048,576 requests x 1 KiB = 10 GiB of logs and 10 GiB of capture kept for a month
    assert b.lines[cm.LOGS] == pytest.approx(5.00)
    assert cm.predictions_cost(m, 1024**2 * 10, a=a).lines[cm.LOGS] == pytest.approx(2.50)  # no access log
    assert b.lines["S3 capture storage (steady state)"] == pytest.approx(0.23)
    # 4 rows a second fill no 1,000-row object within a minute: one object a minute (43,800)
    assert b.lines["S3 capture writes"] == pytest.approx(43_800 * 0.005 / 1000)
    busy = cm.predictions_cost(m, 1_000_000_000, a=cm.Assumptions(capture_sample_rate=1.0))
    assert busy.lines["S3 capture writes"] == pytest.approx(1_000_000 * 0.005 / 1000)  # full objects


def test_before_issue_21_prices_the_old_settings_from_the_same_measurements() -> None:
    m = _measured(predict=_profile("predict", 1024, (1,), log_bytes=100.0), access_log_bytes_per_request=0.0)
    before = cm.platform_cost(m, 1_000_000, d=cm.BEFORE_ISSUE_21)
    assert before.lines[cm.FRONT_DOOR] == pytest.approx(3.50)
    assert before.lines[cm.XRAY] == pytest.approx(5.00)  # Lambda's first request each second: all of 1M
    assert before.lines[cm.METRICS] == pytest.approx(43 * 0.30)
    # ... emitted whether or not traffic came: the idle month paid for them too
    assert cm.fixed_cost(m, d=cm.BEFORE_ISSUE_21).total == pytest.approx(20 * 0.10 + 1.00 + 43 * 0.30)
    assert before.lines[cm.ALARMS] == pytest.approx(20 * 0.10)
    # the predict function's lines then and the access log's untrimmed line, whatever this run measured
    assert before.lines[cm.LOGS] == pytest.approx(1_000_000 * (698 + 255) / 1024**3 * 0.50)
    # the measured durations are the same: the predict Lambda line does not move
    assert before.lines[cm.PREDICT_LAMBDA] == cm.platform_cost(m, 1_000_000).lines[cm.PREDICT_LAMBDA]
    assert (cm.BEFORE_ISSUE_21.front_door, cm.BEFORE_ISSUE_21.traced_by) == (cm.REST_API, cm.TRACED_BY_LAMBDA)


def test_provisioned_concurrency_costs_its_warm_hours_and_cuts_the_duration_price() -> None:
    m = _measured(predict=_profile("predict", 1024, (1000,)))  # 1 GB-s an invocation
    on_demand = cm.predictions_cost(m, 1_000_000)
    warm = cm.predictions_cost(m, 1_000_000, d=cm.Deployment(provisioned_environments=1))
    assert warm.lines[cm.PROVISIONED] == pytest.approx(cm.SECONDS_PER_MONTH * 0.0000033334)  # 1 GB all month
    assert warm.lines[cm.PREDICT_LAMBDA] == pytest.approx(1_000_000 * 0.0000077778 + 0.20)
    assert on_demand.lines[cm.PREDICT_LAMBDA] == pytest.approx(1_000_000 * 0.0000133334 + 0.20)
    # past what one environment can serve (busy all month), the rest is billed on demand
    beyond = cm.predictions_cost(m, 2 * cm.SECONDS_PER_MONTH, d=cm.Deployment(provisioned_environments=1))
    assert beyond.lines[cm.PREDICT_LAMBDA] == pytest.approx(
        cm.SECONDS_PER_MONTH * (0.0000077778 + 0.0000133334) + 2 * cm.SECONDS_PER_MONTH * 0.20 / 1e6
    )
    assert cm.warm_capacity(m, 1) == pytest.approx(cm.SECONDS_PER_MONTH)


def test_crossover_finds_where_a_falling_difference_reaches_zero() -> None:
    assert cm.crossover(lambda v: 10.0 - v / 1e6) == pytest.approx(1e7, rel=1e-6)
    assert cm.crossover(lambda v: -1.0) is None  # already past at the lowest volume
    assert cm.crossover(lambda v: 1.0) is None  # never


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


def test_the_priced_front_door_is_the_deployment_default() -> None:
    assert cm.Deployment().front_door == ServingSettings.model_validate({}).front_door


def test_snapstart_costs_its_cached_snapshot_and_a_restore_per_environment_started() -> None:
    """SnapStart bills the snapshot cached per GB-second and each restore per GB
    (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-pricing; us-east-1:
    $0.0000015046 per GB-second, $0.0001397998 per GB)."""
    m = _measured(predict=_profile("predict", 2048, (10,)))  # 2 GB
    on_demand = cm.predictions_cost(m, 1_000_000)
    snap = cm.predictions_cost(m, 1_000_000, d=cm.Deployment(snapstart=True))
    cache = 2 * cm.SECONDS_PER_MONTH * 0.0000015046  # $7.91: one version cached all month
    restores = 730 * 4  # one environment suffices for 1M x 10 ms; replaced four times an hour (assumed)
    assert snap.lines[cm.SNAPSTART] == pytest.approx(cache + restores * 2 * 0.0001397998)
    assert snap.total - on_demand.total == pytest.approx(snap.lines[cm.SNAPSTART])  # nothing else moves
    # sparse traffic: a restore per prediction at most
    assert cm.snapstart_cost(m, 100) == pytest.approx(cache + 100 * 2 * 0.0001397998)
    assert cm.SNAPSTART not in on_demand.lines


def test_snapstart_with_provisioned_concurrency_is_refused() -> None:
    """Lambda: "SnapStart does not support provisioned concurrency" (snapstart.html, limitations)."""
    with pytest.raises(ValueError, match="SnapStart and provisioned concurrency"):
        cm.Deployment(snapstart=True, provisioned_environments=1)


def test_the_predict_runtime_can_use_snapstart() -> None:
    """SnapStart covers the Python 3.12 and later managed runtimes (snapstart.html, "Supported
    features and limitations"); the predict function runs on the platform's runtime."""
    from aws_cdk import aws_lambda as lambda_

    from infra.constructs.platform_function import RUNTIME

    assert RUNTIME.family == lambda_.RuntimeFamily.PYTHON
    major, minor = (int(part) for part in RUNTIME.name.removeprefix("python").split("."))
    assert (major, minor) >= (3, 12)
