"""`mlops performance`: a model's performance checks on labelled traffic. The newest is a table per
version and variant, each metric with its interval, the test-split figure and the floor; the
earlier ones are a line each."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit

if TYPE_CHECKING:
    from mlops.monitoring.performance_record import MetricSummary, PerformanceSummary

# The stack output naming the scheduled performance function (infra/constructs/performance.py,
# construct id "Performance"), as DriftFunctionName names the drift function.
PERFORMANCE_FUNCTION_OUTPUT = "PerformanceFunctionName"
HEADER = ["version", "variant", "labelled", "status", "metric", "value", "interval", "test split", "diff", "floor"]
RIGHT = {2, 5, 6, 7, 8}  # number columns


def performance(args: argparse.Namespace) -> int:
    from mlops.monitoring.performance_record import PerformanceSummary
    from mlopsctl.api import call

    target = deployment_target(args)
    if args.run_now:  # the scheduled check, now, for this model (due or not)
        response = target.client("lambda").invoke(
            FunctionName=target.output(PERFORMANCE_FUNCTION_OUTPUT),
            Payload=json.dumps({"models": [args.name], "force": True}).encode(),
        )
        if response.get("FunctionError"):
            raise CommandError(f"the performance check failed: {response['Payload'].read().decode()[:500]}")
    document = call(target, "GET", f"/v1/models/{args.name}/performance", query={"limit": args.limit})
    checks = [PerformanceSummary.model_validate(check) for check in document["checks"]]
    bucket = target.output("ArtifactsBucketName") if checks and checks[0].report_page else None
    emit(args, document, "\n".join(performance_lines(args.name, checks, bucket)))
    return EXIT_REJECTED if checks and checks[0].status == "below_floor" else EXIT_OK


def performance_lines(name: str, checks: Sequence[PerformanceSummary], bucket: str | None = None) -> list[str]:
    """The newest check (first) as a table, then a line per earlier check."""
    if not checks:
        return [
            f"{name}: no performance checks yet (checks run hourly, or with --run, for a model whose champion was "
            "trained with monitoring.performance in its config: its labels are joined with its predictions)"
        ]
    newest = checks[0]
    lines = [
        f"{name}: {newest.status.replace('_', ' ')}, checked {newest.checked_at[:19]} "
        f"(window {newest.window_start[:16]} to {newest.window_end[:16]}, {newest.labelled:,} labelled rows)",
        f"  {newest.message}",
        "",
        *_aligned([HEADER, *_rows(newest)]),
        "",
        _coverage(newest),
    ]
    # What the check led to: the canary's A/B comparison and action, the feedback upload, retraining.
    if newest.ab_test:
        lines.append(f"A/B: {newest.ab_test.get('text') or newest.ab_test.get('verdict')}")
    if newest.canary:
        lines.append(f"canary: {newest.canary.get('action')}: {newest.canary.get('detail', '')}")
    if newest.feedback:
        lines.append(f"feedback: {newest.feedback.get('detail')}")
    if newest.retraining:
        lines.append(f"retraining: {newest.retraining.get('summary')}")
    if newest.report_page and bucket:
        lines.append(f"report: s3://{bucket}/{newest.report_page}")
    if len(checks) > 1:
        lines += ["", "earlier checks:"] + [_earlier(check) for check in checks[1:]]
    return lines


def _rows(check: PerformanceSummary) -> list[list[str]]:
    rows = []
    for variant in check.variants:
        for i, (metric, figure) in enumerate(sorted(variant.metrics.items())):
            first = i == 0
            rows.append(
                [
                    f"v{variant.version}" if first else "",
                    variant.variant if first else "",
                    f"{variant.labelled:,}" if first else "",
                    variant.status if first else "",
                    metric,
                    _number(figure.value),
                    _interval(figure),
                    _number(figure.test),
                    _difference(figure),
                    _floor(check.floor, metric, metric in variant.past_floor),
                ]
            )
    return rows


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i in RIGHT else c.ljust(w) for i, (c, w) in enumerate(cells)).rstrip()

    return [line(row) for row in rows]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _interval(figure: MetricSummary) -> str:
    return "-" if figure.low is None or figure.high is None else f"[{figure.low:.4g}, {figure.high:.4g}]"


def _difference(figure: MetricSummary) -> str:
    return "-" if figure.value is None or figure.test is None else f"{figure.value - figure.test:+.4g}"


def _floor(floors: Mapping[str, float | None], metric: str, past: bool) -> str:
    floor = floors.get(metric)
    return "" if floor is None else f"{floor:g}" + (" PAST" if past else "")


def _coverage(check: PerformanceSummary) -> str:
    parts = []
    for version, predicted in sorted(check.predicted.items()):
        share = check.coverage.get(version)
        labelled = sum(v.labelled for v in check.variants if v.version == version)
        parts.append(
            f"v{version} {'-' if share is None else f'{100 * share:.1f} %'} ({labelled:,} of {predicted:,} predictions)"
        )
    delay = check.label_delay
    hours = (
        f"label delay median {delay.median_hours:.1f} h, p90 {delay.p90_hours:.1f} h"
        if delay.median_hours is not None and delay.p90_hours is not None
        else "no label delay yet"
    )
    labels = f"; labels about no captured prediction: {check.unmatched_labels:,}" if check.unmatched_labels else ""
    return f"coverage: {'; '.join(parts) or '-'}; {hours}{labels}"


def _earlier(check: PerformanceSummary) -> str:
    figures = []
    watched = list(check.floor) or None
    for variant in check.variants:
        for metric, figure in sorted(variant.metrics.items()):
            if watched is None or metric in watched:
                figures.append(f"v{variant.version} {variant.variant} {metric} {_number(figure.value)}")
    shown = ", ".join(figures) if watched is not None else f"{len(check.variants)} versions and variants scored"
    return f"{check.checked_at[:19]}  {check.status:<19}  {check.labelled:>8,} labelled  {shown}"
