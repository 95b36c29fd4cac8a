"""The lifecycle report: one self-contained HTML page per model (inline CSS and SVG, no scripts, no
external assets) for a reviewer who wants the whole story in one place: aliases and rollout, the
champion's evaluation and ONNX parity, every version, drift over time, performance on labelled
traffic over time (with the A/B comparisons of canaries and the feedback dataset versions) and the
audit trail.

Pure: the caller gathers the records (registry API, artifacts bucket) and passes them in; this
module makes no AWS calls, so the page can be tested and rendered anywhere. Every value that came
from data goes through html.escape (the training report's `escaped`).

One module, page and records together: `ModelLifecycle` and its parts exist only as this page's
input, so its fields and the sections that show them are read side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops.monitoring.performance_record import PerformanceSummary
from mlops.monitoring.performance_report import performance_chart_svg
from mlops.names import CHAMPION
from mlops.registry.views import audit_state, ordered_metrics
from mlops.training.evaluation import Evaluation
from mlops.training.report import (
    REPORT_CSS,
    calibration_html,
    confusion_matrix_html,
    escaped,
    html_table,
    metrics_table,
    number_text,
    segments_table,
    verdict_badge,
)

MAX_DRIFT_FEATURES = 12  # feature rows in the per-feature table (those that drifted come first)
MAX_DRIFT_COLUMNS = 10  # newest checks shown per feature
MAX_AUDIT_EVENTS = 25
MAX_PERFORMANCE_CHECKS = 20  # rows in the performance checks table (the chart draws every check given)

_EXTRA_CSS = """
.badge.champion{background:#dcfae6;color:#116329}.badge.challenger{background:#fff4d6;color:#7d4e00}
.badge.other{background:#eef4ff;color:#1d4ed8}td.drifted{background:#fee4e2}td.steady{background:#f3f5f9}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#667085}
"""


@dataclass(frozen=True)
class AliasPointer:
    """An alias and what it points at; `rollout` is 'canary 0.1' or 'shadow' for a challenger."""

    name: str
    version: int
    previous_version: int | None = None
    rollout: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class VersionEntry:
    version: int
    status: str
    created_at: str = ""
    dataset: str = ""
    dataset_version: str = ""
    run_id: str = ""
    estimator: str = ""
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the chosen candidate's parameters
    run_report: str | None = None  # where the run's own report is, relative to this page


@dataclass(frozen=True)
class FeatureScore:
    """One feature in one drift check: the test's statistic and whether it counted as drift."""

    statistic: float | None
    drifted: bool
    test: str | None = None


@dataclass(frozen=True)
class DriftCheck:
    checked_at: str
    version: int | None
    status: str
    rows: int
    drift_share: float | None
    dataset_drift: bool
    drifted_features: tuple[str, ...] = ()
    report_page: str | None = None
    features: Mapping[str, FeatureScore] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    at: str
    actor: str
    action: str
    reason: str
    before: str
    after: str


@dataclass(frozen=True)
class ModelLifecycle:
    """Everything the page shows; `from_records` builds it from the registry API's JSON."""

    model: str
    generated_at: str
    latest_version: int | None
    aliases: tuple[AliasPointer, ...]
    versions: tuple[VersionEntry, ...]  # newest first
    evaluation: Evaluation | None = None
    evaluation_version: int | None = None
    selection_metric: str | None = None
    drift_checks: tuple[DriftCheck, ...] = ()  # newest first
    performance_checks: tuple[PerformanceSummary, ...] = ()  # newest first
    audit: tuple[AuditEvent, ...] = ()  # newest first
    source: str = ""

    @classmethod
    def from_records(
        cls,
        *,
        model: Mapping[str, Any],
        versions: Sequence[Mapping[str, Any]],
        generated_at: str,
        evaluation: Evaluation | Mapping[str, Any] | None = None,
        evaluation_version: int | None = None,
        selection_metric: str | None = None,
        drift_checks: Sequence[Mapping[str, Any]] = (),
        drift_reports: Mapping[str, Mapping[str, Any]] | None = None,
        performance_checks: Sequence[Mapping[str, Any]] = (),
        audit: Sequence[Mapping[str, Any]] = (),
        source: str = "",
        run_reports: Mapping[int, str] | None = None,
    ) -> ModelLifecycle:
        """From GET /v1/models/{name} (`model`), /versions, /drift, /performance and /audit as the API answers;
        `drift_reports` maps a check's checked_at to its stored drift report JSON, for per-feature
        scores (the check rows keep only the drifted names); `run_reports` maps a version to its run's
        report, as a link relative to the page."""
        reports = drift_reports or {}
        links = run_reports or {}
        if evaluation is not None and not isinstance(evaluation, Evaluation):
            evaluation = Evaluation.model_validate(evaluation)
        return cls(
            model=str(model.get("model") or model.get("name") or ""),
            generated_at=generated_at,
            latest_version=_int(model.get("latest_version")),
            aliases=tuple(_alias(name, item) for name, item in sorted((model.get("aliases") or {}).items())),
            versions=tuple(
                sorted((_version(v, links) for v in versions), key=lambda entry: entry.version, reverse=True)
            ),
            evaluation=evaluation,
            evaluation_version=evaluation_version,
            selection_metric=selection_metric,
            drift_checks=tuple(
                sorted(
                    (_drift_check(c, reports.get(str(c.get("checked_at")))) for c in drift_checks),
                    key=lambda check: check.checked_at,
                    reverse=True,
                )
            ),
            performance_checks=tuple(
                sorted(
                    (PerformanceSummary.from_item(c) for c in performance_checks),
                    key=lambda check: check.checked_at,
                    reverse=True,
                )
            ),
            audit=tuple(
                # newest first, as the API answers; events of the same second keep its order
                sorted((_audit(e) for e in audit), key=lambda event: event.at, reverse=True)[:MAX_AUDIT_EVENTS]
            ),
            source=source,
        )


def _feature_list(features: Sequence[str], shown: int = 8) -> str:
    return ", ".join(features[:shown]) + (" …" if len(features) > shown else "")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _alias(name: str, item: Mapping[str, Any]) -> AliasPointer:
    rollout = item.get("rollout") or None
    how = None
    if rollout:
        how = "shadow" if rollout.get("mode") == "shadow" else f"{rollout.get('mode')} {rollout.get('weight')}"
    return AliasPointer(
        name=name,
        version=int(item["version"]),
        previous_version=_int(item.get("previous_version")),
        rollout=how,
        updated_at=item.get("updated_at"),
    )


def _version(record: Mapping[str, Any], run_reports: Mapping[int, str]) -> VersionEntry:
    return VersionEntry(
        version=int(record["version"]),
        status=str(record.get("status", "")),
        created_at=str(record.get("created_at") or ""),
        dataset=str(record.get("dataset") or ""),
        dataset_version=str(record.get("dataset_version") or ""),
        run_id=str(record.get("run_id") or ""),
        estimator=str(record.get("estimator") or ""),
        metrics={str(k): _float(v) for k, v in (record.get("metrics") or {}).items()},
        parity=dict(record.get("parity") or {}),
        hyperparameters=dict(record.get("params") or {}),
        run_report=run_reports.get(int(record["version"])),
    )


def _drift_check(row: Mapping[str, Any], report: Mapping[str, Any] | None) -> DriftCheck:
    features: dict[str, FeatureScore] = {}
    for feature in (report or {}).get("features", []):
        features[str(feature["name"])] = FeatureScore(
            statistic=_float(feature.get("statistic")), drifted=bool(feature.get("drifted")), test=feature.get("test")
        )
    return DriftCheck(
        checked_at=str(row.get("checked_at", "")),
        version=_int(row.get("version")),
        status=str(row.get("status", "")),
        rows=int(row.get("rows") or 0),
        drift_share=_float(row.get("drift_share")),
        dataset_drift=bool(row.get("dataset_drift")),
        drifted_features=tuple(str(f) for f in row.get("drifted_features") or ()),
        report_page=row.get("report_page"),
        features=features,
    )


def _audit(event: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        at=str(event.get("at", "")),
        actor=str(event.get("actor", "")),
        action=str(event.get("action", "")),
        reason=str(event.get("reason", "")),
        before=audit_state(event.get("before")),
        after=audit_state(event.get("after")),
    )


# -- sections ---------------------------------------------------------------------------------
def _aliases(lifecycle: ModelLifecycle) -> str:
    if not lifecycle.aliases:
        return "<p class='muted'>No aliases: nothing is served yet.</p>"
    return html_table(
        ["alias", "version", "rollout", "previous version", "since"],
        [
            [
                f"<td><span class='badge {escaped(a.name if a.name in ('champion', 'challenger') else 'other')}'>"
                f"{escaped(a.name)}</span></td>",
                f"<td>v{a.version}</td>",
                f"<td>{escaped(a.rollout or ('answers every request' if a.name == 'champion' else '-'))}</td>",
                f"<td>{'v' + str(a.previous_version) if a.previous_version is not None else '-'}</td>",
                f"<td>{escaped((a.updated_at or '')[:19])}</td>",
            ]
            for a in lifecycle.aliases
        ],
    )


def _parity(entry: VersionEntry | None) -> str:
    if entry is None or not entry.parity:
        return "<p class='muted'>No parity figures recorded.</p>"
    passed = entry.parity.get("passed")
    verdict = "n/a" if passed is None else verdict_badge(bool(passed))
    return f"<p>ONNX against scikit-learn on the test split, v{entry.version}: {verdict}</p>" + html_table(
        ["figure", "value"],
        [
            [f"<td>{escaped(label)}</td>", number_text(_float(entry.parity.get(key)))]
            for key, label in (
                ("max_abs_probability_diff", "max abs probability diff"),
                ("label_agreement", "label agreement"),
                ("max_relative_diff", "max relative diff"),
            )
            if key in entry.parity
        ],
    )


def _run_cell(entry: VersionEntry) -> str:
    """The run that trained the version: a link to its report when the page has one beside it."""
    if entry.run_report:
        return f"<td><a href='{escaped(entry.run_report)}'><code>{escaped(entry.run_id)}</code></a></td>"
    return f"<td><code>{escaped(entry.run_id or '-')}</code></td>"


def _hyperparameters(params: Mapping[str, Any]) -> str:
    return " ".join(f"<code>{escaped(k)}={escaped(v)}</code>" for k, v in sorted(params.items())) or "-"


def _history(lifecycle: ModelLifecycle) -> str:
    if not lifecycle.versions:
        return "<p class='muted'>No versions yet.</p>"
    pointing: dict[int, list[str]] = {}
    for a in lifecycle.aliases:
        pointing.setdefault(a.version, []).append(a.name)
    names = sorted({k for v in lifecycle.versions for k in v.metrics})
    metrics = ordered_metrics(dict.fromkeys(names), lifecycle.selection_metric)
    rows = []
    for v in lifecycle.versions:
        badges = " ".join(
            f"<span class='badge {escaped(n if n in ('champion', 'challenger') else 'other')}'>{escaped(n)}</span>"
            for n in pointing.get(v.version, [])
        )
        rows.append(
            [
                f"<td>v{v.version}</td>",
                f"<td>{badges or '-'}</td>",
                f"<td>{escaped(v.status)}</td>",
                f"<td>{escaped(v.created_at[:19])}</td>",
                f"<td>{escaped(v.dataset)} <code>{escaped(v.dataset_version[:12])}</code></td>",
                _run_cell(v),
                f"<td>{escaped(v.estimator)}</td>",
                f"<td>{_hyperparameters(v.hyperparameters)}</td>",
                *[number_text(v.metrics.get(m)) for m in metrics],
                number_text(_float(v.parity.get("max_abs_probability_diff"))),
                number_text(_float(v.parity.get("label_agreement"))),
            ]
        )
    return html_table(
        [
            "version",
            "aliases",
            "status",
            "created",
            "dataset version",
            "run",
            "estimator",
            "hyperparameters",
            *metrics,
            "parity max diff",
            "label agreement",
        ],
        rows,
    )


def drift_share_svg(checks: Sequence[DriftCheck]) -> str:
    """Drift share per check, oldest left; red dots mark checks that found dataset drift, hollow
    ones had too little data for a share."""
    chronological = list(reversed(checks))
    width, height, left, right, top, bottom = 640, 200, 40, 12, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(chronological) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(chronological) > 1 else plot_w / 2)

    def y(share: float) -> float:
        return top + (1 - min(max(share, 0.0), 1.0)) * plot_h

    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="drift share over time">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d8dde6"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#eef0f4"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick:g}</text>'
        )
    points = [(i, c.drift_share) for i, c in enumerate(chronological) if c.drift_share is not None]
    if len(points) > 1:
        line = " ".join(f"{x(i):.1f},{y(s):.1f}" for i, s in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#2f6feb" stroke-width="2"/>')
    for i, check in enumerate(chronological):
        share = check.drift_share
        label = (
            f"{check.checked_at[:19]} v{check.version}: {check.status}, {check.rows} rows, "
            f"share {'n/a' if share is None else f'{share:.2f}'}"
            f"{', dataset drift' if check.dataset_drift else ''}"
        )
        if share is None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(0):.1f}" r="4" fill="white" stroke="#98a2b3">'
                f"<title>{escaped(label)}</title></circle>"
            )
        else:
            color = "#b42318" if check.dataset_drift else "#2f6feb"
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(share):.1f}" r="5" fill="{color}">'
                f"<title>{escaped(label)}</title></circle>"
            )
    if chronological:
        parts.append(
            f'<text x="{left}" y="{height - 12}" font-size="10">{escaped(chronological[0].checked_at[:16])}</text>'
            f'<text x="{left + plot_w}" y="{height - 12}" font-size="10" text-anchor="end">'
            f"{escaped(chronological[-1].checked_at[:16])}</text>"
        )
    parts.append(f'<text x="4" y="{top + 8}" font-size="10">share</text></svg>')
    return "".join(parts)


def _sparkline(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    width, height = 90, 22
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="statistic over time">'
        f'<polyline points="{points}" fill="none" stroke="#2f6feb" stroke-width="1.5"/></svg>'
    )


def _feature_table(checks: Sequence[DriftCheck]) -> str:
    shown = [c for c in reversed(checks[:MAX_DRIFT_COLUMNS]) if c.features]
    if not shown:
        return ""
    drifted_count: dict[str, int] = {}
    for check in shown:
        for name, score in check.features.items():
            drifted_count[name] = drifted_count.get(name, 0) + int(score.drifted)
    names = sorted(drifted_count, key=lambda n: (-drifted_count[n], n))[:MAX_DRIFT_FEATURES]
    rows = []
    for name in names:
        scores = [check.features.get(name) for check in shown]
        cells = [
            '<td class="num muted">n/a</td>'
            if s is None or s.statistic is None
            else f'<td class="num {"drifted" if s.drifted else "steady"}" title="{escaped(s.test or "")}">'
            f"{s.statistic:.3g}</td>"
            for s in scores
        ]
        trend = _sparkline([s.statistic if s else None for s in scores])
        rows.append([f"<td>{escaped(name)}</td>", f"<td>{drifted_count[name]}</td>", *cells, f"<td>{trend}</td>"])
    return (
        "<h3>Per-feature statistics</h3><p class='muted'>each check's test statistic (KS, Wasserstein or "
        "chi-square, as the drift policy chose); red cells drifted. Features that drifted most often first.</p>"
        + html_table(["feature", "drifted in", *[c.checked_at[5:16] for c in shown], "trend"], rows)
    )


def _drift_section(lifecycle: ModelLifecycle) -> str:
    checks = lifecycle.drift_checks
    if not checks:
        return "<p class='muted'>No drift checks yet.</p>"
    table = html_table(
        ["checked at", "version", "status", "rows", "drift share", "dataset drift", "drifted features", "report"],
        [
            [
                f"<td>{escaped(c.checked_at[:19])}</td>",
                f"<td>{'v' + str(c.version) if c.version is not None else '-'}</td>",
                f"<td>{escaped(c.status)}</td>",
                number_text(c.rows),
                number_text(c.drift_share),
                f"<td>{'<span class=fail>yes</span>' if c.dataset_drift else 'no'}</td>",
                f"<td>{escaped(_feature_list(c.drifted_features)) or '-'}</td>",
                f"<td><code>{escaped(c.report_page or '-')}</code></td>",
            ]
            for c in checks
        ],
    )
    return drift_share_svg(checks) + _feature_table(checks) + "<h3>Checks</h3>" + table


def _performance_section(lifecycle: ModelLifecycle) -> str:
    """Each floor's metric over the checks (every version and variant, the floor drawn), then the
    checks with what each led to: a canary's A/B verdict and action, feedback written, retraining."""
    checks = lifecycle.performance_checks
    if not checks:
        return "<p class='muted'>No performance checks yet (the config's monitoring.performance sends labels here).</p>"
    floors = dict(checks[0].floor)
    metrics = list(floors) or sorted({m for c in checks for v in c.variants for m in v.metrics})[:1]
    charts = "".join(performance_chart_svg(checks, metric, floors.get(metric)) for metric in metrics)
    rows = []
    for check in checks[:MAX_PERFORMANCE_CHECKS]:
        figures = "; ".join(
            f"v{v.version} {v.variant} ({v.labelled}): "
            + ", ".join(
                f"{name} {m.value:.4g}" for name, m in v.metrics.items() if name in metrics and m.value is not None
            )
            for v in check.variants
        )
        ab = check.ab_test or {}
        canary = check.canary or {}
        feedback = check.feedback or {}
        rows.append(
            [
                f"<td>{escaped(check.checked_at[:16])}</td>",
                f"<td>{verdict_badge(check.status != 'below_floor')} {escaped(check.status.replace('_', ' '))}</td>",
                f"<td class=num>{check.labelled:,}</td>",
                f"<td>{escaped(figures) or '-'}</td>",
                f"<td>{escaped(str(ab.get('text') or ab.get('verdict') or '-'))}</td>",
                f"<td>{escaped(str(canary.get('action') or '-'))}</td>",
                f"<td>{escaped(str(feedback.get('key') or feedback.get('detail') or '-'))}</td>",
                f"<td>{escaped(str((check.retraining or {}).get('summary') or '-'))}</td>",
            ]
        )
    table = html_table(
        ["checked at", "status", "labelled", "live figures (labelled rows)", "A/B", "canary", "feedback", "retraining"],
        rows,
    )
    written = [c.feedback for c in checks if c.feedback and c.feedback.get("key")]
    versions = (
        "<h3>Feedback uploads</h3><p>Labelled traffic written back under raw/&lt;dataset&gt;/, each checked by "
        "ingestion against the dataset's contract (a new dataset version, or quarantine with its report): "
        + ", ".join(f"{escaped(str(f['key']))} ({int(f.get('rows') or 0):,} rows)" for f in written)
        + "</p>"
        if written
        else ""
    )
    return charts + f"<h3>Checks (newest {MAX_PERFORMANCE_CHECKS})</h3>" + table + versions


def _audit_trail(lifecycle: ModelLifecycle) -> str:
    if not lifecycle.audit:
        return "<p class='muted'>No audit events.</p>"
    return html_table(
        ["at", "actor", "action", "before", "after", "reason"],
        [
            [
                f"<td>{escaped(e.at[:19])}</td>",
                f"<td>{escaped(e.actor[-40:])}</td>",
                f"<td>{escaped(e.action)}</td>",
                f"<td>{escaped(e.before)}</td>",
                f"<td>{escaped(e.after)}</td>",
                f"<td>{escaped(e.reason)}</td>",
            ]
            for e in lifecycle.audit
        ],
    )


def lifecycle_report_html(lifecycle: ModelLifecycle) -> str:
    """The page. Readable with one version, no champion and no drift checks: each section says
    what is missing instead of disappearing."""
    aliases = {a.name: a for a in lifecycle.aliases}
    champion = aliases.get(CHAMPION)
    by_version = {v.version: v for v in lifecycle.versions}
    shown = by_version.get(lifecycle.evaluation_version) if lifecycle.evaluation_version is not None else None
    heading = f"Model lifecycle: {lifecycle.model}"
    summary = [
        ("latest version", f"v{lifecycle.latest_version}" if lifecycle.latest_version is not None else "none"),
        (CHAMPION, f"v{champion.version}" if champion else "none"),
        ("versions", str(len(lifecycle.versions))),
        ("drift checks", str(len(lifecycle.drift_checks))),
        ("performance checks", str(len(lifecycle.performance_checks))),
        ("generated", lifecycle.generated_at[:19]),
    ]
    if lifecycle.source:
        summary.append(("source", lifecycle.source))
    body = [
        f"<h1>{escaped(heading)}</h1>",
        "<dl>" + "".join(f"<dt>{escaped(k)}</dt><dd>{escaped(v)}</dd>" for k, v in summary) + "</dl>",
        "<h2>Aliases</h2>",
        _aliases(lifecycle),
    ]
    evaluation = lifecycle.evaluation
    which = f"v{lifecycle.evaluation_version}" if lifecycle.evaluation_version is not None else ""
    role = "champion" if champion and champion.version == lifecycle.evaluation_version else "newest version"
    if evaluation is None:
        body += ["<h2>Evaluation</h2>", "<p class='muted'>No evaluation found for the champion.</p>"]
    else:
        metrics = evaluation.metrics
        order = ordered_metrics(metrics, lifecycle.selection_metric)
        body += [
            f"<h2>Evaluation of the {role} ({escaped(which)}, {escaped(evaluation.split)} split, "
            f"{evaluation.rows:,} rows)</h2>",
            metrics_table({k: metrics[k] for k in order}),
            confusion_matrix_html(evaluation),
            calibration_html(evaluation.calibration),
            "<h3>Segments</h3>",
            segments_table(evaluation, lifecycle.selection_metric or (order[0] if order else "")),
        ]
    body += [
        "<h2>ONNX parity</h2>",
        _parity(shown),
        "<h2>Version history</h2>",
        _history(lifecycle),
        "<h2>Drift over time</h2>",
        _drift_section(lifecycle),
        "<h2>Performance on labelled traffic</h2>",
        _performance_section(lifecycle),
        f"<h2>Audit trail (newest {MAX_AUDIT_EVENTS})</h2>",
        _audit_trail(lifecycle),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escaped(heading)}</title>"
        f"<style>{REPORT_CSS}{_EXTRA_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
