"""The training report: one self-contained HTML page (inline CSS and SVG, no scripts, no external
assets) that a reviewer can open from S3 to see why a model was, or was not, registered.

One module past 500 lines on purpose: every section (candidates, chosen hyperparameters, gates,
parity, importance) is drawn from the run's records by the same small table and chart writers here,
and splitting the page by section would split those writers from the one page that uses them."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from mlops.onnx_checks.parity import ParityAttempt, ParityReport
from mlops.training.candidates import CandidateResult
from mlops.training.config import TrainingConfig, higher_is_better
from mlops.training.data import TrainingData
from mlops.training.evaluation import Calibration, Evaluation, FeatureImportance
from mlops.training.gates import GateReport
from mlops.training.prepare import PreparedMeta
from mlops.training.start import ImportedFile, no_params_text

_M = TypeVar("_M", bound=BaseModel)

REPORT_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
  color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d8dde6;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#116329;font-weight:600}.fail{color:#b42318;font-weight:600}.muted{color:#667085}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600}
.badge.pass{background:#dcfae6}.badge.fail{background:#fee4e2}code{font-size:.85rem}
tr.selected td{background:#eef4ff}.row{display:flex;gap:2rem;align-items:flex-start}
"""


def escaped(value: Any) -> str:
    return html.escape(str(value), quote=True)


def number_text(value: Any) -> str:
    if value is None:
        return '<td class="num muted">n/a</td>'
    if isinstance(value, bool):
        return f"<td>{escaped(value)}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.6g}</td>'
    return f"<td>{escaped(value)}</td>"


def verdict_badge(passed: bool) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">fail</span>'


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escaped(h)}</th>" for h in headers)
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def metrics_table(metrics: Mapping[str, float | None]) -> str:
    return html_table(
        ["metric", "value", "better"],
        [
            [f"<td>{escaped(k)}</td>", number_text(v), f"<td>{'higher' if higher_is_better(k) else 'lower'}</td>"]
            for k, v in metrics.items()
        ],
    )


def confusion_matrix_html(evaluation: Evaluation) -> str:
    cm = evaluation.confusion_matrix
    if cm is None:
        return ""
    peak = max((max(row) for row in cm.matrix), default=0) or 1
    head = "".join(f"<th>{escaped(label)}</th>" for label in cm.labels)
    rows = []
    for label, row in zip(cm.labels, cm.matrix, strict=True):
        cells = "".join(
            f'<td class="num" style="background:rgba(47,111,235,{0.08 + 0.6 * v / peak:.2f})">{v:,}</td>' for v in row
        )
        rows.append(f"<tr><th>{escaped(label)}</th>{cells}</tr>")
    return (
        "<h3>Confusion matrix</h3><p class='muted'>rows: true class, columns: predicted class</p>"
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def calibration_html(cal: Calibration | None) -> str:
    if cal is None:
        return ""
    size, pad = 220, 30
    points = [
        (b.mean_predicted, b.fraction_positive)
        for b in cal.bins
        if b.mean_predicted is not None and b.fraction_positive is not None
    ]

    def xy(p: float, q: float) -> str:
        return f"{pad + p * size:.1f},{pad + (1 - q) * size:.1f}"

    line = " ".join(xy(p, q) for p, q in points)
    dots = "".join(
        f'<circle cx="{xy(p, q).split(",")[0]}" cy="{xy(p, q).split(",")[1]}" r="3" fill="#2f6feb"/>' for p, q in points
    )
    svg = (
        f'<svg width="{size + 2 * pad}" height="{size + 2 * pad}" role="img" aria-label="reliability diagram">'
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#d8dde6"/>'
        f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="#98a2b3" stroke-dasharray="4"/>'
        f'<polyline points="{line}" fill="none" stroke="#2f6feb" stroke-width="2"/>{dots}'
        f'<text x="{pad}" y="{pad + size + 20}" font-size="11">mean predicted probability</text>'
        f'<text x="4" y="{pad - 10}" font-size="11">fraction positive</text></svg>'
    )
    table = html_table(
        ["bin", "rows", "mean predicted", "fraction positive"],
        [
            [
                f"<td>{b.lower:.1f} to {b.upper:.1f}</td>",
                number_text(b.count),
                number_text(b.mean_predicted),
                number_text(b.fraction_positive),
            ]
            for b in cal.bins
        ],
    )
    brier = f"{cal.brier:.6g}" if cal.brier is not None else "n/a"
    return f"<h3>Calibration (Brier {brier})</h3><div class='row'>{svg}{table}</div>"


def segments_table(evaluation: Evaluation, metric: str) -> str:
    if not evaluation.segments:
        return "<p class='muted'>No segment column configured.</p>"
    names = sorted({k for s in evaluation.segments for k in s.metrics})
    ordered = [metric, *[n for n in names if n != metric]] if metric in names else names
    rows = [
        [f"<td>{escaped(s.segment)}</td>", number_text(s.rows), *[number_text(s.metrics.get(n)) for n in ordered]]
        for s in evaluation.segments
    ]
    rows.append(
        [
            "<td><b>overall</b></td>",
            number_text(evaluation.rows),
            *[number_text(evaluation.metrics.get(n)) for n in ordered],
        ]
    )
    return html_table(["segment", "rows", *ordered], rows)


def _candidates(candidates: Sequence[CandidateResult], selected: str | None, metric: str) -> str:
    names = sorted({k for c in candidates for k in c.validation_metrics})
    ordered = [metric, *[n for n in names if n != metric]]
    rows, classes = [], []
    for c in candidates:
        params = json.dumps(c.params, sort_keys=True) if c.params else ""
        error = f"<br><span class='fail'>{escaped(c.error)}</span>" if c.error else ""
        status = (
            '<span class="pass">succeeded</span>' if c.status == "succeeded" else '<span class="fail">failed</span>'
        )
        rows.append(
            [
                f"<td>{escaped(c.name)}{' ★' if c.name == selected else ''}</td>",
                f"<td>{escaped(c.estimator)}</td>",
                f"<td>{status}</td>",
                *[number_text(c.validation_metrics.get(n)) for n in ordered],
                number_text(c.fit_seconds),
                f"<td><code>{escaped(params)}</code>{error}</td>",
            ]
        )
        classes.append("selected" if c.name == selected else "")
    return html_table(
        ["candidate", "estimator", "status", *[f"{n} (validation)" for n in ordered], "fit s", "parameters"],
        rows,
        classes,
    )


def chosen_hyperparameters(selected: CandidateResult | None) -> str:
    """The selected candidate's parameters as HTML, saying which of them its search chose."""
    if selected is None:
        return "none"
    shown = ", ".join(f"<code>{escaped(k)}={escaped(json.dumps(v))}</code>" for k, v in sorted(selected.params.items()))
    if selected.search is not None and selected.best_params:
        trials = len(selected.search.trials)
        found = ", ".join(escaped(k) for k in sorted(selected.best_params))
        shown += (
            f" <span class='muted'>({found} chosen by {escaped(selected.search.kind)} search, {trials} trials)</span>"
        )
    return shown or f"<span class='muted'>{escaped(no_params_text(selected.estimator))}</span>"


def _parity_attempts(attempts: Sequence[ParityAttempt]) -> str:
    """Every candidate whose export was checked, best first: why the registered one may not be the best."""
    if len(attempts) < 2:
        return ""
    return "<h3>Candidates tried, best first</h3>" + html_table(
        ["rank", "candidate", "estimator", "result", "detail"],
        [
            [
                number_text(a.rank),
                f"<td>{escaped(a.candidate)}</td>",
                f"<td>{escaped(a.estimator)}</td>",
                f"<td>{verdict_badge(a.passed)}</td>",
                f"<td>{escaped(a.summary())}</td>",
            ]
            for a in attempts
        ],
    )


def _parity(parity: ParityReport | None, attempts: Sequence[ParityAttempt] = ()) -> str:
    if parity is None:
        return "<p class='muted'>Not run.</p>"
    parts = [_parity_attempts(attempts), f"<p>{verdict_badge(parity.passed)} on {parity.rows:,} test rows.</p>"]
    if parity.error:
        parts.append(f"<p class='fail'>{escaped(parity.error)}</p>")
    parts.append(
        html_table(
            ["check", "observed", "threshold", "result"],
            [
                [
                    f"<td>{escaped(c.name)}</td>",
                    number_text(c.observed),
                    number_text(c.threshold),
                    f"<td>{verdict_badge(c.passed)}</td>",
                ]
                for c in parity.checks
            ],
        )
    )
    if parity.worst_rows:
        parts.append("<h3>Largest differences</h3>")
        parts.append(
            html_table(
                ["index", "dataset row", "scikit-learn", "onnx", "diff"],
                [
                    [
                        number_text(w.index),
                        number_text(w.row),
                        f"<td><code>{escaped(json.dumps(w.sklearn))}</code></td>",
                        f"<td><code>{escaped(json.dumps(w.onnx))}</code></td>",
                        number_text(w.diff),
                    ]
                    for w in parity.worst_rows
                ],
            )
        )
    return "".join(parts)


def _comparisons(evaluation: Evaluation) -> str:
    """This model beside a trivial baseline and the serving champion, each on the same rows."""
    columns: list[tuple[str, Mapping[str, float | None]]] = [("this model", evaluation.metrics)]
    if evaluation.baseline_metrics is not None:
        columns.append(("trivial baseline (class prior / mean)", evaluation.baseline_metrics))
    note = ""
    champion = evaluation.champion
    if champion is not None and champion.rows:
        columns += [
            (f"this model, on the champion's {champion.rows:,} rows", champion.metrics),
            (f"champion v{champion.version}, same rows", champion.champion_metrics),
        ]
        note = f"<p class='muted'>{escaped(champion.basis)}</p>"
    elif champion is not None:
        note = f"<p class='muted'>Champion v{champion.version} could not be scored here: {escaped(champion.basis)}</p>"
    names = sorted({name for _label, values in columns for name in values})
    return (
        "<h3>Against a baseline and the champion</h3>"
        + html_table(
            ["metric", *[label for label, _values in columns]],
            [[f"<td>{escaped(n)}</td>", *[number_text(values.get(n)) for _label, values in columns]] for n in names],
        )
        + note
    )


def _importance(importance: FeatureImportance, top: int = 20) -> str:
    """Permutation importance, most important field first, with the bound it was computed under."""
    shown = importance.features[:top]
    rest = len(importance.features) - len(shown)
    note = f"<p class='muted'>Permutation importance: {escaped(importance.bound)} (how much the metric worsens "
    more = f" {rest} less important fields not shown." if rest else ""
    note += f"when a field is shuffled).{more}</p>"
    rows = [[f"<td>{escaped(f.feature)}</td>", number_text(f.mean), number_text(f.std)] for f in shown]
    return note + html_table(["field", "importance (mean)", "std"], rows)


def _gates(gates: GateReport | None) -> str:
    if gates is None:
        return "<p class='muted'>Not run.</p>"
    if not gates.results:
        return "<p class='muted'>No quality gates configured.</p>"
    return html_table(
        ["gate", "result", "observed", "threshold", "detail"],
        [
            [
                f"<td>{escaped(r.name)}</td>",
                f"<td>{verdict_badge(r.passed)}</td>",
                number_text(r.observed),
                number_text(r.threshold),
                f"<td>{escaped(r.message)}</td>",
            ]
            for r in gates.results
        ],
    )


def _training_data(data: TrainingData) -> str:
    """Which dataset versions the run used, each with its rows and the rows dropped as duplicates."""
    parts = [
        f"<p>Chosen by <code>{escaped(data.policy)}</code>: {len(data.versions)} dataset version(s), "
        f"{data.rows:,} rows after dropping {data.duplicates:,} already in an older version "
        f"(read {sum(v.rows for v in data.versions):,} of at most {data.max_rows:,}, <code>data.max_rows</code>).</p>",
        html_table(
            ["dataset version", "accepted", "rows", "duplicates dropped", "rows used", "first row"],
            [
                [
                    f"<td><code>{escaped(v.version)}</code></td>",
                    f"<td>{escaped(v.created_at)}</td>",
                    number_text(v.rows),
                    number_text(v.duplicates),
                    number_text(v.used),
                    number_text(v.first_row),
                ]
                for v in data.versions
            ],
        ),
    ]
    if data.skipped:
        parts += [
            "<h3>Versions skipped</h3>",
            html_table(
                ["dataset version", "accepted", "rows", "why"],
                [
                    [
                        f"<td><code>{escaped(v.version)}</code></td>",
                        f"<td>{escaped(v.created_at)}</td>",
                        number_text(v.rows),
                        f"<td>{escaped(v.reason)}</td>",
                    ]
                    for v in data.skipped
                ],
            ),
        ]
    if data.columns:
        parts += [
            "<h3>Columns the combination changed</h3>",
            html_table(
                ["column", "what"],
                [[f"<td>{escaped(c.column)}</td>", f"<td>{escaped(c.note)}</td>"] for c in data.columns],
            ),
        ]
    return "".join(parts)


def _as(model: type[_M], value: _M | Mapping[str, Any] | None) -> _M | None:
    """Steps pass their outputs as stored JSON; accept either form."""
    if value is None or isinstance(value, model):
        return value
    return model.model_validate(value)


def training_report_html(
    *,
    config: TrainingConfig,
    meta: PreparedMeta | Mapping[str, Any],
    candidates: Sequence[CandidateResult | Mapping[str, Any]],
    selected: CandidateResult | Mapping[str, Any] | None,
    evaluation: Evaluation | Mapping[str, Any] | None,
    parity: ParityReport | Mapping[str, Any] | None,
    gates: GateReport | Mapping[str, Any] | None,
    onnx_sha256: str | None = None,
    latency: Mapping[str, float] | None = None,
    title: str | None = None,
    parity_attempts: Sequence[ParityAttempt | Mapping[str, Any]] = (),
    data: TrainingData | Mapping[str, Any] | None = None,
    imported: ImportedFile | None = None,
) -> str:
    """The page; every value is HTML-escaped, so names from data cannot inject markup. Each step's
    output may be given as its model or as its JSON (dict)."""
    prepared = _as(PreparedMeta, meta)
    assert prepared is not None
    return _render(
        config=config,
        meta=prepared,
        candidates=[c for c in (_as(CandidateResult, c) for c in candidates) if c is not None],
        selected=_as(CandidateResult, selected),
        evaluation=_as(Evaluation, evaluation),
        parity=_as(ParityReport, parity),
        gates=_as(GateReport, gates),
        onnx_sha256=onnx_sha256,
        latency=latency,
        title=title,
        parity_attempts=[a for a in (_as(ParityAttempt, a) for a in parity_attempts) if a is not None],
        data=_as(TrainingData, data),
        imported=imported,
    )


def _render(
    *,
    config: TrainingConfig,
    meta: PreparedMeta,
    candidates: Sequence[CandidateResult],
    selected: CandidateResult | None,
    evaluation: Evaluation | None,
    parity: ParityReport | None,
    gates: GateReport | None,
    onnx_sha256: str | None,
    latency: Mapping[str, float] | None,
    title: str | None,
    parity_attempts: Sequence[ParityAttempt] = (),
    data: TrainingData | None = None,
    imported: ImportedFile | None = None,
) -> str:
    metric = config.metric
    passed = bool(parity and parity.passed and gates and gates.passed)
    verdict = "ready to register" if passed else "not registrable"
    heading = title or f"Training report: {config.dataset}"
    summary_rows = [
        ["<th>dataset</th>", f"<td>{escaped(config.dataset)}</td>"],
        ["<th>problem</th>", f"<td>{escaped(config.problem_type)}, label <code>{escaped(config.label)}</code></td>"],
        [
            "<th>selected</th>",
            f"<td>{escaped(selected.name + ' (' + selected.estimator + ')') if selected else 'none'}</td>",
        ],
        ["<th>hyperparameters</th>", f"<td>{chosen_hyperparameters(selected)}</td>"],
        *(
            [
                [
                    "<th>imported file</th>",
                    f"<td>{escaped(imported.file_name)} ({escaped(imported.format)}), "
                    f"sha256 <code>{escaped(imported.sha256)}</code></td>",
                ]
            ]
            if imported is not None
            else []
        ),
        [
            "<th>selection metric</th>",
            f"<td>{escaped(metric)} ({'higher' if higher_is_better(metric) else 'lower'} is better)</td>",
        ],
        ["<th>rows</th>", f"<td>{escaped(', '.join(f'{k} {v:,}' for k, v in meta.rows.items()))}</td>"],
        [
            "<th>features</th>",
            f"<td>{len(meta.feature_spec.features)} columns → {meta.feature_spec.n_features} model inputs</td>",
        ],
        ["<th>seed</th>", f"<td>{meta.seed}</td>"],
        ["<th>ONNX sha256</th>", f"<td><code>{escaped(onnx_sha256 or 'n/a')}</code></td>"],
    ]
    if latency:
        summary_rows.append(
            [
                "<th>onnxruntime latency</th>",
                f"<td>p50 {latency.get('p50_ms', 0):.4g} ms, p99 {latency.get('p99_ms', 0):.4g} ms "
                f"for {int(latency.get('rows', 1))} row(s)</td>",
            ]
        )
    summary = "<table><tbody>" + "".join(f"<tr>{''.join(r)}</tr>" for r in summary_rows) + "</tbody></table>"
    body = [
        f"<h1>{escaped(heading)}</h1>",
        f"<p><span class='badge {'pass' if passed else 'fail'}'>{verdict}</span></p>",
        summary,
    ]
    if data is not None:
        body += ["<h2>Training data</h2>", _training_data(data)]
    if meta.excluded_columns:
        body += [
            "<h2>Columns not used as features</h2>",
            html_table(["column", "why"], [[escaped(c), escaped(why)] for c, why in meta.excluded_columns.items()]),
        ]
    body += [
        "<h2>Candidates</h2>",
        _candidates(candidates, selected.name if selected else None, metric),
    ]
    if evaluation is not None:
        body += [f"<h2>Test metrics ({evaluation.rows:,} rows)</h2>", metrics_table(evaluation.metrics)]
        if evaluation.per_class:
            body.append(
                "<h3>Per class</h3>"
                + html_table(
                    ["class", "precision", "recall", "f1", "support"],
                    [
                        [
                            f"<td>{escaped(c.label)}</td>",
                            number_text(c.precision),
                            number_text(c.recall),
                            number_text(c.f1),
                            number_text(c.support),
                        ]
                        for c in evaluation.per_class
                    ],
                )
            )
        if evaluation.baseline_metrics is not None or evaluation.champion is not None:
            body.append(_comparisons(evaluation))
        body += [
            confusion_matrix_html(evaluation),
            calibration_html(evaluation.calibration),
            "<h2>Segments</h2>",
            segments_table(evaluation, metric),
        ]
        if evaluation.feature_importance is not None:
            body += ["<h2>Feature importance</h2>", _importance(evaluation.feature_importance)]
    body += ["<h2>ONNX parity</h2>", _parity(parity, parity_attempts), "<h2>Quality gates</h2>", _gates(gates)]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escaped(heading)}</title>"
        f"<style>{REPORT_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
