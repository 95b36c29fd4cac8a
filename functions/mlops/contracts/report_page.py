"""The validation report as a page a person reads (what Great Expectations calls Data Docs): one
self-contained HTML file written next to the JSON report, linked from the rejection mail and from
`mlops upload --wait`.

Drawn from the JSON document as it is stored (so the page and the JSON never disagree) and from the
columns' profiles (`profile`, gathered while the checks ran). No scripts and no external assets
(inline CSS and SVG only): it opens from S3, a mail attachment or a local file as it is. Every text
that came from the upload (cells, column names, the file name) goes through `html.escape`, so a
hostile CSV renders as text. The page is bounded whatever the file: `MAX_EXAMPLES_SHOWN` example
rows per expectation, `MAX_FAILED_DRAWN` failed expectations in full (the others one table row each),
`MAX_PASSED_LISTED` met ones, `MAX_COLUMNS_DRAWN` column sections, `MAX_CELL_CHARACTERS` per cell;
the page says when it left something out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from mlops.contracts.profile import ColumnProfile
from mlops.contracts.report import ExpectationResult, expectation_text

MAX_EXAMPLES_SHOWN = 20
MAX_COLUMNS_DRAWN = 100
MAX_CELL_CHARACTERS = 200
MAX_PASSED_LISTED = 500
MAX_FAILED_DRAWN = 100  # failed expectations drawn in full; the rest are a table row each
HISTOGRAM_BINS = 20
TOP_VALUES = 10

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:22px;margin:0 0 4px;word-break:break-all}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:14px;margin:0 0 6px;word-break:break-all}
.muted{color:#656d76}.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.accepted{background:#dafbe1;color:#116329}.rejected{background:#ffebe9;color:#a40e26}
.warning{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f6f8fa;padding:0 3px;border-radius:3px;white-space:pre-wrap;word-break:break-all}
section{border:1px solid #d0d7de;border-radius:6px;padding:10px;margin:10px 0}
section.error{border-left:4px solid #cf222e}section.warning{border-left:4px solid #bf8700;background:none}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid section{width:360px;margin:0}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0}dt{color:#656d76}dd{margin:0}
"""


def _text(value: Any) -> str:
    """A value from the upload, escaped and cut to `MAX_CELL_CHARACTERS`; a line break shows as \\n."""
    if value is None:
        return '<span class="muted">(empty)</span>'
    shown = value if isinstance(value, str) else _number(value) if isinstance(value, float) else str(value)
    if not shown.isprintable():
        shown = repr(shown)[1:-1]
    if len(shown) > MAX_CELL_CHARACTERS:
        shown = shown[:MAX_CELL_CHARACTERS] + "…"
    return f"<code>{escape(shown, quote=True)}</code>"


def _number(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "—"


def _on_scale(value: float | None, profile: ColumnProfile) -> str:
    if value is None:
        return "—"
    if profile.scale == "datetime":
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return _number(value)


def validation_report_html(
    document: Mapping[str, Any], profiles: Sequence[ColumnProfile] = (), *, dataset_version: str | None = None
) -> str:
    """The page for one stored report document (a validation report's JSON, or a file problem's)."""
    file_name = str(document.get("file_name") or document.get("file") or "")
    accepted = bool(document.get("accepted"))
    results = [ExpectationResult.model_validate(r) for r in document.get("results") or []]
    title = f"Validation report: {file_name}"
    body = [f"<h1>{escape(title)}</h1>", _summary(document, results, accepted, dataset_version)]
    problem = document.get("file_problem")
    if problem:
        body.append(
            "<h2>Why no row was checked</h2>" if not results else "<h2>Why the upload was not kept</h2>",
        )
        body.append(
            f"<p><span class='badge rejected'>{escape(str(problem.get('code', '')))}</span> "
            f"{escape(str(problem.get('message', '')))}</p>"
        )
    if results:
        body += _expectations(results, int(document.get("rows") or 0))
    if profiles:
        body += _columns(profiles)
    body.append(
        "<p class='muted'>Row numbers are data rows as the JSON report names them: the first row after the "
        "header is row 1. Every value from the file is shown as text; nothing on this page runs.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>"
    )


def _summary(
    document: Mapping[str, Any], results: Sequence[ExpectationResult], accepted: bool, dataset_version: str | None
) -> str:
    verdict = "accepted" if accepted else "rejected"
    source = document.get("source") or {}
    where = f"s3://{source.get('bucket')}/{source.get('key')}" if source.get("key") else None
    failed_errors = sum(1 for r in results if not r.success and r.severity == "error")
    failed_warnings = sum(1 for r in results if not r.success and r.severity == "warning")
    rows: list[tuple[str, str]] = [
        ("verdict", f"<span class='badge {verdict}'>{verdict}</span>"),
        ("dataset", escape(str(document.get("dataset") or "—"))),
        ("file", _text(where or document.get("file_name") or document.get("file"))),
    ]
    if source.get("version_id"):
        rows.append(("S3 version", _text(source["version_id"])))
    if source.get("files"):
        files = list(source["files"])
        shown = ", ".join(_text(f) for f in files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
        rows.append(("files", shown))
    rows.append(("rows", _number(document.get("rows"))))
    rows.append(("columns", _number(document.get("columns"))))
    version = document.get("contract_version")
    rows.append(("contract version", f"v{version}" if version is not None else "—"))
    rows.append(("dataset version", f"<code>{escape(dataset_version)}</code>" if dataset_version else "none"))
    if results:
        passed = sum(1 for r in results if r.success)
        rows.append(
            ("checks", f"{passed} of {len(results)} passed; {failed_errors} error(s), {failed_warnings} warning(s)")
        )
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _expectations(results: Sequence[ExpectationResult], rows: int) -> list[str]:
    failed = [r for r in results if not r.success and r.severity == "error"]
    failed += [r for r in results if not r.success and r.severity == "warning"]
    parts = [f"<h2>Failed expectations ({len(failed)})</h2>"]
    parts += [_failed(result) for result in failed[:MAX_FAILED_DRAWN]] or ["<p>None: every expectation was met.</p>"]
    if len(failed) > MAX_FAILED_DRAWN:
        rest = "".join(
            f"<tr><td>{escape(expectation_text(r))}</td><td>{escape(r.severity)}</td><td>{_text(r.observed_value)}</td>"
            f"<td class='num'>{r.unexpected_count:,} ({r.unexpected_percent:.4g} %)</td></tr>"
            for r in failed[MAX_FAILED_DRAWN : MAX_FAILED_DRAWN + MAX_PASSED_LISTED]
        )
        parts.append(
            f"<p class='muted'>{len(failed) - MAX_FAILED_DRAWN:,} more failed expectations, without their example "
            f"rows (the page draws {MAX_FAILED_DRAWN} in full; the JSON has every one's):</p>"
            "<table><tr><th>expectation</th><th>severity</th><th>observed value</th><th>unexpected</th></tr>"
            + rest
            + "</table>"
        )
        if len(failed) > MAX_FAILED_DRAWN + MAX_PASSED_LISTED:
            parts.append(
                f"<p class='muted'>{len(failed) - MAX_FAILED_DRAWN - MAX_PASSED_LISTED:,} more: see the JSON.</p>"
            )
    passed = [r for r in results if r.success]
    parts.append(f"<h2>Met expectations ({len(passed)})</h2>")
    if passed:
        listed = passed[:MAX_PASSED_LISTED]
        body = "".join(
            f"<tr><td>{escape(expectation_text(r))}</td><td>{_text(r.observed_value)}</td>"
            f"<td class='num'>{r.unexpected_count:,}</td></tr>"
            for r in listed
        )
        parts.append(
            "<table><tr><th>expectation</th><th>observed value</th><th>unexpected</th></tr>" + body + "</table>"
        )
        if len(passed) > len(listed):
            parts.append(f"<p class='muted'>{len(passed) - len(listed):,} more met expectations: see the JSON.</p>")
    return parts


def _failed(result: ExpectationResult) -> str:
    facts = [
        (
            "severity",
            f"<span class='badge {'rejected' if result.severity == 'error' else 'warning'}'>"
            f"{escape(result.severity)}</span>",
        ),
        ("expectation id", f"<code>{escape(result.expectation)}</code>"),
        ("observed value", _text(result.observed_value)),
        ("unexpected", f"{result.unexpected_count:,} ({result.unexpected_percent:.4g} %)"),
    ]
    if result.mostly < 1:
        facts.append(("tolerated", f"up to {100 * (1 - result.mostly):.4g} % (mostly {result.mostly:g})"))
    below = result.details.get("below") if result.expectation == "label.class_share" else None
    if below:
        facts.append(("classes below", ", ".join(f"{_text(k)}: {_number(v)}" for k, v in below.items())))
    section = [
        f"<section class='{escape(result.severity)}'><h3>{escape(expectation_text(result))}</h3><dl>",
        "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts),
        "</dl>",
    ]
    examples = result.examples[:MAX_EXAMPLES_SHOWN]
    if examples:
        body = "".join(f"<tr><td class='num'>{e.row:,}</td><td>{_text(e.value)}</td></tr>" for e in examples)
        section.append(f"<table><tr><th>row</th><th>value</th></tr>{body}</table>")
        if result.unexpected_count > len(examples) and result.expectation != "label.class_share":
            section.append(f"<p class='muted'>the first {len(examples)} of {result.unexpected_count:,} rows</p>")
    section.append("</section>")
    return "".join(section)


def _columns(profiles: Sequence[ColumnProfile]) -> list[str]:
    drawn = profiles[:MAX_COLUMNS_DRAWN]
    parts = [f"<h2>Columns ({len(profiles)})</h2>"]
    if any(p.sampled for p in drawn):
        parts.append(
            "<p class='muted'>Rows, nulls, unparseable cells, min and max count every row. A histogram marked "
            "“sample” is drawn from an evenly spaced sample of the column's valid values (its size is given), "
            "so a large file costs the same to draw as a small one.</p>"
        )
    parts.append("<div class='grid'>" + "".join(_column(p) for p in drawn) + "</div>")
    if len(profiles) > len(drawn):
        left = ", ".join(escape(p.name) for p in profiles[len(drawn) : len(drawn) + 20])
        parts.append(
            f"<p class='muted'>{len(profiles) - len(drawn)} more columns not drawn (the page draws at most "
            f"{MAX_COLUMNS_DRAWN}): {left}{'…' if len(profiles) > len(drawn) + 20 else ''}</p>"
        )
    return parts


def _column(profile: ColumnProfile) -> str:
    facts = [
        ("type", escape(profile.type)),
        ("nulls", f"{profile.nulls:,} ({_share(profile.nulls, profile.rows)})"),
    ]
    if profile.unparseable:
        facts.append(("unparseable", f"{profile.unparseable:,} ({_share(profile.unparseable, profile.rows)})"))
    if profile.scale != "text":
        facts.append(("min", escape(_on_scale(profile.minimum, profile))))
        facts.append(("max", escape(_on_scale(profile.maximum, profile))))
    elif profile.distinct is not None:
        facts.append(("distinct", f"{'≈ ' if profile.distinct_estimated else ''}{profile.distinct:,}"))
    elif profile.sample and not profile.sampled:  # every valid value is in the sample: the count is exact
        facts.append(("distinct", f"{len(set(profile.sample)):,}"))
    elif profile.sample:
        seen = len(set(profile.sample))
        facts.append(("distinct", f"{seen:,} among {len(profile.sample):,} sampled values (not counted in full)"))
    if profile.sampled:
        facts.append(("histogram", f"sample of {len(profile.sample):,} of {profile.sampled_from:,} values"))
    chart = _histogram(profile) if profile.scale != "text" else _top_values(profile)
    return (
        f"<section><h3>{escape(profile.name)}</h3><dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts)
        + "</dl>"
        + chart
        + "</section>"
    )


def _histogram(profile: ColumnProfile) -> str:
    values = [float(v) for v in profile.sample]
    if not values:
        return "<p class='muted'>no valid values</p>"
    low, high = min(values), max(values)
    counts = [0] * HISTOGRAM_BINS
    width = (high - low) / HISTOGRAM_BINS
    for value in values:
        index = min(int((value - low) / width), HISTOGRAM_BINS - 1) if width > 0 else 0
        counts[index] += 1
    if width == 0:
        counts = counts[:1]
    bars = [
        (f"{_on_scale(low + i * width, profile)} to {_on_scale(low + (i + 1) * width, profile)}", count)
        for i, count in enumerate(counts)
    ]
    return _bars_svg(
        bars,
        len(values),
        f"histogram of {profile.name}",
        (_on_scale(low, profile), _on_scale(high, profile)),
    )


def _top_values(profile: ColumnProfile) -> str:
    counts = Counter(str(v) for v in profile.sample)
    if not counts:
        return "<p class='muted'>no valid values</p>"
    top = counts.most_common(TOP_VALUES)
    total = len(profile.sample)
    rows = "".join(
        f"<tr><td>{_text(value)}</td><td class='num'>{_share(count, total)}</td>"
        f"<td><svg width='120' height='10' role='img' aria-label='share'><rect width='{120 * count / total:.1f}' "
        f"height='10' fill='#2f6feb'/></svg></td></tr>"
        for value, count in top
    )
    more = f"<p class='muted'>{len(counts) - len(top)} other values</p>" if len(counts) > len(top) else ""
    return f"<table><tr><th>value</th><th>share</th><th></th></tr>{rows}</table>{more}"


def _bars_svg(bars: Sequence[tuple[str, int]], total: int, title: str, ends: tuple[str, str]) -> str:
    width, height, top, bottom = 340, 120, 6, 20
    plot = height - top - bottom
    tallest = max(count for _, count in bars) or 1
    step = width / len(bars)
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='{escape(title, quote=True)}'>"]
    for i, (label, count) in enumerate(bars):
        bar = plot * count / tallest
        parts.append(
            f"<rect x='{i * step + 1:.1f}' y='{top + plot - bar:.1f}' width='{max(step - 2, 1):.1f}' "
            f"height='{bar:.1f}' fill='#2f6feb'><title>{escape(label)}: {count:,} of {total:,}</title></rect>"
        )
    parts.append(
        f"<text x='0' y='{height - 4}' font-size='10'>{escape(ends[0])}</text>"
        f"<text x='{width}' y='{height - 4}' font-size='10' text-anchor='end'>{escape(ends[1])}</text></svg>"
    )
    return "".join(parts)
