"""How a drift check decides: the training config's `monitoring.drift` section, read by the drift
function with the model's config (pydantic only, as the rest of this package's inference layer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
