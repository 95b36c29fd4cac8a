"""The record of one performance check (issue #19): `PerformanceAssessment`, what
`mlops.monitoring.assessment.assess_performance` found (stored as the JSON report, drawn by
`mlops.monitoring.performance_report`), and `PerformanceSummary`, its row in the registry
(`mlops.registry.performance_checks`): the figures the API, the CLI and the chart over time read,
numbers as DynamoDB takes them (`attributes`) and back (`from_item`).

pydantic and numpy only: the performance function runs on the inference layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.monitoring.config import PerformanceConfig
from mlops.monitoring.performance import ProblemType
from mlops.registry.numbers import from_dynamo, to_dynamo

Status = Literal["ok", "below_floor", "insufficient_labels"]
TOP_CATEGORIES = 10  # a categorical segment field's most frequent values; the rest are one "other"
OTHER = "(other)"
MISSING = "(missing)"
DIGITS = 6  # decimals a summary row keeps


class MetricFigure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    value: float | None = Field(description="over the window's labelled rows; None where undefined on them")
    low: float | None = Field(default=None, description="the bootstrap interval at the config's confidence")
    high: float | None = None
    test: float | None = Field(default=None, description="the version's figure on its test split at training")
    difference: float | None = Field(default=None, description="value - test")
    floor: float | None = Field(default=None, description="the config's worst acceptable value, if it names one")
    higher_is_better: bool
    past_floor: bool = Field(default=False, description="below a floor (above it for a loss or an error)")


class LabelDelay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    median_hours: float | None = Field(default=None, description="from answered to (latest) label")
    p90_hours: float | None = None


class CalibrationBin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    rows: int
    mean_predicted: float | None = Field(description="mean probability of the predicted class")
    observed: float | None = Field(description="share of these rows whose prediction was right")


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bins: list[CalibrationBin]
    error: float | None = Field(description="expected calibration error: rows-weighted |mean predicted - observed|")


class SegmentField(BaseModel):
    """How one configured field splits the rows: the same segments for every version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["numeric", "categorical"] | None
    segments: list[str] = Field(description=f"categories (top {TOP_CATEGORIES}, {OTHER}) or quartile bins")
    edges: list[float] | None = Field(default=None, description="numeric: the quartiles")
    note: str | None = None


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    value: str
    rows: int = Field(description="labelled rows in the segment")
    metrics: dict[str, float | None]


class VariantPerformance(BaseModel):
    """One version's rows answered as one variant (champion, challenger or shadow)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    variant: str
    labelled: int
    status: Status
    message: str
    metrics: list[MetricFigure]
    resamples: int = Field(description="bootstrap resamples drawn")
    resample_rows: int = Field(description="rows per resample (every labelled row, or a subsample's)")
    label_delay: LabelDelay
    calibration: Calibration | None = None
    segments: list[Segment] = Field(default_factory=list)

    def metric(self, name: str) -> MetricFigure | None:
        return next((m for m in self.metrics if m.name == name), None)


class VersionPerformance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    status: Status = Field(description="below_floor if a variant is; ok if one is; else insufficient_labels")
    labelled: int
    predicted: int | None = Field(description="rows it answered in the window's hours (None: not counted)")
    coverage: float | None = Field(description="labelled / predicted")
    test_metrics: dict[str, float]
    variants: list[VariantPerformance]


class PerformanceAssessment(BaseModel):
    """What one performance check found (the JSON report); `summary()` is its registry row."""

    model_config = ConfigDict(extra="forbid")

    model: str
    problem_type: ProblemType
    classes: list[str] | None
    checked_at: str
    window_start: str
    window_end: str
    status: Status
    message: str
    labelled: int = Field(description="labelled rows scored in the window")
    unscored: int = Field(default=0, description="labelled rows left out: a label or prediction not among the classes")
    label_rows: int = Field(default=0, description="label rows read for the window's hours, superseded ones included")
    unmatched_labels: int = 0
    superseded_labels: int = 0
    label_delay: LabelDelay
    versions: list[VersionPerformance]
    segment_fields: list[SegmentField] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    method: str = Field(description="how the intervals were computed")
    seed: int
    config: PerformanceConfig

    def variants(self) -> list[VariantPerformance]:
        return [v for version in self.versions for v in version.variants]

    def below_floor(self) -> list[VariantPerformance]:
        return [v for v in self.variants() if v.status == "below_floor"]

    def summary(self, *, report_key: str | None = None, report_page: str | None = None) -> PerformanceSummary:
        return PerformanceSummary(
            model=self.model,
            checked_at=self.checked_at,
            window_start=self.window_start,
            window_end=self.window_end,
            status=self.status,
            message=self.message,
            labelled=self.labelled,
            min_labels=self.config.min_labels,
            unmatched_labels=self.unmatched_labels,
            superseded_labels=self.superseded_labels,
            floor={name: _rounded(value) for name, value in self.config.floor.items()},
            predicted={v.version: v.predicted for v in self.versions if v.predicted is not None},
            coverage={v.version: _rounded(v.coverage) for v in self.versions},
            label_delay=LabelDelay(
                median_hours=_rounded(self.label_delay.median_hours), p90_hours=_rounded(self.label_delay.p90_hours)
            ),
            variants=[
                VariantSummary(
                    version=v.version,
                    variant=v.variant,
                    labelled=v.labelled,
                    status=v.status,
                    metrics={
                        m.name: MetricSummary(
                            value=_rounded(m.value), low=_rounded(m.low), high=_rounded(m.high), test=_rounded(m.test)
                        )
                        for m in v.metrics
                    },
                    past_floor=[m.name for m in v.metrics if m.past_floor],
                )
                for v in self.variants()
            ],
            report_key=report_key,
            report_page=report_page,
        )


class MetricSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float | None
    low: float | None = None
    high: float | None = None
    test: float | None = None


class VariantSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    variant: str
    labelled: int
    status: Status
    metrics: dict[str, MetricSummary]
    past_floor: list[str] = Field(default_factory=list)


class PerformanceSummary(BaseModel):
    """A check's row in the registry (mlops.registry.performance_checks): the figures the API, the
    CLI and the chart over time read, without the segments and calibration of the full report."""

    model_config = ConfigDict(extra="ignore")  # the table's key attributes and kind

    model: str
    checked_at: str
    window_start: str
    window_end: str
    status: Status
    message: str
    labelled: int
    min_labels: int
    # Labels accepted at intake that named no captured prediction of their hour (an id or row that was
    # never answered, a refused request's), and labels a later one for the same row replaced.
    unmatched_labels: int = 0
    superseded_labels: int = 0
    floor: dict[str, float | None] = Field(default_factory=dict)
    predicted: dict[int, int] = Field(default_factory=dict)
    coverage: dict[int, float | None] = Field(default_factory=dict)
    label_delay: LabelDelay = Field(default_factory=LabelDelay)
    variants: list[VariantSummary] = Field(default_factory=list)
    report_key: str | None = None
    report_page: str | None = None
    # What the check led to, each as its own record's plain dict (None: nothing of the kind).
    ab_test: dict[str, Any] | None = Field(default=None, description="the canary's A/B comparison")
    canary: dict[str, Any] | None = Field(default=None, description="what the A/B check did to the canary")
    retraining: dict[str, Any] | None = Field(default=None, description="a drop's retraining decision")
    feedback: dict[str, Any] | None = Field(default=None, description="a feedback upload written")

    def attributes(self) -> dict[str, Any]:
        """The row's attributes as DynamoDB takes them: floats as Decimal, map keys as strings."""
        stored: dict[str, Any] = to_dynamo(self.model_dump(mode="json"))
        return stored

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PerformanceSummary:
        """A row as the registry (or the API, plain) hands it back."""
        return cls.model_validate(from_dynamo(dict(item)))


def _rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)
