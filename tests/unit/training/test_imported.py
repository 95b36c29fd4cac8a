"""Bring your own model: an ONNX file matched to the dataset's features by name and rewritten to
serving's interface, a scikit-learn model from joblib checked and converted with the project's
export; everything that cannot be served is refused with the reason."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import types
from functools import cache
from typing import Any

import joblib
import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from mlops.serving.session import inference_session
from mlops.training.candidates import load_model
from mlops.training.chain import check_parity
from mlops.training.config import ParityConfig
from mlops.training.features import INPUT_NAME
from mlops.training.imported import (
    ImportedOnnxModel,
    ImportRefusedError,
    adapt_onnx,
    import_candidate,
    load_pipeline,
    onnx_candidate,
)
from mlops.training.onnx_export import export_onnx
from mlops.training.prepare import Prepared, prepare
from mlops.training.report import training_report_html
from mlops.training.start import ImportedFile, no_params_text
from tests.unit.training.support import sklearn_dataset, small_config


@cache
def _breast_cancer() -> Prepared:
    arrays, columns = sklearn_dataset("breast_cancer")
    return prepare(arrays, columns, small_config("binary"))


def _frame(x: Any, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(x, dtype=np.float32), columns=names)


def _on_columns(names: list[str], x: Any, y: Any) -> Pipeline:
    """A model fitted elsewhere on a DataFrame, its columns picked by name (a ColumnTransformer)."""
    columns = ColumnTransformer([("scale", StandardScaler(), names)])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=5000))]).fit(_frame(x, names), y)


@cache
def _logistic() -> Pipeline:
    splits = _breast_cancer().splits
    return _on_columns(splits.feature_names, splits.X_train, splits.y_train)


def _per_column_onnx(model: Any, names: list[str], *, zipmap: bool = False) -> onnx.ModelProto:
    """As a user exports a model fitted on a DataFrame: skl2onnx gives one input per column."""
    splits = _breast_cancer().splits
    exported: onnx.ModelProto = to_onnx(
        model, _frame(splits.X_train[:1], names), options={LogisticRegression: {"zipmap": zipmap}}
    )
    return exported


def _adapted_source(model: Any) -> bytes:
    return bytes(_per_column_onnx(model, _breast_cancer().splits.feature_names).SerializeToString())


def _answers(onnx_bytes: bytes, x: Any) -> tuple[Any, Any]:
    session = inference_session(onnx_bytes)
    label, proba = session.run(None, {INPUT_NAME: np.asarray(x, dtype=np.float32)})
    return label, proba


def test_an_onnx_file_with_one_input_per_column_is_served_through_the_features_input() -> None:
    prepared = _breast_cancer()
    splits, meta = prepared.splits, prepared.meta
    model = _logistic()
    adapted = adapt_onnx(
        _per_column_onnx(model, splits.feature_names).SerializeToString(), splits.feature_names, "binary", meta.classes
    )
    loaded = onnx.load_model_from_string(adapted)
    assert [i.name for i in loaded.graph.input] == [INPUT_NAME]
    assert [o.name for o in loaded.graph.output] == ["label", "probabilities"]
    expected = model.predict_proba(_frame(splits.X_test, splits.feature_names))
    label, proba = _answers(adapted, splits.X_test)
    assert np.abs(proba - expected).max() < 1e-5
    assert (label == expected.argmax(axis=1)).all()
    # The reference evaluator (what the evaluate step scores with) answers as onnxruntime does.
    candidate = onnx_candidate(_adapted_source(model), splits.feature_names, "binary", meta.classes)
    assert np.abs(candidate.predict_proba(splits.X_test) - proba).max() < 1e-5


def test_columns_in_another_order_are_fed_by_name() -> None:
    splits = _breast_cancer().splits
    shuffled = list(reversed(splits.feature_names))
    model = _on_columns(shuffled, splits.X_train[:, ::-1], splits.y_train)
    adapted = adapt_onnx(_per_column_onnx(model, shuffled).SerializeToString(), splits.feature_names, "binary", [0, 1])
    expected = model.predict_proba(_frame(splits.X_test[:, ::-1], shuffled))
    assert np.abs(_answers(adapted, splits.X_test)[1] - expected).max() < 1e-5


def test_one_matrix_input_needs_its_column_names_as_metadata() -> None:
    splits = _breast_cancer().splits
    model = LogisticRegression(max_iter=5000).fit(splits.X_train, splits.y_train)
    exported = to_onnx(
        model, initial_types=[("X", FloatTensorType([None, len(splits.feature_names)]))], options={"zipmap": False}
    )
    with pytest.raises(ImportRefusedError, match=r"'X' takes 30 unnamed columns.*feature_names"):
        adapt_onnx(exported.SerializeToString(), splits.feature_names, "binary", [0, 1])
    onnx.helper.set_model_props(exported, {"feature_names": json.dumps(splits.feature_names)})
    adapted = adapt_onnx(exported.SerializeToString(), splits.feature_names, "binary", [0, 1])
    assert np.abs(_answers(adapted, splits.X_test)[1] - model.predict_proba(splits.X_test)).max() < 1e-5
    # Metadata that is there but not JSON says so, not "record the column order" (a tester's finding).
    onnx.helper.set_model_props(exported, {"feature_names": ",".join(splits.feature_names)})
    with pytest.raises(ImportRefusedError, match=r"metadata feature_names is not JSON .*a JSON list"):
        adapt_onnx(exported.SerializeToString(), splits.feature_names, "binary", [0, 1])


def test_inputs_that_are_not_the_datasets_features_are_refused_naming_each() -> None:
    splits = _breast_cancer().splits
    names = [*splits.feature_names[1:], "shoe_size"]
    model = _on_columns(names, splits.X_train, splits.y_train)
    exported = _per_column_onnx(model, names)
    exported.graph.input[0].type.tensor_type.elem_type = TensorProto.STRING
    with pytest.raises(ImportRefusedError) as refused:
        adapt_onnx(exported.SerializeToString(), splits.feature_names, "binary", [0, 1])
    message = str(refused.value)
    assert f"missing '{splits.feature_names[0]}'" in message
    assert "extra 'shoe_size'" in message
    assert f"mistyped '{names[0]}' (string; the platform feeds numbers)" in message


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (np.random.default_rng(3).bytes(4096), "not an ONNX model"),
        (b"feature,weight\nmean_radius,0.5\n" * 20, "not an ONNX model"),
        (b"", "not an ONNX model"),
    ],
    ids=["random bytes", "a text file renamed .onnx", "an empty file"],
)
def test_a_file_that_is_not_an_onnx_model_is_refused(data: bytes, reason: str) -> None:
    splits = _breast_cancer().splits
    with pytest.raises(ImportRefusedError, match=reason):
        adapt_onnx(data, splits.feature_names, "binary", [0, 1])


def test_zipmap_probabilities_and_other_classes_are_refused_with_what_to_do() -> None:
    splits = _breast_cancer().splits
    model = _logistic()
    zipmap = _per_column_onnx(model, splits.feature_names, zipmap=True)  # skl2onnx's default
    with pytest.raises(ImportRefusedError, match=r"ZipMap: convert with options=\{'zipmap': False\}"):
        adapt_onnx(zipmap.SerializeToString(), splits.feature_names, "binary", [0, 1])
    shifted = _on_columns(splits.feature_names, splits.X_train, splits.y_train + 5)
    with pytest.raises(ImportRefusedError, match=r"classes \[5, 6\] are not the dataset's \[0, 1\]"):
        adapt_onnx(
            _per_column_onnx(shifted, splits.feature_names).SerializeToString(), splits.feature_names, "binary", [0, 1]
        )


def _joblib(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def test_a_scikit_learn_pipeline_becomes_the_runs_candidate_and_exports_with_parity() -> None:
    prepared = _breast_cancer()
    splits, meta = prepared.splits, prepared.meta
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        splits.X_train, splits.y_train
    )
    result = import_candidate(_joblib(pipeline), "joblib", splits, "binary", meta.classes)
    assert result.status == "succeeded", result.error
    assert result.estimator == "imported LogisticRegression"
    assert result.validation_metrics["roc_auc"] is not None and result.validation_metrics["roc_auc"] > 0.95
    assert result.model_bytes is not None
    model = load_model(result.model_bytes, result.model_sha256)
    onnx_bytes = export_onnx(model, len(splits.feature_names), splits.feature_names)
    assert check_parity(model, onnx_bytes, splits.X_test, ParityConfig()).passed


def test_an_imported_onnx_candidate_is_stored_and_exported_as_its_own_bytes() -> None:
    prepared = _breast_cancer()
    splits, meta = prepared.splits, prepared.meta
    result = import_candidate(_adapted_source(_logistic()), "onnx", splits, "binary", meta.classes)
    assert result.status == "succeeded", result.error
    assert result.estimator == "imported ONNX"
    model = load_model(result.model_bytes or b"", result.model_sha256)
    assert isinstance(model, ImportedOnnxModel)
    # The parity step's comparison: onnxruntime against the reference evaluator's answers.
    assert check_parity(model, model.onnx_bytes, splits.X_test, ParityConfig()).passed


class ShiftedLogistic(LogisticRegression):
    """A user's own estimator class: scikit-learn's behaviour, but not scikit-learn's class."""


def test_a_custom_estimator_class_is_refused_naming_it() -> None:
    splits = _breast_cancer().splits
    pipeline = Pipeline([("scale", StandardScaler()), ("model", ShiftedLogistic())]).fit(splits.X_train, splits.y_train)
    with pytest.raises(ImportRefusedError) as refused:
        load_pipeline(_joblib(pipeline), splits.feature_names, "binary", [0, 1])
    assert f"{__name__}.ShiftedLogistic is not scikit-learn's own: skl2onnx has no ONNX converter" in str(refused.value)


def test_a_class_the_training_step_cannot_import_is_refused_not_crashed() -> None:
    """In the fit Lambda the user's module does not exist: unpickling fails, and says so."""
    splits = _breast_cancer().splits
    module = types.ModuleType("their_package")
    exec("from sklearn.linear_model import LogisticRegression\nclass Theirs(LogisticRegression): pass", module.__dict__)
    module.Theirs.__module__ = "their_package"
    sys.modules["their_package"] = module
    try:
        data = _joblib(module.Theirs().fit(splits.X_train, splits.y_train))
    finally:
        del sys.modules["their_package"]
    with pytest.raises(ImportRefusedError, match=r"needs a class this platform does not have.*their_package"):
        load_pipeline(data, splits.feature_names, "binary", [0, 1])


def test_a_scikit_learn_estimator_skl2onnx_cannot_convert_is_refused_naming_it() -> None:
    splits = _breast_cancer().splits
    model = LabelSpreading().fit(splits.X_train, splits.y_train)
    with pytest.raises(ImportRefusedError, match="skl2onnx cannot convert LabelSpreading"):
        load_pipeline(_joblib(model), splits.feature_names, "binary", [0, 1])


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda s: b"not a pickle at all", "not a joblib file of a scikit-learn model"),
        (lambda s: _joblib({"weights": [1, 2, 3]}), "holds a builtins.dict, not a scikit-learn model"),
        (lambda s: _joblib(LinearRegression().fit(s.X_train, s.y_train)), "a classifier is needed"),
        (lambda s: _joblib(LogisticRegression()), "is not fitted"),
        (
            lambda s: _joblib(RandomForestClassifier(n_estimators=3).fit(s.X_train[:, :5], s.y_train)),
            "fitted on 5 columns; the dataset has 30 features",
        ),
        (
            lambda s: _joblib(LogisticRegression().fit(s.X_train, np.where(s.y_train == 1, "yes", "no"))),
            r"classes are \['no', 'yes'\]: fit it on the class positions",
        ),
    ],
    ids=["random bytes", "not an estimator", "a regressor", "unfitted", "other columns", "class values"],
)
def test_a_joblib_file_that_cannot_be_this_datasets_model_is_refused(build: Any, reason: str) -> None:
    splits = _breast_cancer().splits
    with pytest.raises(ImportRefusedError, match=reason):
        load_pipeline(build(splits), splits.feature_names, "binary", [0, 1])


def test_a_refused_file_is_a_failed_candidate_with_the_reason_not_a_crash() -> None:
    prepared = _breast_cancer()
    result = import_candidate(b"\x00" * 100, "onnx", prepared.splits, "binary", prepared.meta.classes)
    assert result.status == "failed"
    assert result.error is not None and "not an ONNX model" in result.error
    assert result.model_bytes is None


def test_a_pipeline_whose_onnx_answers_differently_fails_parity() -> None:
    """float32 arithmetic in ONNX against float64 in scikit-learn: coefficients so large that
    float32's rounding of the partial sums moves a probability near 0.5 far past the parity limit.
    The run then fails at its parity step, and nothing is registered."""
    splits = _breast_cancer().splits
    model = load_pipeline(
        _joblib(LogisticRegression(max_iter=5000).fit(splits.X_train, splits.y_train)),
        splits.feature_names,
        "binary",
        [0, 1],
    )
    model.coef_ = np.full_like(model.coef_, 1e4)
    model.intercept_ = np.array([0.5 - float(splits.X_test[1].astype(np.float64).sum()) * 1e4])  # logit 0.5 on row 1
    onnx_bytes = export_onnx(model, len(splits.feature_names), splits.feature_names)
    report = check_parity(model, onnx_bytes, splits.X_test, ParityConfig())
    assert not report.passed
    assert report.checks[0].name == "max_abs_probability_diff" and (report.checks[0].observed or 0) > 0.01


def test_a_regressors_one_output_becomes_the_prediction_column() -> None:
    arrays, columns = sklearn_dataset("diabetes")
    prepared = prepare(arrays, columns, small_config("regression"))
    splits = prepared.splits
    names = splits.feature_names
    model = Pipeline(
        [("columns", ColumnTransformer([("scale", StandardScaler(), names)])), ("model", LinearRegression())]
    )
    model.fit(_frame(splits.X_train, names), splits.y_train)
    exported = to_onnx(model, _frame(splits.X_train[:1], names))
    adapted = adapt_onnx(exported.SerializeToString(), names, "regression", None)
    (prediction,) = inference_session(adapted).run(None, {INPUT_NAME: splits.X_test})
    assert prediction.shape == (len(splits.X_test), 1)
    expected = model.predict(_frame(splits.X_test, names))
    assert np.abs(prediction.ravel() - expected).max() < 1e-3 * np.abs(expected).max()
    result = import_candidate(exported.SerializeToString(), "onnx", splits, "regression", None)
    assert result.status == "succeeded" and result.validation_metrics["r2"] is not None


def test_an_imported_estimators_own_parameters_are_recorded_as_its_hyperparameters() -> None:
    prepared = _breast_cancer()
    splits, meta = prepared.splits, prepared.meta
    final = LogisticRegression(C=0.5, max_iter=np.int64(300), class_weight={0: 1.0, 1: 2.0})
    pipeline = Pipeline([("scale", StandardScaler()), ("model", final)]).fit(splits.X_train, splits.y_train)
    result = import_candidate(_joblib(pipeline), "joblib", splits, "binary", meta.classes)
    assert result.status == "succeeded", result.error
    # The final step's parameters as set, not "the estimator's defaults"; a dict is kept as its repr.
    assert result.params["C"] == 0.5 and result.params["max_iter"] == 300 and result.params["solver"] == "lbfgs"
    assert result.params["class_weight"] == "{0: 1.0, 1: 2.0}"
    assert json.loads(json.dumps(result.params)) == result.params  # what the registry stores, as it is
    page = training_report_html(
        config=small_config("binary"),
        meta=meta,
        candidates=[result],
        selected=result,
        evaluation=None,
        parity=None,
        gates=None,
    )
    assert "<code>C=0.5</code>" in page and "the estimator&#x27;s defaults" not in page


def test_an_imported_onnx_models_hyperparameters_are_not_known_and_its_report_names_the_file() -> None:
    prepared = _breast_cancer()
    data = _adapted_source(_logistic())
    result = import_candidate(data, "onnx", prepared.splits, "binary", prepared.meta.classes)
    assert result.status == "succeeded", result.error
    assert result.params == {} and no_params_text(result.estimator) == "not known (imported ONNX)"
    digest = hashlib.sha256(data).hexdigest()
    imported = ImportedFile(
        key=f"models/cancer/imports/{digest}/model.onnx", sha256=digest, file_name="lr.onnx", format="onnx"
    )
    page = training_report_html(
        config=small_config("binary"),
        meta=prepared.meta,
        candidates=[result],
        selected=result,
        evaluation=None,
        parity=None,
        gates=None,
        imported=imported,
    )
    assert "not known (imported ONNX)" in page
    assert f"lr.onnx (onnx), sha256 <code>{digest}</code>" in page
