"""How monitoring decides: the training config's `monitoring.drift` and `monitoring.performance`
sections, read by the monitoring functions with the model's config (pydantic only, as the rest of
this package's inference layer)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DriftConfig(BaseModel):
    """How a drift check decides; the training config's `monitoring.drift` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(
        default=200, ge=1, description="fewer captured rows in the window: status insufficient_data, nothing drifts"
    )
    small_sample_rows: int = Field(
        default=1000,
        ge=1,
        description="up to this many non-missing values a feature is tested (KS, chi-square) at p_value; "
        "above it, distances with thresholds (Wasserstein, Jensen-Shannon)",
    )
    p_value: float = Field(default=0.01, gt=0, lt=1, description="significance level of the tests")
    wasserstein_threshold: float = Field(
        default=0.1, gt=0, description="Wasserstein-1 distance over the reference's standard deviation"
    )
    jensen_shannon_threshold: float = Field(
        default=0.1, gt=0, le=1, description="Jensen-Shannon distance (natural log; at most sqrt(ln 2) = 0.83)"
    )
    missing_rate_threshold: float = Field(
        default=0.1, gt=0, le=1, description="absolute change of a feature's missing rate that counts as drift"
    )
    new_category_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="share of a feature's values in categories the reference never saw above which it drifts",
    )
    dataset_drift_share: float = Field(
        default=0.5, gt=0, le=1, description="dataset drift when at least this share of features drifted"
    )
    prediction_drift: bool = Field(
        default=True,
        description="count the prediction (classes or score drifted) as one more feature in the drift share; "
        "prediction drift is reported either way",
    )
    refused_share_threshold: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="the share of captured rows the serving policy refused (out_of_range, unseen_category) at "
        "which a check raises the RefusedShare alarm; reported either way",
    )


PerformanceMetric = Literal["roc_auc", "f1_macro", "accuracy", "log_loss", "brier", "rmse", "mae", "r2"]
ABTestMetric = Literal["accuracy", "roc_auc", "log_loss", "rmse", "mae"]


class ABTestConfig(BaseModel):
    """How a canary's challenger is compared with the champion on the labelled rows each answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: ABTestMetric | None = Field(
        default=None,
        description="default: accuracy for classifiers (a two-proportion test), mae for regression (Welch's t-test "
        "on absolute errors); roc_auc and log_loss are compared with a bootstrap",
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="significance level (two-sided)")
    power: float = Field(
        default=0.8, gt=0, lt=1, description="the chance to detect `min_effect` at the planned labelled rows"
    )
    min_effect: float = Field(
        default=0.02, gt=0, description="the smallest difference worth detecting (in the metric's units)"
    )
    min_labels: int = Field(
        default=50,
        ge=10,
        description="the champion's first this many labelled rows estimate the baseline the planned sample size is "
        "computed from; each variant needs at least this many before anything is reported as more than noise",
    )
    max_labels: int = Field(
        default=5000,
        ge=10,
        description="the planned labelled rows per variant are at most this many (a tiny min_effect would plan an "
        "A/B that never ends); capped, the decision is at the cap with less power, and the report says how much",
    )
    auto_decide: bool = Field(
        default=False,
        description="end the canary by itself: promote a challenger significantly better, roll back one "
        "significantly worse (audited with the figures); false: report only",
    )

    @model_validator(mode="after")
    def _cap_above_minimum(self) -> ABTestConfig:
        if self.max_labels < self.min_labels:
            raise ValueError(f"max_labels ({self.max_labels}) must be at least min_labels ({self.min_labels})")
        return self


class FeedbackConfig(BaseModel):
    """When labelled traffic becomes a dataset version (written through the dataset's contract)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_drop: bool = Field(
        default=True, description="write a feedback dataset version when a check finds a metric past its floor"
    )
    every_days: float | None = Field(default=None, gt=0, description="also write one this often")
    min_rows: int = Field(default=50, ge=1, description="fewer new labelled rows: no version is written")


class PerformanceConfig(BaseModel):
    """How this model's predictions are checked against ground truth; the training config's
    `monitoring.performance` section. Present: every prediction is captured (capture_sample_rate 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor: dict[PerformanceMetric, float] = Field(
        default_factory=dict,
        description="metric -> the worst acceptable value over the window (a floor for accuracy, AUC, F1, R²; a "
        "ceiling for log_loss, brier, rmse, mae); past it the PerformanceBelowFloor alarm fires",
    )
    window_hours: float = Field(default=168, gt=0, description="the rolling window of predictions a check scores")
    min_labels: int = Field(
        default=100, ge=1, description="fewer labelled rows in the window: status insufficient_labels, no alarm"
    )
    confidence: float = Field(default=0.95, gt=0, lt=1, description="of the bootstrap intervals reported")
    horizon_days: float = Field(
        default=14,
        gt=0,
        description="labels for predictions older than this are refused as too late; unlabelled predictions age out",
    )
    segments: list[str] = Field(
        default_factory=list, description="input fields whose values split the figures (categorical, or binned)"
    )
    id_field: str | None = Field(
        default=None,
        min_length=1,
        description="a column of the dataset (an order or customer id, usually not a feature) that predict requests "
        "may carry in each row; labels may then name their prediction by it (`id`) instead of the request id",
    )
    ab_test: ABTestConfig = Field(default_factory=ABTestConfig)
    feedback: FeedbackConfig | None = Field(
        default=None, description="absent: labelled rows stay in the monitoring store only"
    )
