"""The performance report: one check (`PerformanceAssessment`) as a page a person reads, with each
version's floor metric over the checks so far (the registry's `PerformanceSummary` rows), and as
the mail a check below a floor sends.

The page is one self-contained HTML file (inline SVG and style, no scripts, fonts or assets from
elsewhere), so it opens from S3 or a mail as it is; every text that came from data (model, field
and category names) goes through html.escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from mlops.monitoring.performance_record import (
    MetricFigure,
    PerformanceAssessment,
    PerformanceSummary,
    SegmentField,
    VariantPerformance,
)
from mlops.training.metric_names import DEFAULT_SELECTION_METRIC

SERIES_COLORS = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#57606a")
FLOOR_COLOR = "#cf222e"

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:14px;margin:16px 0 6px}
.muted{color:#656d76}.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.ok{background:#dafbe1;color:#116329}.below_floor{background:#ffebe9;color:#a40e26}
.insufficient_labels{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;width:100%;font-size:13px;margin-bottom:8px}th,td{border-bottom:1px solid #d0d7de;
padding:5px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.past td{background:#fff5f5}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0}dt{color:#656d76}
.grid{display:flex;flex-wrap:wrap;gap:16px}.plot{border:1px solid #d0d7de;border-radius:6px;padding:8px}
"""


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def interval_text(figure: MetricFigure) -> str:
    """'[0.774, 0.846]', or '—' without an interval."""
    if figure.low is None or figure.high is None:
        return "—"
    return f"[{_number(figure.low)}, {_number(figure.high)}]"


def chart_metrics(assessment: PerformanceAssessment) -> list[str]:
    """The metrics charted over time: those with a floor the model has, else its selection metric."""
    names = {m.name for v in assessment.variants() for m in v.metrics}
    floors = [str(name) for name in assessment.config.floor if not names or name in names]
    return floors or [str(DEFAULT_SELECTION_METRIC[assessment.problem_type])]


# ------------------------------------------------------------------------------------- the chart


def performance_chart_svg(history: Sequence[PerformanceSummary], metric: str, floor: float | None) -> str:
    """`metric` of each version and variant over the checks (any order; drawn oldest left, by
    time), a line per version and variant, the floor as a dashed line; hollow points are checks
    with too few labels, whose figure decides nothing."""
    width, height, left, right, top, bottom = 640, 220, 48, 150, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    checks = sorted(history, key=lambda s: s.checked_at)
    series: dict[tuple[int, str], list[tuple[datetime, float, str, str]]] = {}
    for check in checks:
        at = datetime.fromisoformat(check.checked_at)
        for variant in check.variants:
            figure = variant.metrics.get(metric)
            if figure is None or figure.value is None:
                continue
            label = (
                f"{check.checked_at[:16]} v{variant.version} {variant.variant}: {metric} {_number(figure.value)}, "
                f"{variant.labelled} labelled rows, {variant.status.replace('_', ' ')}"
            )
            series.setdefault((variant.version, variant.variant), []).append((at, figure.value, variant.status, label))
    values = [value for points in series.values() for _, value, _, _ in points] + ([floor] if floor is not None else [])
    title = f"{metric} per version over the checks" + (f", floor {floor:g}" if floor is not None else "")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>',
        f'<text x="4" y="{top + 8}" font-size="10" fill="#656d76">{escape(metric)}</text>',
    ]
    if not values:
        parts.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
            'fill="#656d76">no checks with this figure yet</text></svg>'
        )
        return "".join(parts)
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or max(abs(high) * 0.05, 0.01)
    low, high = low - pad, high + pad
    times = [datetime.fromisoformat(c.checked_at) for c in checks]
    first, last = min(times), max(times)
    span = (last - first).total_seconds()

    def x(at: datetime) -> float:
        return left + (plot_w * (at - first).total_seconds() / span if span > 0 else plot_w / 2)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * plot_h

    for tick in (low + pad, (low + high) / 2, high - pad):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#eef0f4"/>'
            f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" font-size="9" text-anchor="end" fill="#656d76">'
            f"{_number(tick, 3)}</text>"
        )
    if floor is not None:
        parts.append(
            f'<line x1="{left}" y1="{y(floor):.1f}" x2="{left + plot_w}" y2="{y(floor):.1f}" stroke="{FLOOR_COLOR}" '
            f'stroke-dasharray="6 4" stroke-width="1.5"><title>floor {floor:g}</title></line>'
            f'<text x="{left + plot_w - 4}" y="{y(floor) - 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{FLOOR_COLOR}">floor {floor:g}</text>'
        )
    for i, ((version, answered_as), points) in enumerate(sorted(series.items())):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        if len(points) > 1:
            line = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value, _, _ in points)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        for at, value, status, label in points:
            fill = "white" if status == "insufficient_labels" else color
            parts.append(
                f'<circle cx="{x(at):.1f}" cy="{y(value):.1f}" r="4" fill="{fill}" stroke="{color}" stroke-width="1.5">'
                f"<title>{escape(label)}</title></circle>"
            )
        legend_y = top + 12 + 16 * i
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{legend_y - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + plot_w + 26}" y="{legend_y + 1}" font-size="10">v{version} {escape(answered_as)}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 12}" font-size="10" fill="#656d76">{escape(checks[0].checked_at[:16])}</text>'
        f'<text x="{left + plot_w}" y="{height - 12}" font-size="10" text-anchor="end" fill="#656d76">'
        f"{escape(checks[-1].checked_at[:16])}</text></svg>"
    )
    return "".join(parts)


# ------------------------------------------------------------------------------------- the page


def _metrics_table(assessment: PerformanceAssessment) -> str:
    head = (
        "<tr><th>version</th><th>variant</th><th>labelled</th><th>coverage</th><th>status</th><th>metric</th>"
        "<th>value</th><th>interval</th><th>test split</th><th>difference</th><th>floor</th></tr>"
    )
    rows = []
    for version in assessment.versions:
        if not version.variants:
            rows.append(
                f"<tr><td>v{version.version}</td><td>—</td><td class=num>0</td>"
                f"<td class=num>{_percent(version.coverage)}</td><td>{_badge(version.status)}</td>"
                f'<td colspan="6" class="muted">{version.predicted or 0:,} predictions, no label yet</td></tr>'
            )
        for variant in version.variants:
            for i, figure in enumerate(variant.metrics):
                first = i == 0
                cells = [
                    f"v{variant.version}" if first else "",
                    escape(variant.variant) if first else "",
                    f'<td class="num">{variant.labelled:,}' if first else "",
                    f'<td class="num">{_percent(version.coverage)}' if first else "",
                    _badge(variant.status) if first else "",
                    escape(figure.name),
                    f'<td class="num">{_number(figure.value)}',
                    f'<td class="num">{interval_text(figure)}',
                    f'<td class="num">{_number(figure.test)}',
                    f'<td class="num">{_signed(figure.difference)}',
                    f'<td class="num">{_floor_text(figure)}',
                ]
                html_cells = "".join(c if c.startswith("<td") else f"<td>{c}" for c in cells)
                rows.append(f"<tr{' class=past' if figure.past_floor else ''}>{html_cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status.replace("_", " "))}</span>'


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.4g}"


def _floor_text(figure: MetricFigure) -> str:
    if figure.floor is None:
        return ""
    kind = "floor" if figure.higher_is_better else "ceiling"
    return f"{kind} {figure.floor:g}" + (" (past)" if figure.past_floor else "")


def _calibration_table(variant: VariantPerformance) -> str:
    calibration = variant.calibration
    if calibration is None:
        return ""
    rows = "".join(
        f'<tr><td>{b.low:.1f} to {b.high:.1f}</td><td class="num">{b.rows:,}</td>'
        f'<td class="num">{_number(b.mean_predicted, 3)}</td><td class="num">{_number(b.observed, 3)}</td></tr>'
        for b in calibration.bins
        if b.rows
    )
    return (
        f"<h3>v{variant.version} {escape(variant.variant)}: expected calibration error "
        f"{_number(calibration.error, 3)}</h3><table><tr><th>probability of the predicted class</th><th>rows</th>"
        f"<th>mean predicted</th><th>observed (share right)</th></tr>{rows}</table>"
    )


def _segments_table(assessment: PerformanceAssessment, field: SegmentField, metrics: Sequence[str]) -> str:
    title = f"<h3>{escape(field.name)} <span class='muted'>({escape(field.kind or 'not captured')})</span></h3>"
    if field.note:
        return title + f'<p class="muted">{escape(field.note)}</p>'
    head = "<tr><th>version</th><th>variant</th><th>segment</th><th>labelled</th>" + "".join(
        f"<th>{escape(m)}</th>" for m in metrics
    )
    rows = []
    for variant in assessment.variants():
        for segment in (s for s in variant.segments if s.field == field.name):
            cells = "".join(f'<td class="num">{_number(segment.metrics.get(m))}</td>' for m in metrics)
            rows.append(
                f"<tr><td>v{variant.version}</td><td>{escape(variant.variant)}</td><td>{escape(segment.value)}</td>"
                f'<td class="num">{segment.rows:,}</td>{cells}</tr>'
            )
    return title + f"<table>{head}</tr>{''.join(rows)}</table>"


def performance_report_html(assessment: PerformanceAssessment, history: Sequence[PerformanceSummary] = ()) -> str:
    """The check as one page: summary, figures per version and variant, the floor metric over the
    checks (`history`, the registry's rows; this check is added if it is not among them),
    calibration and segments."""
    title = f"Performance report: {assessment.model}"
    checks = list(history)
    if all(c.checked_at != assessment.checked_at for c in checks):
        checks.append(assessment.summary())
    floors = ", ".join(f"{name} {value:g}" for name, value in assessment.config.floor.items()) or "none configured"
    labels = (
        f"{assessment.labelled:,} labelled rows scored (at least {assessment.config.min_labels:,} per version and "
        f"variant needed)"
    )
    if assessment.unscored:
        labels += f"; {assessment.unscored:,} left out"
    if assessment.label_rows:
        labels += (
            f"; {assessment.label_rows:,} label rows read, {assessment.unmatched_labels:,} about no captured "
            f"prediction, {assessment.superseded_labels:,} replaced by a later label"
        )
    summary = [
        ("status", _badge(assessment.status)),
        ("why", escape(assessment.message)),
        ("window", f"{escape(assessment.window_start)} → {escape(assessment.window_end)}"),
        ("checked at", escape(assessment.checked_at)),
        ("labels", escape(labels)),
        (
            "label delay",
            f"median {_hours(assessment.label_delay.median_hours)}, 90th percentile "
            f"{_hours(assessment.label_delay.p90_hours)} from answer to label",
        ),
        ("floors", escape(floors)),
    ]
    summary += [("note", escape(note)) for note in assessment.notes]
    floor_of = {str(name): value for name, value in assessment.config.floor.items()}
    plots = "".join(
        f'<div class="plot">{performance_chart_svg(checks, metric, floor_of.get(metric))}</div>'
        for metric in chart_metrics(assessment)
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        '<dl class="summary">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary) + "</dl>",
        "<h2>Over time</h2>",
        f'<div class="grid">{plots}</div>',
        "<h2>Versions</h2>",
        _metrics_table(assessment),
        f'<p class="muted">{escape(assessment.method)}</p>',
    ]
    calibrations = "".join(_calibration_table(v) for v in assessment.variants())
    if calibrations:
        body += ["<h2>Calibration</h2>", calibrations]
    if assessment.segment_fields:
        metrics = sorted({name for v in assessment.variants() for s in v.segments for name in s.metrics})
        body += ["<h2>Segments</h2>"] + [_segments_table(assessment, f, metrics) for f in assessment.segment_fields]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>"
    )


# ------------------------------------------------------------------------------------- the mail


def performance_notification(assessment: PerformanceAssessment, page: str) -> tuple[str, str] | None:
    """The mail of a check that found a version past a floor, (subject, text); None otherwise."""
    below = assessment.below_floor()
    if not below:
        return None
    first = below[0]
    figure = next(m for m in first.metrics if m.past_floor)
    side = "below its floor" if figure.higher_is_better else "above its ceiling"
    subject = (
        f"Performance: {assessment.model} v{first.version} {figure.name} {_number(figure.value)} {side} "
        f"{figure.floor:g}"
    )
    who = ", ".join(f"v{v.version} ({v.variant})" for v in below)
    lines = [
        f"Model {assessment.model}: {who} past a floor of its monitoring.performance config.",
        f"Window {assessment.window_start} to {assessment.window_end}; checked at {assessment.checked_at}.",
        "",
    ]
    coverage = {v.version: v for v in assessment.versions}
    for variant in below:
        version = coverage[variant.version]
        lines.append(
            f"v{variant.version} ({variant.variant}), {variant.labelled:,} labelled rows"
            f" of {version.predicted or 0:,} predictions (coverage {_percent(version.coverage)}):"
        )
        for past in (m for m in variant.metrics if m.past_floor):
            word = "floor" if past.higher_is_better else "ceiling"
            lines.append(
                f"- {past.name} {_number(past.value)} {interval_text(past)} vs {word} {past.floor:g}"
                + (f" (test split {_number(past.test)})" if past.test is not None else "")
            )
    lines += [
        "",
        f"Labels counted: {assessment.labelled:,} labelled rows in the window; label delay median "
        f"{_hours(assessment.label_delay.median_hours)}, 90th percentile {_hours(assessment.label_delay.p90_hours)}.",
        f"Report: {page}",
    ]
    return subject[:100], "\n".join(lines)
