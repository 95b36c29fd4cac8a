"""What the platform costs a month (issue #10's cost table, issue #21's levers): the synthesized
template deployed into the in-process local cloud, one training run of the breast-cancer config, N
single-row predictions through the predict function URL (signed, the default front door) and one
drift check; each invocation's duration from the local runtime's invocation records (what Lambda
bills and publishes as AWS/Lambda Duration; the REPORT lines are no longer ingested), the log bytes
each function's log group received under its LoggingConfig, each function's memory from its deployed
configuration and its architecture from the template (moto does not keep it); `bench/cost_model.py`
turns them into dollars for the default deployment and for the platform before issue #21, from the
same measurements, against an always-on SageMaker real-time endpoint (`bench/cost_tables.py` writes
the tables).

The durations are this machine's CPU running the handlers in-process, not Lambda's (at 1,769 MB a
function gets one vCPU): read the dollars as an estimate of the shape, not a quote.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from bench import cost_model as cm
from bench import cost_tables
from bench.figures import Figure

ROOT = Path(__file__).resolve().parent.parent
DATASET = "breast-cancer"
ON_CPU = "durations: this machine's CPU running the handlers in-process, not Lambda's"
BASELINE = "SageMaker ml.t2.medium always on"
BASELINE_LARGE = "SageMaker ml.m5.large always on"
PREDICTION_VOLUMES = (1_000_000, 10_000_000, 100_000_000)
ACCESS_LOG_SAMPLES = 20  # health calls whose REST access-log lines price the REST option


def _quick_config() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "configs" / f"{DATASET}.yaml").read_text())
    config["candidates"] = [
        {"name": "logistic", "estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}},
    ]
    return dict(config)


def _log_groups_by_function(template: dict[str, Any], physical: dict[str, str]) -> dict[str, str]:
    """Lambda function physical name -> its log group's name, from the template's LoggingConfig."""
    found: dict[str, str] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function" or logical not in physical:
            continue
        ref = (resource["Properties"].get("LoggingConfig") or {}).get("LogGroup", {})
        if isinstance(ref, dict) and ref.get("Ref") in physical:
            found[physical[logical]] = physical[ref["Ref"]]
    return found


def _events(logs: Any, group: str) -> list[str]:
    messages: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    while True:
        page = logs.filter_log_events(**kwargs)
        messages.extend(e["message"] for e in page.get("events", []))
        token = page.get("nextToken")
        if not token or not page.get("events"):
            return messages
        kwargs["nextToken"] = token


def _profile(
    function: str,
    memory: int,
    architecture: str,
    durations: dict[str, float],
    ids: set[str],
    log_bytes: float,
    *,
    skip_first: bool = False,
) -> cm.FunctionProfile:
    """The invocations of `function` among `ids`, billed; `skip_first` leaves out the cold start (one
    per container, not per request)."""
    measured = [d for rid, d in durations.items() if rid in ids]
    if skip_first and len(measured) > 1:
        measured = measured[1:]
    return cm.FunctionProfile(function, memory, architecture, tuple(cm.billed_ms(d) for d in measured), log_bytes)


def _bucket_usage(s3: Any, buckets: list[str]) -> tuple[int, int, dict[str, int]]:
    """(objects, bytes, bytes by key prefix 'bucket/first/segment') across the buckets."""
    objects, size = 0, 0
    by_prefix: defaultdict[str, int] = defaultdict(int)
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                objects += 1
                size += obj["Size"]
                by_prefix[f"{bucket}/{obj['Key'].split('/', 1)[0]}"] += obj["Size"]
    return objects, size, dict(by_prefix)


def _signed(method: str, url: str, body: dict[str, Any] | None, service: str) -> int:
    """One request SigV4-signed as a machine client signs it (the local cloud's default credentials)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode() if body is not None else None
    signing = AWSRequest(method=method, url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(Credentials("testing", "testing"), service, "us-east-1").add_auth(signing)
    request = urllib.request.Request(url, data=data, headers=dict(signing.headers.items()), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def _post(url: str, body: dict[str, Any]) -> int:
    """POST one prediction to the function URL, signed for service `lambda`."""
    return _signed("POST", url, body, "lambda")


def measure(quick: bool) -> tuple[cm.Measured, dict[str, Any]]:
    from sklearn.datasets import load_breast_cancer

    from infra.app import build_local_app
    from localcloud.cloud import LocalCloud
    from localcloud.deploy import synthesize

    predictions = 200 if quick else 2000
    synthesized = synthesize(build_local_app)
    with tempfile.TemporaryDirectory() as tmp, LocalCloud.in_process(inbox_path=Path(tmp) / "inbox.jsonl") as cloud:
        stack = cloud.deploy(synthesized)
        session = cloud.session
        s3, sfn, logs = session.client("s3"), session.client("stepfunctions"), session.client("logs")
        lam, cloudwatch = session.client("lambda"), session.client("cloudwatch")
        out = stack.outputs
        artifacts = out["ArtifactsBucketName"]
        buckets = [out["ArtifactsBucketName"], out["CuratedBucketName"]]

        frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
        s3.put_object(
            Bucket=artifacts,
            Key=f"contracts/{DATASET}.yaml",
            Body=(ROOT / "contracts" / f"{DATASET}.yaml").read_bytes(),
        )
        config = _quick_config() if quick else yaml.safe_load((ROOT / "configs" / f"{DATASET}.yaml").read_text())
        s3.put_object(Bucket=artifacts, Key=f"configs/{DATASET}.yaml", Body=yaml.safe_dump(config).encode())
        s3.put_object(
            Bucket=out["RawBucketName"], Key=f"raw/{DATASET}/patients.csv", Body=frame.to_csv(index=False).encode()
        )
        cloud.settle()

        # -- one training run -------------------------------------------------------------------
        before_objects, before_bytes, _ = _bucket_usage(s3, buckets)
        seen = len(cloud_history())
        arn = sfn.start_execution(
            stateMachineArn=out["TrainingStateMachineArn"],
            name="cost-bench",
            input=json.dumps({"dataset": DATASET, "reason": "cost benchmark"}),
        )["executionArn"]
        deadline = time.monotonic() + 900
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError("the training execution did not finish in 15 minutes")
            time.sleep(0.2)
        if execution["status"] != "SUCCEEDED":
            raise RuntimeError(f"training {execution['status']}: {execution.get('cause')}")
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
        training_ids = {i.request_id for i in cloud_history()[seen:]}
        after_objects, after_bytes, _ = _bucket_usage(s3, buckets)

        # -- single-row predictions through the default front door: the function URL, signed ------
        url = cloud.serve_function_url(out["PredictFunctionUrl"]).url.rstrip("/") + f"/v1/models/{DATASET}/predict"
        rows = [{k: float(v) for k, v in r.items()} for r in frame.drop(columns=["target"]).to_dict("records")]
        seen = len(cloud_history())
        for i in range(predictions):
            status = _post(url, {"instances": [rows[i % len(rows)]]})
            if status != 200:
                raise RuntimeError(f"prediction {i} answered {status}")
        time.sleep(5.5)  # the local cloud writes a capture batch once it is 5 s old, on the next request
        _post(url, {"instances": [rows[0]]})
        predict_ids = {i.request_id for i in cloud_history()[seen:]}
        cloud.settle()
        time.sleep(1.0)  # the capture thread's last write
        capture = [
            obj
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=artifacts, Prefix="capture/")
            for obj in page.get("Contents", [])
        ]
        capture_bytes = sum(int(obj["Size"]) for obj in capture)
        captured_rows = (predictions + 1) * float(config.get("serving", {}).get("capture_sample_rate", 0.1))

        # -- one drift check ---------------------------------------------------------------------
        drift_before, _, _ = _bucket_usage(s3, buckets)
        answer = lam.invoke(
            FunctionName=out["DriftFunctionName"], Payload=json.dumps({"models": [DATASET], "force": True})
        )
        if answer.get("FunctionError"):
            raise RuntimeError(f"drift check failed: {answer['Payload'].read()[:500]!r}")
        drift_after, _, _ = _bucket_usage(s3, buckets)
        cloud.settle()

        # -- durations from the invocation records, memory and architecture from the deployed functions --
        resources = session.client("cloudformation").describe_stack_resources(StackName=stack.stack_name)
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in resources["StackResources"]
            if r.get("PhysicalResourceId")
        }
        groups = _log_groups_by_function(synthesized.template, physical)
        architectures = {
            physical[logical]: (r["Properties"].get("Architectures") or ["x86_64"])[0]
            for logical, r in synthesized.template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and logical in physical
        }
        drift_name = out["DriftFunctionName"]
        profiles: dict[str, cm.FunctionProfile] = {}
        training: list[cm.FunctionProfile] = []
        access_group = next(
            (
                physical[lid]
                for lid, r in synthesized.template["Resources"].items()
                if r["Type"] == "AWS::Logs::LogGroup" and lid.startswith("ServingAccessLogs")
            ),
            None,
        )
        # Each invocation's duration as Lambda measures and bills it: the local runtime's record of
        # the invocation, the figure it publishes as AWS/Lambda Duration (the REPORT line, which
        # carried it before, is no longer ingested: the functions' system log level is WARN).
        invocations: defaultdict[str, dict[str, float]] = defaultdict(dict)
        for invocation in cloud_history():
            invocations[invocation.function_name][invocation.request_id] = invocation.duration_ms
        for function, group in groups.items():
            configuration = lam.get_function_configuration(FunctionName=function)
            memory = int(configuration["MemorySize"])
            # moto does not keep a function's architecture: the template is what AWS would run
            architecture = architectures.get(function, "x86_64")
            durations = invocations.get(function, {})
            messages = _events(logs, group)
            log_bytes = sum(len(m.encode()) + 26 for m in messages) / max(1, len(durations))

            args = (function, memory, architecture, durations)
            if "Predict" in function:
                profiles["predict"] = _profile(*args, predict_ids, log_bytes, skip_first=True)
            elif function == drift_name:
                profiles["drift"] = _profile(*args, set(durations), log_bytes)
            else:
                step = _profile(*args, training_ids, log_bytes)
                if step.billed_ms:
                    training.append(step)
        # The REST option's access log (the "before" front door): the same stage's line for signed
        # GET /v1/health calls, whose fields are those a prediction route logs (its path is a few
        # bytes shorter than /v1/models/{name}/predict's).
        gateway = cloud.serve_api(out["ApiUrl"].split("//", 1)[1].split(".", 1)[0])
        for _ in range(ACCESS_LOG_SAMPLES):
            _signed("GET", gateway.url("prod") + "/v1/health", None, "execute-api")
        cloud.settle()
        access_messages = _events(logs, access_group) if access_group else []
        access_bytes = sum(len(m.encode()) + 26 for m in access_messages) / max(1, len(access_messages))

        metrics = _custom_metrics(cloudwatch)
        template = synthesized.template["Resources"].values()
        measured = cm.Measured(
            predict=profiles["predict"],
            drift=profiles["drift"],
            training_steps=tuple(sorted(training, key=lambda p: p.name)),
            training_transitions=transitions,
            training_s3_puts=after_objects - before_objects,
            training_bytes_stored=after_bytes - before_bytes,
            drift_s3_puts=drift_after - drift_before,
            drift_s3_gets=len(capture) + 3,  # every capture object, the profile, config and signature
            access_log_bytes_per_request=access_bytes,
            capture_bytes_per_row=capture_bytes / captured_rows if captured_rows else 0.0,
            alarms=sum(1 for r in template if r["Type"] == "AWS::CloudWatch::Alarm"),
            kms_keys=sum(1 for r in template if r["Type"] == "AWS::KMS::Key"),
            custom_metrics=len(metrics),
            architecture=profiles["predict"].architecture,
        )
        facts = {
            "predictions": predictions,
            "quick": quick,
            "metrics": metrics,
            "measured_front_door": "function URL, signed (the default template)",
        }
        return measured, facts


def _custom_metrics(cloudwatch: Any) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Distinct custom metrics (namespace, name, dimensions): each is one metric-month when emitted all month."""
    found: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    kwargs: dict[str, Any] = {}
    while True:
        page = cloudwatch.list_metrics(**kwargs)
        for m in page["Metrics"]:
            if not m["Namespace"].startswith("AWS/"):
                dims = tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
                found.add((m["Namespace"], m["MetricName"], dims))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def cloud_history() -> list[Any]:
    from localcloud import lambda_

    return lambda_.history()


def _short(name: str) -> str:
    """'ServerlessMlops-TrainingFitCandidateFunction1D7C-abc' -> 'TrainingFitCandidate'."""
    core = name.split("-")[1] if "-" in name else name
    core = re.sub(r"[0-9A-F]{8}$", "", core)
    return core.removesuffix("Function")


TARGETS = {1_000_000: 5.0, 100_000_000: 100.0}  # issue #21: default settings, all-in


def run(quick: bool) -> list[Figure]:
    measured, facts = measure(quick)
    n = facts["predictions"]
    _print_tables(measured, facts)
    baseline = cm.sagemaker_always_on(cm.Prices().sagemaker_ml_t2_medium_hour)
    large = cm.sagemaker_always_on(cm.Prices().sagemaker_ml_m5_large_hour)
    data = (
        f"{n} single-row predictions through the {facts['measured_front_door']}, 1 training run, 1 drift check "
        f"measured; priced with the default front door ({cm.FRONT_DOOR_NAMES[cm.Deployment().front_door]}); "
        f"{ON_CPU}; prices {cm.PRICES_AS_OF}"
    )
    figures: list[Figure] = []
    for volume in PREDICTION_VOLUMES:
        label = f"{volume // 1_000_000}M"
        after = cm.platform_cost(measured, volume).total
        before = cm.platform_cost(measured, volume, d=cm.BEFORE_ISSUE_21).total
        target = TARGETS.get(volume)
        figures.append(
            Figure(
                benchmark="cost",
                figure=f"platform a month, default settings: {label} predictions + hourly drift + weekly training",
                value=after,
                unit="USD",
                baseline="the same month before issue #21 (REST, Lambda X-Ray sampling, 43 metrics, 20 alarms, "
                "698 B predict logs, 255 B access log), from this run's durations",
                baseline_value=before,
                ratio=before / after,
                ratio_meaning="before / after",
                target=f"<= ${target:g}" if target else None,
                met=(after <= target) if target else None,
                data=data,
            )
        )
        figures.append(
            Figure(
                benchmark="cost",
                figure=f"platform a month against SageMaker: {label} predictions",
                value=after,
                unit="USD",
                baseline=BASELINE,
                baseline_value=baseline,
                ratio=baseline / after,
                data=data
                + ("; one t2.medium instance would not serve this with headroom" if volume >= 100_000_000 else ""),
            )
        )
    figures.append(
        Figure(
            benchmark="cost",
            figure="platform a month at 100M predictions, against a larger instance",
            value=cm.platform_cost(measured, PREDICTION_VOLUMES[-1]).total,
            unit="USD",
            baseline=BASELINE_LARGE,
            baseline_value=large,
            ratio=large / cm.platform_cost(measured, PREDICTION_VOLUMES[-1]).total,
            data=data,
        )
    )
    fixed = cm.fixed_cost(measured).total
    figures.append(
        Figure(
            benchmark="cost",
            figure="platform a month, idle (alarms and KMS key; no custom metric is emitted while idle)",
            value=fixed,
            unit="USD",
            baseline="idle before issue #21 (20 alarms, the key, 43 metrics all month)",
            baseline_value=cm.fixed_cost(measured, d=cm.BEFORE_ISSUE_21).total,
            data=f"{measured.alarms} alarms, {measured.kms_keys} KMS key",
        )
    )
    figures.append(
        Figure(
            benchmark="cost",
            figure="hourly drift checks of one model, a month",
            value=cm.drift_cost(measured, cm.HOURS_PER_MONTH).total,
            unit="USD",
            data=f"730 checks of the measured one ({measured.drift.mean_billed_ms:.0f} ms billed); {ON_CPU}",
        )
    )
    figures.append(
        Figure(
            benchmark="cost",
            figure="weekly training of one model, a month",
            value=cm.training_cost(measured, cm.WEEKS_PER_MONTH).total,
            unit="USD",
            data=(
                f"4.35 runs like the measured one ({measured.training_transitions} state transitions, "
                f"{sum(len(s.billed_ms) for s in measured.training_steps)} invocations); {ON_CPU}"
            ),
        )
    )
    for label, profile in [("predict", measured.predict), ("drift", measured.drift)] + [
        (f"training step {_short(s.name)}", s) for s in measured.training_steps
    ]:
        figures.append(
            Figure(
                benchmark="cost",
                figure=f"{label}: p50 billed duration at {profile.memory_mb} MB {profile.architecture}",
                value=profile.p50_billed_ms,
                unit="ms",
                data=(
                    f"{len(profile.billed_ms)} invocations, mean {profile.mean_billed_ms:.1f} ms billed, "
                    f"{profile.log_bytes_per_invocation:.0f} log bytes each; {ON_CPU}"
                ),
            )
        )
    return figures


def _print_tables(measured: cm.Measured, facts: dict[str, Any]) -> None:
    """The README's cost tables and what they were computed from, to stderr."""
    import sys

    print(cost_tables.before_after(measured), file=sys.stderr)
    print(file=sys.stderr)
    print(cost_tables.options_table(measured), file=sys.stderr)
    print(file=sys.stderr)
    print("custom metrics emitted (namespace, name, dimensions):", file=sys.stderr)
    for namespace, name, dimensions in sorted(facts["metrics"]):
        print(f"  {namespace} {name} {dict(dimensions)}", file=sys.stderr)
    print(
        json.dumps(
            {
                "measured": {
                    "predict": [
                        measured.predict.memory_mb,
                        measured.predict.mean_billed_ms,
                        measured.predict.p50_billed_ms,
                        measured.predict.log_bytes_per_invocation,
                    ],
                    "drift": [
                        measured.drift.memory_mb,
                        measured.drift.mean_billed_ms,
                        measured.drift.log_bytes_per_invocation,
                    ],
                    "training": [[s.name, s.memory_mb, list(s.billed_ms)] for s in measured.training_steps],
                    "transitions": measured.training_transitions,
                    "training_puts": measured.training_s3_puts,
                    "training_bytes": measured.training_bytes_stored,
                    "drift_puts": measured.drift_s3_puts,
                    "drift_gets": measured.drift_s3_gets,
                    "access_log_bytes": measured.access_log_bytes_per_request,
                    "capture_bytes_per_row": measured.capture_bytes_per_row,
                    "alarms": measured.alarms,
                    "kms": measured.kms_keys,
                    "metrics": measured.custom_metrics,
                }
            }
        ),
        file=sys.stderr,
    )
