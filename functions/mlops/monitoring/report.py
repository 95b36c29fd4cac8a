"""The drift report: what one check found (the JSON stored per check and in the registry), as a
page a person reads (one self-contained HTML file stored next to the JSON) and as the few lines of
a notification.

The page has no external assets (no scripts, styles or fonts from elsewhere): it opens from S3 or
an e-mail attachment as it is. Every text that came from data (feature names, categories, model
names) goes through html.escape.
"""

from __future__ import annotations

from html import escape
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.monitoring.config import DriftConfig
from mlops.monitoring.drift_score import drift_score

TestName = Literal["ks", "chi_square", "wasserstein", "jensen_shannon"]
Status = Literal["ok", "drift", "insufficient_data"]
Kind = Literal["numeric", "categorical"]

MAX_NEW_CATEGORY_EXAMPLES = 20  # unseen categories a feature's report names
MAX_LISTED = 10  # drifted features named in a notification


# ------------------------------------------------------------------------------------- the report


class Histogram(BaseModel):
    """Shares of non-missing values per bin, reference against window (the report page's plot)."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str]
    edges: list[float] | None = Field(default=None, description="numeric: bin edges; the end bins take the tails")
    reference: list[float]
    current: list[float]


class FeatureDrift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind
    test: TestName | None = Field(description="None when one side has no values to compare")
    statistic: float = Field(description="the test's or distance's value (0 when no test ran)")
    threshold: float = Field(description="tests: the p-value level drift is below; distances: the threshold")
    p_value: float | None = Field(default=None, description="tests only")
    distribution_drifted: bool
    drifted: bool = Field(description="distribution, missing rate or new categories")
    rows: int = Field(description="captured rows of this feature in the window")
    present: int = Field(description="non-missing values among them")
    reference_count: int = Field(description="non-missing reference values")
    ks_statistic: float | None = Field(default=None, description="numeric: two-sample KS against the sketch")
    wasserstein: float | None = Field(default=None, description="numeric: Wasserstein-1 / reference std")
    missing_rate_reference: float
    missing_rate_current: float
    missing_rate_p_value: float | None = None
    missing_rate_drifted: bool = False
    new_categories: list[str] = Field(default_factory=list, description=f"up to {MAX_NEW_CATEGORY_EXAMPLES}")
    new_category_share: float = 0.0
    new_categories_drifted: bool = False
    histogram: Histogram | None = None
    note: str | None = None


class PredictionDrift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["classification", "regression"]
    score_name: str = Field(description="positive_probability, max_probability or prediction")
    classes: FeatureDrift | None = Field(default=None, description="the predicted classes' frequencies")
    score: FeatureDrift | None = None
    drifted: bool


class RefusedTraffic(BaseModel):
    """What the serving policy refused in the window: those rows got a 400, not an answer."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(default=0, description="captured rows of requests the serving policy refused")
    share: float = Field(default=0.0, description="refused rows / captured rows")
    offending_rows: int = Field(
        default=0, description="refused rows with a value of their own refused (the rest came in the same request)"
    )
    by_reason: dict[str, int] = Field(
        default_factory=dict, description="refused values per reason (out_of_range, …); a row may have several"
    )
    by_field: dict[str, dict[str, int]] = Field(default_factory=dict, description="rows per field and reason")
    threshold: float = Field(default=0.05, description="the share at which the check flags it")
    exceeded: bool = Field(default=False, description="share reached the threshold with at least min_rows rows")


class DriftReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    version: int
    checked_at: str
    window_start: str | None
    window_end: str | None
    rows: int = Field(description="captured rows in the window, answered or refused (shadow rows left out)")
    reference_rows: int
    status: Status
    message: str = Field(description="why the status, in a sentence")
    refused: RefusedTraffic = Field(default_factory=RefusedTraffic)
    features: list[FeatureDrift] = Field(description="drifted first, most past its threshold first (`by_severity`)")
    prediction: PredictionDrift | None
    drifted_features: list[str]
    drift_share: float = Field(description="drifted / compared features, the prediction counted if configured")
    dataset_drift: bool
    not_captured: list[str] = Field(default_factory=list, description="profiled features absent from the window")
    config: DriftConfig


def by_severity(features: list[FeatureDrift]) -> list[FeatureDrift]:
    """Drifted features first (a missing rate or new categories drift a feature whose distribution
    held), each group most drifted first by `drift_score` (the score over its threshold, on one scale
    for tests and distances); ties keep the profile's order. A reader of a report with dozens of
    features sees the worst ones at the top, and a list cut short keeps them."""
    return sorted(features, key=lambda f: (not f.drifted, -drift_score(f)))


# ------------------------------------------------------------------------------------- the page


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#656d76}.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.ok{background:#dafbe1;color:#116329}.drift{background:#ffebe9;color:#a40e26}
.insufficient_data{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #d0d7de;padding:5px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#fff5f5}.grid{display:flex;flex-wrap:wrap;gap:16px}
.plot{border:1px solid #d0d7de;border-radius:6px;padding:8px}.plot h3{font-size:13px;margin:0 0 4px}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0}dt{color:#656d76}
.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""
REFERENCE_COLOR = "#8c959f"
CURRENT_COLOR = "#0969da"


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


def _why(feature: FeatureDrift) -> str:
    """What made the feature drift, in words: 'ks 0.153, p 0.0003 < 0.01', 'wasserstein 0.25 >= 0.1',
    'missing rate 5.0 % -> 31.0 %', 'new categories 5.1 % (purple)'."""
    parts = []
    if feature.test is not None and feature.distribution_drifted:
        if feature.p_value is not None:
            sign = "<" if feature.p_value < feature.threshold else ">="
            parts.append(
                f"{feature.test} {_number(feature.statistic, 3)}, p {_number(feature.p_value, 2)} {sign} "
                f"{_number(feature.threshold)}"
            )
        else:
            sign = ">=" if feature.statistic >= feature.threshold else "<"
            parts.append(f"{feature.test} {_number(feature.statistic, 3)} {sign} {_number(feature.threshold)}")
    if feature.missing_rate_drifted:
        parts.append(
            f"missing rate {_percent(feature.missing_rate_reference)} -> {_percent(feature.missing_rate_current)}"
        )
    if feature.new_categories_drifted:
        examples = ", ".join(feature.new_categories[:3]) + (" …" if len(feature.new_categories) > 3 else "")
        parts.append(f"new categories {_percent(feature.new_category_share)} ({examples})")
    return "; ".join(parts)


def refused_text(refused: RefusedTraffic) -> str:
    """'refused 40.0 % of rows (120; alarm at 5.0 %, reached): out_of_range 130 (mean_area 60, …)'."""
    reached = ", reached" if refused.exceeded else ""
    level = f"alarm at {_percent(refused.threshold)}{reached}"
    text = f"refused {_percent(refused.share)} of rows ({refused.rows:,}; {level})"
    if refused.by_reason:
        parts = []
        for why, count in refused.by_reason.items():
            fields = sorted(
                ((name, reasons[why]) for name, reasons in refused.by_field.items() if why in reasons),
                key=lambda item: -item[1],
            )
            listed = ", ".join(f"{name} {count}" for name, count in fields[:3]) + (" …" if len(fields) > 3 else "")
            parts.append(f"{why} {count:,} ({listed})")
        text += ": " + "; ".join(parts)
    return text


def _entries(report: DriftReport) -> list[tuple[str, FeatureDrift]]:
    """Features, then the prediction's parts, each with the label shown in the table."""
    rows = [(f.name, f) for f in report.features]
    if report.prediction is not None:
        for part in (report.prediction.classes, report.prediction.score):
            if part is not None:
                rows.append((f"prediction: {part.name}", part))
    return rows


def _svg(histogram: Histogram, title: str) -> str:
    """Reference and window shares side by side per bin, with a tooltip per bar."""
    width, height, left, bottom, top = 380, 150, 34, 34, 8
    bins = max(len(histogram.labels), 1)
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = max([*histogram.reference, *histogram.current, 1e-12])
    slot = plot_w / bins
    bar = max(slot * 0.42, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" stroke="#8c959f"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end" fill="#656d76">{100 * peak:.0f}%</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="9" text-anchor="end" fill="#656d76">0</text>',
    ]
    for i, label in enumerate(histogram.labels):
        x0 = left + i * slot + slot * 0.08
        for j, (share, color, side) in enumerate(
            ((histogram.reference[i], REFERENCE_COLOR, "reference"), (histogram.current[i], CURRENT_COLOR, "window"))
        ):
            h = plot_h * share / peak
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {side} {100 * share:.1f} %</title></rect>'
            )
    if histogram.edges is not None:
        for edge_x, value, anchor in (
            (float(left), histogram.edges[0], "start"),
            (float(left + plot_w), histogram.edges[-1], "end"),
        ):
            parts.append(
                f'<text x="{edge_x:.1f}" y="{top + plot_h + 12}" font-size="9" text-anchor="{anchor}" '
                f'fill="#656d76">{escape(_number(value))}</text>'
            )
    else:
        for i, label in enumerate(histogram.labels):
            x = left + (i + 0.5) * slot
            short = label if len(label) <= 10 else label[:9] + "…"
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 10}" font-size="8" text-anchor="end" fill="#656d76" '
                f'transform="rotate(-35 {x:.1f} {top + plot_h + 10})">{escape(short)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(report: DriftReport) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>threshold</th><th>p-value</th>"
        "<th>KS</th><th>rows</th><th>missing (reference → window)</th><th>new categories</th><th>drifted</th></tr>"
    )
    rows = []
    for label, f in _entries(report):
        new = ""
        if f.new_categories:
            shown = ", ".join(f.new_categories[:5]) + (" …" if len(f.new_categories) > 5 else "")
            new = f"{_percent(f.new_category_share)}: {shown}"
        verdict = "yes: " + _why(f) if f.drifted else "no"
        missing = f"{_percent(f.missing_rate_reference)} → {_percent(f.missing_rate_current)}"
        cells = [
            escape(label),
            escape(f.kind),
            escape(f.test or "—"),
            f'<td class="num">{_number(f.statistic) if f.test else ""}',
            f'<td class="num">{_number(f.threshold)}',
            f'<td class="num">{_number(f.p_value, 3)}',
            f'<td class="num">{_number(f.ks_statistic)}',
            f'<td class="num">{f.present:,} / {f.rows:,}',
            escape(missing) + (" (changed)" if f.missing_rate_drifted else ""),
            escape(new),
            escape(verdict) + (f" <span class='muted'>{escape(f.note)}</span>" if f.note else ""),
        ]
        html_cells = "".join(c if c.startswith("<td") else f"<td>{c}" for c in cells)
        rows.append(f"<tr{' class=drifted' if f.drifted else ''}>{html_cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def drift_report_html(report: DriftReport) -> str:
    """The whole report as one HTML page: summary, per-feature table, a plot per feature."""
    title = f"Drift report: {report.model} v{report.version}"
    config = report.config
    summary = [
        ("status", f'<span class="badge {escape(report.status)}">{escape(report.status.replace("_", " "))}</span>'),
        ("why", escape(report.message)),
        ("window", f"{escape(report.window_start or '—')} → {escape(report.window_end or '—')}"),
        ("checked at", escape(report.checked_at)),
        ("refused by the serving policy", escape(refused_text(report.refused))),
        (
            "rows",
            f"{report.rows:,} captured, answered or refused (shadow rows left out); "
            f"reference {report.reference_rows:,} training rows",
        ),
        ("drift share", f"{_percent(report.drift_share)} (dataset drift at {_percent(config.dataset_drift_share)})"),
        ("dataset drift", "yes" if report.dataset_drift else "no"),
        (
            "drifted features",
            escape(", ".join(report.drifted_features)) if report.drifted_features else "none",
        ),
    ]
    if report.prediction is not None:
        summary.append(("prediction drift", "yes" if report.prediction.drifted else "no"))
    if report.not_captured:
        summary.append(("not captured", escape(", ".join(report.not_captured))))
    rules = (
        f"Up to {config.small_sample_rows:,} values a feature is tested (KS for numbers, chi-square for "
        f"categories) and drifts when p &lt; {config.p_value:g}; above that, distances: Wasserstein over the "
        f"reference's standard deviation &gt;= {config.wasserstein_threshold:g}, Jensen-Shannon &gt;= "
        f"{config.jensen_shannon_threshold:g}. Also drift: missing rate moved by {config.missing_rate_threshold:g} "
        f"or more, or more than {_percent(config.new_category_share)} of values in categories the reference "
        f"never saw. At least {config.min_rows:,} rows are needed."
    )
    plots = []
    for label, f in _entries(report):
        if f.histogram is None:
            continue
        plots.append(
            f'<div class="plot"><h3>{escape(label)}{" — drifted" if f.drifted else ""}</h3>'
            f"{_svg(f.histogram, label)}</div>"
        )
    body = [
        f"<h1>{escape(title)}</h1>",
        '<dl class="summary">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in summary) + "</dl>",
        f'<p class="muted">{rules}</p>',
    ]
    if report.features or report.prediction is not None:
        body += ["<h2>Features</h2>", _table(report)]
    if plots:
        body += [
            "<h2>Distributions</h2>",
            '<p class="key muted">share of non-missing values per bin:'
            f'<span style="background:{REFERENCE_COLOR}"></span>reference'
            f'<span style="background:{CURRENT_COLOR}"></span>window</p>',
            f'<div class="grid">{"".join(plots)}</div>',
        ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>"
    )


def drift_summary_text(report: DriftReport) -> str:
    """A few lines for a notification: what was checked, the verdict, and what drifted by how much."""
    window = f"{report.window_start or '?'} to {report.window_end or '?'}"
    lines = [
        f"Model {report.model} version {report.version}: {report.status.replace('_', ' ')}",
        f"Window {window}: {report.rows:,} rows",
        f"{report.message}",
    ]
    if report.refused.rows:
        lines.append(f"Serving policy {refused_text(report.refused)}")
    if report.status == "insufficient_data":
        return "\n".join(lines)
    drifted = [f for f in report.features if f.drifted]
    if drifted:
        lines.append("Drifted features:")
        lines += [f"- {f.name}: {_why(f)}" for f in drifted[:MAX_LISTED]]
        if len(drifted) > MAX_LISTED:
            lines.append(f"- … and {len(drifted) - MAX_LISTED} more")
    if report.prediction is not None and report.prediction.drifted:
        parts = [p for p in (report.prediction.classes, report.prediction.score) if p is not None and p.drifted]
        lines.append("Prediction drift: " + "; ".join(f"{p.name}: {_why(p)}" for p in parts))
    return "\n".join(lines)
