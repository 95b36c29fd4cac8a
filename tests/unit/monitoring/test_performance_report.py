"""The performance report as its readers meet it: a page that opens on its own (no script, no asset
from elsewhere), with each version's floor metric drawn over the checks against the floor, and a
mail that names the model, the metric, the value against the floor, the window and the labels."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import numpy as np

from mlops.monitoring.performance_record import PerformanceAssessment, PerformanceSummary
from mlops.monitoring.performance_report import (
    chart_metrics,
    performance_chart_svg,
    performance_notification,
    performance_report_html,
)
from tests.unit.monitoring.performance_support import (
    BENIGN_MALIGNANT,
    END,
    assess,
    cancer_answers,
    cancer_window,
    labelled_window,
    named,
)

SVG = "{http://www.w3.org/2000/svg}"


def _history(accuracy_floor: float) -> list[PerformanceSummary]:
    """Three daily checks of the same traffic, newest first as the registry lists them."""
    checks = [
        assess(
            cancer_window(), config={"floor": {"accuracy": accuracy_floor}}, now=END + timedelta(days=d), resamples=50
        )
        for d in range(3)
    ]
    return [c.summary() for c in reversed(checks)]


def _below(floor_gap: float = 0.02) -> PerformanceAssessment:
    y, predicted, _, _ = cancer_answers()
    accuracy = float(np.mean(y == predicted))
    return assess(cancer_window(predicted={1: 1000}), config={"floor": {"accuracy": accuracy + floor_gap}})


def test_the_chart_draws_each_version_over_the_checks_with_the_floor_as_a_dashed_line() -> None:
    history = _history(0.9)
    svg = ElementTree.fromstring(performance_chart_svg(history, "accuracy", 0.9))
    [line] = svg.iter(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
    assert len(points) == 3 and [x for x, _ in points] == sorted(x for x, _ in points), "oldest left"
    floor = [el for el in svg.iter(f"{SVG}line") if el.attrib.get("stroke-dasharray")]
    assert len(floor) == 1 and floor[0].findtext(f"{SVG}title") == "floor 0.9"
    accuracy = history[0].variants[0].metrics["accuracy"].value
    assert accuracy is not None and accuracy > 0.9
    assert all(y < float(floor[0].attrib["y1"]) for _, y in points), "above the floor: drawn higher"
    tips = [c.findtext(f"{SVG}title") or "" for c in svg.iter(f"{SVG}circle")]
    assert len(tips) == 3 and all("v1 champion: accuracy" in tip for tip in tips)
    empty = performance_chart_svg([], "accuracy", None)
    assert "no checks with this figure yet" in empty


def test_the_page_stands_alone_and_shows_figures_intervals_calibration_and_segments() -> None:
    y, predicted, proba, x = cancer_answers()
    city = np.where(np.arange(len(y)) % 2 == 0, "<b>Lyon</b>", "Paris")
    window = labelled_window(
        named(y, BENIGN_MALIGNANT),
        named(predicted, BENIGN_MALIGNANT),
        proba,
        classes=BENIGN_MALIGNANT,
        inputs={"city": city, "radius": x[:, 0]},
    )
    assessment = assess(window, config={"floor": {"accuracy": 0.9}, "segments": ["city", "radius"]})
    page = performance_report_html(assessment, _history(0.9))
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
    assert page.count("<svg") == 1 and "floor 0.9" in page
    assert "&lt;b&gt;Lyon&lt;/b&gt;" in page and "<b>Lyon</b>" not in page, "data is escaped"
    accuracy = assessment.variants()[0].metric("accuracy")
    assert accuracy is not None and accuracy.low is not None and accuracy.high is not None
    assert f"[{accuracy.low:.4g}, {accuracy.high:.4g}]" in page
    assert "expected calibration error" in page and "Percentile bootstrap" in page
    assert "radius" in page and "Segments" in page


def test_the_chart_shows_the_selection_metric_when_no_floor_is_set() -> None:
    assert chart_metrics(assess(cancer_window(), resamples=20)) == ["roc_auc"]
    assert chart_metrics(assess(cancer_window(), config={"floor": {"log_loss": 0.5}}, resamples=20)) == ["log_loss"]
    page = performance_report_html(assess(cancer_window(), resamples=20))
    assert "roc_auc per version over the checks" in page, "this check alone, when none was recorded"


def test_a_check_below_a_floor_mails_the_model_metric_value_floor_window_and_labels() -> None:
    assessment = _below()
    mail = performance_notification(assessment, "s3://artifacts/reports/performance/cancer/x.html")
    assert mail is not None
    subject, body = mail
    figure = assessment.variants()[0].metric("accuracy")
    assert figure is not None and figure.floor is not None and figure.value is not None
    assert subject == f"Performance: cancer v1 accuracy {figure.value:.4g} below its floor {figure.floor:g}"
    assert f"- accuracy {figure.value:.4g} [{figure.low:.4g}, {figure.high:.4g}] vs floor {figure.floor:g}" in body
    assert f"Window {assessment.window_start} to {assessment.window_end}" in body
    assert f"v1 (champion), {assessment.labelled} labelled rows of 1,000 predictions" in body
    assert f"Labels counted: {assessment.labelled} labelled rows" in body
    assert body.endswith("Report: s3://artifacts/reports/performance/cancer/x.html")
    assert performance_notification(_below(-0.05), "page") is None, "within the floor: no mail"
