"""A candidate as the training config names it: an estimator, its fixed parameters and the space
searched; which estimators and parameters the platform accepts; and the default candidates.

pydantic only, as the rest of the config (`candidates` fits them with scikit-learn).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from mlops.training.config_base import ConfigModel, field_path
from mlops.training.metric_names import CLASSIFICATION, ProblemType, is_classification

EstimatorName = Literal[
    "logistic_regression", "linear_regression", "ridge", "random_forest", "hist_gradient_boosting", "gradient_boosting"
]


ESTIMATOR_PROBLEM_TYPES: dict[str, tuple[ProblemType, ...]] = {
    "logistic_regression": CLASSIFICATION,
    "linear_regression": ("regression",),
    "ridge": ("regression",),
    "random_forest": ("binary", "multiclass", "regression"),
    "hist_gradient_boosting": ("binary", "multiclass", "regression"),
    "gradient_boosting": ("binary", "multiclass", "regression"),
}

# Parameters set by the platform (determinism, one core per Lambda) or meaningless for a one-shot fit.
RESERVED_PARAMS: dict[str, str] = {
    "random_state": "set by the platform from split.seed",
    "n_jobs": "set by the platform to 1 (one Lambda, one core)",
    "verbose": "set by the platform",
    "warm_start": "not supported: every fit starts from scratch",
    "init": "not supported: an estimator object cannot be configured as data",
}
# Parameters whose values are not scalars, or that would bypass the platform's feature encoding.
UNSUPPORTED_PARAMS: dict[str, str] = {
    "categorical_features": "not supported: categorical columns are one-hot encoded by the platform",
    "monotonic_cst": "not supported in v1 (needs a list per feature)",
    "interaction_cst": "not supported in v1 (needs lists of features)",
}
_FOREST = (
    "bootstrap ccp_alpha criterion max_depth max_features max_leaf_nodes max_samples min_impurity_decrease "
    "min_samples_leaf min_samples_split min_weight_fraction_leaf n_estimators oob_score"
)
_HGB = (
    "early_stopping l2_regularization learning_rate loss max_bins max_depth max_features max_iter max_leaf_nodes "
    "min_samples_leaf n_iter_no_change scoring tol validation_fraction"
)
_GB = (
    "ccp_alpha criterion learning_rate loss max_depth max_features max_leaf_nodes min_impurity_decrease "
    "min_samples_leaf min_samples_split min_weight_fraction_leaf n_estimators n_iter_no_change subsample tol "
    "validation_fraction"
)
# Configurable parameters per (estimator, is_classifier); a test keeps this in step with scikit-learn.
ESTIMATOR_PARAMS: dict[tuple[str, bool], frozenset[str]] = {
    ("logistic_regression", True): frozenset(
        [
            "C",
            "class_weight",
            "dual",
            "fit_intercept",
            "intercept_scaling",
            "l1_ratio",
            "max_iter",
            "penalty",
            "solver",
            "tol",
        ]
    ),
    ("linear_regression", False): frozenset(["copy_X", "fit_intercept", "positive", "tol"]),
    ("ridge", False): frozenset(["alpha", "copy_X", "fit_intercept", "max_iter", "positive", "solver", "tol"]),
    ("random_forest", True): frozenset([*_FOREST.split(), "class_weight"]),
    ("random_forest", False): frozenset(_FOREST.split()),
    ("hist_gradient_boosting", True): frozenset([*_HGB.split(), "class_weight"]),
    ("hist_gradient_boosting", False): frozenset([*_HGB.split(), "quantile"]),
    ("gradient_boosting", True): frozenset(_GB.split()),
    ("gradient_boosting", False): frozenset([*_GB.split(), "alpha"]),
}


def _json_scalar(value: Any) -> Any:
    """Parameter values are JSON scalars: anything else cannot round-trip through Step Functions."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise PydanticCustomError(
        "param_value", "must be a string, number, boolean or null, not {kind}", {"kind": type(value).__name__}
    )


ParamValue = Annotated[
    Any,
    BeforeValidator(_json_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
ValueList = Annotated[list[ParamValue], Field(min_length=1)]


class Range(ConfigModel):
    """A continuous (or integer, when both bounds are integers) search range."""

    low: int | float
    high: int | float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError("low must be less than high")
        if self.log and self.low <= 0:
            raise ValueError("log ranges need low > 0")
        return self

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


def _values_or_range(value: Any) -> Any:
    """One error per bad search space (not one per union member), naming what is expected."""
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("search_space", "give at least one value")
        return [_json_scalar(v) for v in value]
    if isinstance(value, dict):
        try:
            return Range.model_validate(value)
        except ValidationError as exc:
            text = "; ".join(f"{field_path(tuple(e['loc'])) or 'range'}: {e['msg']}" for e in exc.errors())
            raise PydanticCustomError("search_space", "{text}", {"text": text.replace("Value error, ", "")}) from None
    raise PydanticCustomError(
        "search_space",
        "must be a list of values or a range {{low, high, log}}, not {kind}",
        {"kind": type(value).__name__},
    )


_SCALAR_SCHEMA = {"type": ["string", "number", "boolean", "null"]}
SearchSpace = Annotated[
    list[Any] | Range,
    BeforeValidator(_values_or_range),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": _SCALAR_SCHEMA, "minItems": 1},
                {
                    "type": "object",
                    "properties": {"low": {"type": "number"}, "high": {"type": "number"}, "log": {"type": "boolean"}},
                    "required": ["low", "high"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class RandomSearch(ConfigModel):
    n_iter: int = Field(ge=1, le=1000)
    params: dict[str, SearchSpace] = Field(min_length=1, description="a list of values, or a range {low, high, log}")


class Search(ConfigModel):
    """Exactly one of a grid (every combination) or a random search (n_iter draws)."""

    grid: dict[str, ValueList] | None = None
    random: RandomSearch | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Search:
        if (self.grid is None) == (self.random is None):
            raise ValueError("give exactly one of 'grid' or 'random'")
        if self.grid is not None and not self.grid:
            raise ValueError("grid needs at least one parameter")
        return self

    @property
    def param_names(self) -> list[str]:
        if self.grid is not None:
            return list(self.grid)
        assert self.random is not None
        return list(self.random.params)


class Candidate(ConfigModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="unique; used in keys and state names")
    estimator: EstimatorName
    params: dict[str, ParamValue] = Field(default_factory=dict, description="fixed parameters")
    search: Search | None = None


def default_candidates(problem_type: ProblemType) -> list[Candidate]:
    """Four standard candidates with small grids: a linear baseline and three tree ensembles.

    Small on purpose: one Lambda (15 min, one core) fits each, including the search.
    """
    if is_classification(problem_type):
        linear = Candidate(
            name="logistic_regression",
            estimator="logistic_regression",
            params={"max_iter": 1000},
            search=Search(grid={"C": [0.1, 1.0, 10.0]}),
        )
    else:
        linear = Candidate(name="ridge", estimator="ridge", search=Search(grid={"alpha": [0.1, 1.0, 10.0]}))
    return [
        linear,
        Candidate(
            name="random_forest",
            estimator="random_forest",
            params={"n_estimators": 200},
            # Depth drives serving latency: 200 unbounded trees on 50,000 rows are a 27 MB graph
            # answering one row in ~130 µs; depth 6 answers in ~28 µs (see README, training benchmark).
            # Raise max_depth in a dataset's config when accuracy matters more than latency.
            search=Search(grid={"max_depth": [4, 6], "min_samples_leaf": [1, 5]}),
        ),
        Candidate(
            name="hist_gradient_boosting",
            estimator="hist_gradient_boosting",
            search=Search(grid={"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]}),
        ),
        Candidate(
            name="gradient_boosting",
            estimator="gradient_boosting",
            params={"n_estimators": 100},
            search=Search(grid={"learning_rate": [0.05, 0.1], "max_depth": [2, 3]}),
        ),
    ]
