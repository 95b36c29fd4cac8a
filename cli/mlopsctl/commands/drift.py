"""`mlops drift`: a model's drift checks, each with the numbers that explain its verdict."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit
from mlopsctl.target import Target


def drift(args: argparse.Namespace) -> int:
    from mlopsctl.api import call

    target = deployment_target(args)
    if args.run_now:  # the scheduled check, now, for this model (due or not)
        response = target.client("lambda").invoke(
            FunctionName=target.output("DriftFunctionName"),
            Payload=json.dumps({"models": [args.name], "force": True}).encode(),
        )
        if response.get("FunctionError"):
            raise CommandError(f"the drift check failed: {response['Payload'].read().decode()[:500]}")
    document = call(target, "GET", f"/v1/models/{args.name}/drift", query={"limit": args.limit})
    bucket = target.output("ArtifactsBucketName")
    lines = []
    for check in document["checks"]:
        share = check.get("drift_share")
        lines.append(
            f"{check['checked_at'][:19]}  v{check['version']}  rows {check['rows']:>8}  "
            f"share {float(share) if share is not None else float('nan'):.2f}  "
            + _drift_verdict(check, _drift_report(target, bucket, check.get("report_key")))
        )
        if check.get("refused_rows"):  # requests the serving policy refused: 400s, captured all the same
            reasons = ", ".join(f"{why} {int(n)}" for why, n in (check.get("refused_by_reason") or {}).items())
            alarm = " (at its alarm level)" if check.get("refused_share_exceeded") else ""
            lines.append(
                f"    refused by the serving policy: {int(check['refused_rows'])} rows, "
                f"{float(check.get('refused_share') or 0):.1%}{alarm}" + (f"; {reasons}" if reasons else "")
            )
        retraining = check.get("retraining") or {}
        if retraining.get("reason"):
            lines.append(f"    retraining: {'started' if retraining.get('started') else 'no'} ({retraining['reason']})")
        if check.get("report_page"):
            lines.append(f"    report: s3://{bucket}/{check['report_page']}")
    emit(args, document, "\n".join(lines) or f"{args.name}: no drift checks yet")
    drifted = bool(document["checks"]) and bool(document["checks"][0].get("dataset_drift"))
    return EXIT_REJECTED if drifted else EXIT_OK


def _drift_report(target: Target, bucket: str, key: str | None) -> dict[str, Any] | None:
    """The check's full report (how many features were compared, the threshold, the prediction)."""
    if not key:
        return None
    try:
        return dict(json.loads(target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))
    except Exception:  # the line below is still right without it, only less precise
        return None


def _drift_verdict(check: dict[str, Any], report: dict[str, Any] | None) -> str:
    """`ok (3 of 31 features drifted, below the dataset-drift share 0.5): a, b, c`: the status
    with the numbers that explain it, so drifted features under an `ok` read as no contradiction."""
    status = str(check["status"])
    drifted = list(check.get("drifted_features") or [])
    if status not in ("ok", "drift"):
        return status + (f": {', '.join(drifted[:6])}" if drifted else "")
    if report is None:
        return f"{status} ({len(drifted)} features drifted)" + (f": {', '.join(drifted[:6])}" if drifted else "")
    config = report.get("config") or {}
    prediction = report.get("prediction")
    counted = bool(config.get("prediction_drift", True)) and prediction is not None
    if counted and isinstance(prediction, dict) and prediction.get("drifted"):
        drifted.insert(0, "the prediction")  # first: the list is cut at six
    compared = len(report.get("features") or []) + int(counted)
    threshold = config.get("dataset_drift_share", 0.5)
    side = "at least" if status == "drift" else "below"
    listed = ", ".join(drifted[:6]) + (f", … ({len(drifted) - 6} more)" if len(drifted) > 6 else "")
    return f"{status} ({len(drifted)} of {compared} features drifted, {side} the dataset-drift share {threshold:g})" + (
        f": {listed}" if drifted else ""
    )
