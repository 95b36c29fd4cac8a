"""The training config: errors name every bad field, YAML pitfalls are handled, the published JSON
Schema is current, and the parameter table matches scikit-learn."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlops.training.config import ConfigError, default_config, higher_is_better, load_training_config
from mlops.training.schema import render
from mlops.training.search_space import ESTIMATOR_PARAMS, RESERVED_PARAMS, UNSUPPORTED_PARAMS

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = ROOT / "schemas" / "training-config.schema.json"

EXAMPLE = """
dataset: churn
problem_type: binary
label: churned
segment_column: region
split: {test_fraction: 0.2, validation_fraction: 0.2, seed: 42}
candidates:
  - name: logreg
    estimator: logistic_regression
    params: {max_iter: 1000}
    search:
      grid: {C: [1e-2, 0.1, 1, 10]}
  - name: forest
    estimator: random_forest
    params: {n_estimators: 200}
    search:
      random:
        n_iter: 6
        params:
          max_depth: [null, 8, 16]
          min_samples_leaf: {low: 1, high: 20, log: true}
          max_features: {low: 0.2, high: 1.0}
selection_metric: roc_auc
quality_gates:
  absolute: {roc_auc: {min: 0.75}, log_loss: {max: 0.6}}
  max_regression: {roc_auc: 0.01}
  max_segment_gap: 0.05
  latency_budget_ms_per_row: 5
parity: {max_abs_probability_diff: 1.0e-4, min_label_agreement: 0.999}
promotion: manual
retraining: {cooldown_hours: 24, max_runs_per_day: 2}
"""


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_training_config(text, source="s3://bucket/configs/churn.yaml")
    assert "s3://bucket/configs/churn.yaml" in str(caught.value)
    return dict(caught.value.problems)


def test_the_example_loads_with_yaml_floats_as_numbers() -> None:
    config = load_training_config(EXAMPLE, source="example.yaml")
    assert config.candidates[0].search is not None and config.candidates[0].search.grid == {"C": [0.01, 0.1, 1, 10]}
    assert config.metric == "roc_auc" and config.stratify is True and config.seed == 42
    assert config.retraining is not None and config.retraining.max_runs_per_day == 2
    # JSON is accepted as well, and round-trips.
    assert load_training_config(json.dumps(config.model_dump(mode="json"))) == config


def test_every_bad_field_is_named_with_its_path() -> None:
    bad = yaml.safe_load(EXAMPLE)
    bad["problem_type"] = "ranking"
    bad["split"]["test_fraction"] = 1.5
    bad["candidates"][0]["search"]["grid"]["C"] = []
    bad["candidates"][1]["search"]["random"]["params"]["max_depth"] = [[1, 2]]
    bad["candidates"][1]["search"]["random"]["params"]["max_features"] = {"low": 1.0, "high": 0.5}
    bad["candidates"][1]["colour"] = "red"
    del bad["label"]
    problems = _problems(json.dumps(bad))
    assert set(problems) == {
        "problem_type",
        "split.test_fraction",
        "candidates[0].search.grid.C",
        "candidates[1].search.random.params.max_depth",
        "candidates[1].search.random.params.max_features",
        "candidates[1].colour",
        "label",
    }, problems
    assert "binary" in problems["problem_type"] and problems["label"] == "required field missing"
    assert "low must be less than high" in problems["candidates[1].search.random.params.max_features"]


def test_combinations_are_checked_against_the_problem_type() -> None:
    bad = yaml.safe_load(EXAMPLE)
    bad["selection_metric"] = "rmse"
    bad["quality_gates"]["absolute"]["r2"] = {"min": 0.1}
    bad["candidates"].append({"name": "lin", "estimator": "linear_regression"})
    bad["candidates"].append({"name": "logreg", "estimator": "logistic_regression"})
    bad["candidates"][0]["params"]["random_state"] = 3
    bad["candidates"][0]["params"]["C"] = 1.0
    bad["candidates"][1]["search"]["random"]["params"]["max_dept"] = [3]
    bad["features"] = ["age", "churned", "age"]
    problems = _problems(yaml.safe_dump(bad))
    assert "not a binary metric" in problems["selection_metric"]
    assert "not a binary metric" in problems["quality_gates.absolute.r2"]
    assert "not a binary estimator" in problems["candidates[2].estimator"]
    assert "duplicate" in problems["candidates[3].name"]
    assert "set by the platform" in problems["candidates[0].params.random_state"]
    assert "also fixed" in problems["candidates[0].search.grid.C"]
    assert "unknown parameter of random_forest" in problems["candidates[1].search.random.params.max_dept"]
    assert "is the label" in problems["features[1]"] and "twice" in problems["features[2]"]


def test_yaml_pitfalls_are_refused_clearly() -> None:
    assert "duplicate key 'label'" in _problems("dataset: d\nlabel: a\nlabel: b\n")[""]
    assert "mapping" in _problems("- just\n- a list\n")[""]
    problems = _problems(EXAMPLE.replace("params: {max_iter: 1000}", "params: {max_iter: [1000]}"))
    assert "must be a string, number, boolean or null" in problems["candidates[0].params.max_iter"]


@pytest.mark.parametrize("problem_type", ["binary", "multiclass", "regression"])
def test_the_default_config_is_valid_and_has_four_candidates(problem_type: str) -> None:
    config = default_config("sales", "y", problem_type)  # type: ignore[arg-type]
    assert len(config.candidates) == 4
    assert load_training_config(json.dumps(config.model_dump(mode="json"))) == config
    jsonschema.validate(config.model_dump(mode="json", exclude_none=True), json.loads(SCHEMA_PATH.read_text()))


def test_metric_directions() -> None:
    assert higher_is_better("roc_auc") and higher_is_better("r2")
    assert not higher_is_better("log_loss") and not higher_is_better("rmse")


def test_the_published_schema_is_current_and_validates_the_example() -> None:
    assert SCHEMA_PATH.read_text() == render(), (
        "schemas/training-config.schema.json is stale; regenerate it with\n"
        "  python -m mlops.training.schema > schemas/training-config.schema.json"
    )
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(yaml.load(EXAMPLE, Loader=yaml.SafeLoader) | {"split": {"seed": 1}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"dataset": "d", "problem_type": "binary", "label": "y", "candidates": [], "x": 1}, schema)


def _loaded(imports: str) -> list[str]:
    code = (
        f"import sys; {imports};"
        "heavy = ('sklearn', 'scipy', 'onnx', 'skl2onnx', 'onnxruntime', 'pandas', 'pyarrow', 'yaml');"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env=env, timeout=120)
    return list(ast.literal_eval(out.stdout.decode()))


def test_the_light_modules_do_not_load_the_training_layer() -> None:
    """Each function's imports fit its layers: training's light parts load no scikit-learn; serving
    and drift (inference layer: onnxruntime and numpy) load no scikit-learn, scipy, pandas or PyYAML."""
    light = "from mlops.training import features, config, signature"
    assert _loaded(light) == ["yaml"]
    serving = (
        "import mlops.serving.inputs, mlops.serving.models, mlops.serving.rollout, mlops.serving.capture,"
        " mlops.serving.batch"
    )
    assert _loaded(serving) == ["onnxruntime"]
    assert _loaded("import mlops.monitoring.checks, mlops.monitoring.report") == []


def test_importing_the_package_or_its_light_modules_loads_nothing_heavy() -> None:
    """The record-failure function (Powertools only) imports `failures`; the CLI the metric names."""
    assert _loaded("import mlops.training, mlops.training.failures, mlops.training.metric_names") == []


def test_the_parameter_table_matches_scikit_learn() -> None:
    from mlops.training.candidates import _ESTIMATORS

    for key, cls in _ESTIMATORS.items():
        actual = set(cls().get_params())
        configurable = set(ESTIMATOR_PARAMS[key])
        assert configurable | (actual & (set(RESERVED_PARAMS) | set(UNSUPPORTED_PARAMS))) == actual, key


def test_a_config_is_checked_against_the_contracts_columns_by_field() -> None:
    from mlops.training.config import config_from_dict, contract_problems

    columns = {"customer_id": "string", "signup": "datetime", "tenure": "int", "plan": "category", "churned": "bool"}
    logistic = [{"name": "logistic", "estimator": "logistic_regression"}]
    config = config_from_dict(
        {"dataset": "churn", "problem_type": "binary", "label": "churned", "candidates": logistic}
    )
    assert contract_problems(config, columns, dataset="churn") == []
    regression = config_from_dict(
        {
            "dataset": "churn",
            "problem_type": "regression",
            "label": "plan",
            "features": ["tenure", "signup", "age"],
            "segment_column": "region",
            "encoding": {"datetime_columns": {"signup": {"parts": ["year"]}, "plan": {}, "ghost": {}}},
            "candidates": [{"name": "ridge", "estimator": "ridge"}],
        }
    )
    assert contract_problems(regression, columns, dataset="customers") == [
        ("dataset", "'churn', but the contract is for 'customers'"),
        ("label", "regression needs an int or float label; 'plan' is category"),
        ("segment_column", "no column 'region' in the contract (columns: customer_id, signup, tenure, plan, churned)"),
        ("encoding.datetime_columns.plan", "'plan' is a category column, not a datetime"),
        (
            "encoding.datetime_columns.ghost",
            "no column 'ghost' in the contract (columns: customer_id, signup, tenure, plan, churned)",
        ),
        ("features[2]", "no column 'age' in the contract (columns: customer_id, signup, tenure, plan, churned)"),
    ]
    assert contract_problems(config, {"signup": "datetime", "churned": "bool"}, dataset="churn") == []
    only_label = contract_problems(config, {"churned": "bool"}, dataset="churn")
    assert only_label == [
        ("features", "the contract has no int, float, bool, string, category or datetime column besides the label")
    ]


def test_the_id_field_labels_name_rows_by_must_be_a_column_of_the_contract_and_not_the_label() -> None:
    from mlops.training.config import config_from_dict, contract_problems

    columns = {"customer_id": "string", "tenure": "int", "churned": "bool"}

    def problems(id_field: str) -> list[tuple[str, str]]:
        config = config_from_dict(
            {
                "dataset": "churn",
                "problem_type": "binary",
                "label": "churned",
                "candidates": [{"name": "logistic", "estimator": "logistic_regression"}],
                "monitoring": {"performance": {"id_field": id_field}},
            }
        )
        return contract_problems(config, columns, dataset="churn")

    assert problems("customer_id") == []
    assert problems("order_id") == [
        (
            "monitoring.performance.id_field",
            "no column 'order_id' in the contract (columns: customer_id, tenure, churned)",
        )
    ]
    assert problems("churned") == [
        ("monitoring.performance.id_field", "'churned' is the label: a row's id must be known when it is predicted")
    ]


def test_candidate_parameters_scikit_learn_would_refuse_are_named_by_field() -> None:
    from mlops.training.candidates import parameter_problems
    from mlops.training.config import config_from_dict

    config = config_from_dict(
        {
            "dataset": "d",
            "problem_type": "regression",
            "label": "y",
            "candidates": [
                {"name": "ok", "estimator": "ridge", "params": {"alpha": 1.0}},
                {"name": "trees", "estimator": "random_forest", "params": {"max_depth": 0}},
                {
                    "name": "searched",
                    "estimator": "random_forest",
                    "search": {"random": {"n_iter": 3, "params": {"min_samples_leaf": {"low": 0, "high": 5}}}},
                },
            ],
        }
    )
    problems = parameter_problems(config)
    assert [path for path, _ in problems] == [
        "candidates[1].params.max_depth",
        "candidates[2].search.random.params.min_samples_leaf",
    ]
    assert "RandomForestRegressor must be an int in the range [1, inf) or None. Got 0 instead." in problems[0][1]


def test_a_label_the_contract_says_cannot_be_classes_is_refused_at_deploy() -> None:
    """Found by a newcomer: `binary` on a 3-valued label, and a unique id as label, deployed and
    failed an hour later in prepare."""
    from mlops.training.config import config_from_dict, contract_problems

    columns = {"customer_id": "string", "plan": "category", "churned": "bool", "spend": "float"}
    LR = [{"name": "lr", "estimator": "logistic_regression"}]  # noqa: N806
    allowed = {"plan": ["basic", "standard", "premium"]}
    binary = config_from_dict({"dataset": "churn", "problem_type": "binary", "label": "plan", "candidates": LR})
    assert contract_problems(binary, columns, dataset="churn", allowed_values=allowed) == [
        (
            "problem_type",
            "binary needs exactly 2 classes; the contract allows 3 for 'plan' (basic, standard, premium): "
            "use problem_type multiclass",
        )
    ]
    multiclass = config_from_dict({"dataset": "churn", "problem_type": "multiclass", "label": "plan", "candidates": LR})
    assert contract_problems(multiclass, columns, dataset="churn", allowed_values=allowed) == []
    by_id = config_from_dict({"dataset": "churn", "problem_type": "binary", "label": "customer_id", "candidates": LR})
    (problem,) = contract_problems(by_id, columns, dataset="churn", unique={"customer_id"})
    assert problem[0] == "label" and "marks 'customer_id' unique" in problem[1]
    churned = config_from_dict({"dataset": "churn", "problem_type": "binary", "label": "churned", "candidates": LR})
    assert contract_problems(churned, columns, dataset="churn", allowed_values=allowed, unique={"customer_id"}) == []


def test_performance_monitoring_captures_every_prediction_and_checks_its_metrics() -> None:
    config = load_training_config(EXAMPLE + "monitoring: {performance: {floor: {accuracy: 0.8}}}\n")
    assert config.monitoring.performance is not None and config.monitoring.performance.floor == {"accuracy": 0.8}
    assert config.serving.capture_sample_rate == 1.0  # labels are joined with every prediction
    problems = _problems(
        EXAMPLE + "serving: {capture_sample_rate: 0.1}\n"
        "monitoring: {performance: {floor: {rmse: 3}, ab_test: {metric: mae}, window_hours: 0}}\n"
    )
    assert "monitoring.performance.window_hours" in problems
    problems = _problems(
        EXAMPLE
        + "serving: {capture_sample_rate: 0.1}\nmonitoring: {performance: {floor: {rmse: 3}, ab_test: {metric: mae}}}\n"
    )
    assert problems["monitoring.performance.floor.rmse"] == "'rmse' is not a binary metric"
    assert problems["monitoring.performance.ab_test.metric"] == "'mae' is not a binary metric"
    assert "set 1 or leave it out" in problems["serving.capture_sample_rate"]
