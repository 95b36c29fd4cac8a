"""A model trained elsewhere (`mlops models import`), made the run's one candidate: an ONNX file whose
inputs are the dataset's features by name, or a scikit-learn model saved with joblib that the
project's own export converts. Everything after (evaluate, export, parity, gates, register) is the
trained candidates' path; what is refused here is refused with the reason, before anything is stored.

An ONNX file is rewritten to serving's interface (one float32 input `features`, outputs `label` and
`probabilities`, or `prediction`): each of its inputs takes its columns of `features`, by name. The
training layer has no onnxruntime (it and scikit-learn would pass Lambda's 250 MB), so the evaluate
step scores the file with onnx's reference evaluator; the parity step then runs it in onnxruntime, as
serving will, against those answers, so the registered metrics are the served model's.

A joblib file is unpickled, which runs code: only here, in the fit step of a run an operator (who
can deploy anyway) started, never in serving (SECURITY.md).

One module past 500 lines on purpose: what an import is refused for, how its file becomes the
run's candidate and what it records of itself (estimator, parameters) read against each other here.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from sklearn.base import BaseEstimator, is_classifier, is_regressor

from mlops.names import MAX_IMPORT_BYTES
from mlops.training.config import ProblemType, is_classification
from mlops.training.data import TrainingInputError
from mlops.training.evaluation import class_key, compute_metrics, predict
from mlops.training.features import INPUT_NAME, LABEL_OUTPUT, PREDICTION_OUTPUT, PROBABILITIES_OUTPUT
from mlops.training.prepare import ClassValue, Splits
from mlops.training.start import IMPORTED_CANDIDATE

if TYPE_CHECKING:
    from mlops.training.candidates import CandidateResult

# Input element types the platform can feed: its features are float32 numbers, cast to the input's type.
_NUMERIC_INPUTS = {
    TensorProto.FLOAT: "float",
    TensorProto.DOUBLE: "double",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT64: "int64",
    TensorProto.INT32: "int32",
}
_FLOAT_OUTPUTS = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
_RENAMED = "imported_"  # every tensor of the file's graph, so serving's names cannot collide with its own
_DEFAULT_OPSET = 13  # for a file that imports only ai.onnx.ml: Gather, Cast, ArgMax and Reshape as written here


class ImportRefusedError(TrainingInputError):
    """A file that cannot be registered as a model of this dataset; the message says why."""


def check_size(data: bytes) -> None:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefusedError(
            f"the file is {len(data):,} bytes, over the {MAX_IMPORT_BYTES:,} bytes an import may be"
        )


# --- ONNX -----------------------------------------------------------------------------------------
def _parse_onnx(data: bytes) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError and friends: the bytes are no ModelProto
        raise ImportRefusedError(f"not an ONNX model: {type(error).__name__}: {error}") from None
    graph = model.graph
    if not (graph.node and graph.input and graph.output):  # random bytes may decode as an empty message
        raise ImportRefusedError("not an ONNX model: the file has no graph with inputs, nodes and outputs")
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # onnx's ValidationError (and its C++ checker's errors)
        raise ImportRefusedError(f"not a valid ONNX model: {error}") from None
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        raise ImportRefusedError("the ONNX graph has control flow (If, Loop, Scan): only plain graphs can be imported")
    return model


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _input_columns(model: onnx.ModelProto, feature_names: Sequence[str]) -> list[tuple[onnx.ValueInfoProto, list[int]]]:
    """Each graph input and the columns of `features` it takes, matched by name; refused naming every
    missing, extra and mistyped column."""
    initialized = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initialized]
    position = {name: i for i, name in enumerate(feature_names)}
    metadata = {p.key: p.value for p in model.metadata_props}
    mistyped: list[str] = []
    wanted: list[tuple[onnx.ValueInfoProto, list[str]]] = []
    one_matrix = len(inputs) == 1 and len(_dims(inputs[0])) == 2 and _dims(inputs[0])[1] != 1
    if one_matrix or "feature_names" in metadata:
        if len(inputs) != 1:
            raise ImportRefusedError(
                f"metadata feature_names names the columns of one input; the model has {len(inputs)}"
            )
        if "feature_names" in metadata:
            try:
                names = json.loads(metadata["feature_names"])
            except ValueError as error:
                raise ImportRefusedError(
                    f"metadata feature_names is not JSON ({error}): record the column order as a JSON list, "
                    'e.g. ["age", "income"]'
                ) from None
        else:
            width = _dims(inputs[0])[1]
            raise ImportRefusedError(
                f"input {inputs[0].name!r} takes {width or 'several'} unnamed columns: give the model one input per "
                "column, named as the dataset's features (skl2onnx does for a pandas DataFrame), or record the "
                "column order as metadata 'feature_names' (a JSON list)"
            )
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ImportRefusedError("metadata feature_names must be a JSON list of column names")
        width = _dims(inputs[0])[1]
        if width is not None and width != len(names):
            raise ImportRefusedError(
                f"input {inputs[0].name!r} has {width} columns, metadata feature_names {len(names)}"
            )
        wanted.append((inputs[0], names))
    else:
        wanted = [(i, [i.name]) for i in inputs]
    for value, _ in wanted:
        kind = value.type.WhichOneof("value")
        element = value.type.tensor_type.elem_type if kind == "tensor_type" else None
        if element not in _NUMERIC_INPUTS:
            described = TensorProto.DataType.Name(element).lower() if element is not None else kind
            mistyped.append(f"{value.name!r} ({described}; the platform feeds numbers)")
    given = [name for _, names in wanted for name in names]
    missing = [n for n in feature_names if n not in given]
    extra = [n for n in given if n not in position]
    repeated = sorted({n for n in given if given.count(n) > 1})
    problems = [
        f"{label} {', '.join(map(repr, names)) if label != 'mistyped' else ', '.join(names)}"
        for label, names in (("missing", missing), ("extra", extra), ("repeated", repeated), ("mistyped", mistyped))
        if names
    ]
    if problems:
        raise ImportRefusedError(
            "the model's inputs do not match the dataset's features "
            f"({len(feature_names)}: {', '.join(feature_names[:8])}{', ...' if len(feature_names) > 8 else ''}): "
            + "; ".join(problems)
        )
    return [(value, [position[n] for n in names]) for value, names in wanted]


def _score_output(model: onnx.ModelProto, classifier: bool, n_classes: int | None) -> onnx.ValueInfoProto:
    """The output serving answers with: the probabilities (rows x classes) of a classifier, or the
    prediction of a regressor."""
    tensors: list[onnx.ValueInfoProto] = [
        o
        for o in model.graph.output
        if o.type.WhichOneof("value") == "tensor_type" and o.type.tensor_type.elem_type in _FLOAT_OUTPUTS
    ]
    if not classifier:
        if len(tensors) != 1:
            raise ImportRefusedError(
                f"a regressor needs one float output, its prediction; the model has {len(tensors)}"
            )
        return tensors[0]
    probabilities: list[onnx.ValueInfoProto] = [o for o in tensors if len(_dims(o)) == 2]
    if not probabilities:
        zipmap = any(o.type.WhichOneof("value") == "sequence_type" for o in model.graph.output)
        hint = " (its probabilities are a ZipMap: convert with options={'zipmap': False})" if zipmap else ""
        raise ImportRefusedError(f"a classifier needs its class probabilities as a float tensor, rows x classes{hint}")
    if len(probabilities) > 1:
        named = [o for o in probabilities if "prob" in o.name.lower()]
        if len(named) != 1:
            raise ImportRefusedError(
                f"more than one float output could be the probabilities: {', '.join(o.name for o in probabilities)}"
            )
        probabilities = named
    width = _dims(probabilities[0])[1]
    if width is not None and n_classes is not None and width != n_classes:
        raise ImportRefusedError(f"the model gives {width} class probabilities; the dataset has {n_classes} classes")
    return probabilities[0]


def _check_classes(model: onnx.ModelProto, classes: Sequence[ClassValue] | None) -> None:
    """A classifier node's class labels (skl2onnx writes them) must be the dataset's, in its order:
    the probability columns are read as the dataset's classes."""
    if classes is None:
        return
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_ints", "classlabels_int64s"):
                labels: list[Any] = list(attribute.ints)
            elif attribute.name == "classlabels_strings":
                labels = [s.decode() for s in attribute.strings]
            else:
                continue
            theirs = [class_key(c) for c in labels]
            if theirs not in ([class_key(c) for c in classes], [str(i) for i in range(len(classes))]):
                raise ImportRefusedError(
                    f"the model's classes {labels} are not the dataset's {list(classes)}, in order"
                )


def adapt_onnx(
    data: bytes, feature_names: Sequence[str], problem_type: ProblemType, classes: Sequence[ClassValue] | None
) -> bytes:
    """The imported file rewritten to serving's interface, or ImportRefusedError naming what does not fit."""
    check_size(data)
    model = _parse_onnx(data)
    classifier = is_classification(problem_type)
    columns = _input_columns(model, feature_names)
    score = _score_output(model, classifier, len(classes) if classes is not None else None)
    _check_classes(model, classes)
    graph = model.graph

    def renamed(name: str) -> str:
        return f"{_RENAMED}{name}" if name else name  # "" is an optional input left out

    for node in graph.node:
        node.input[:] = [renamed(n) for n in node.input]
        node.output[:] = [renamed(n) for n in node.output]
    for tensor in graph.initializer:
        tensor.name = renamed(tensor.name)
    for value in graph.value_info:
        value.name = renamed(value.name)
    initialized = [i for i in graph.input if renamed(i.name) in {t.name for t in graph.initializer}]
    for value in initialized:
        value.name = renamed(value.name)
    feeding: list[onnx.NodeProto] = []
    for index, (value, positions) in enumerate(columns):
        indices = f"{_RENAMED}columns_{index}"
        scalar = len(_dims(value)) == 1  # an input of shape [N]: one column, as a vector
        graph.initializer.append(
            numpy_helper.from_array(np.array(positions[0] if scalar else positions, dtype=np.int64), indices)
        )
        taken = f"{_RENAMED}taken_{index}"
        feeding.append(helper.make_node("Gather", [INPUT_NAME, indices], [taken], axis=1))
        feeding.append(helper.make_node("Cast", [taken], [renamed(value.name)], to=value.type.tensor_type.elem_type))
    answering: list[onnx.NodeProto]
    source = renamed(score.name)
    if classifier:
        answering = [
            helper.make_node("Cast", [source], [PROBABILITIES_OUTPUT], to=TensorProto.FLOAT),
            helper.make_node("ArgMax", [PROBABILITIES_OUTPUT], [LABEL_OUTPUT], axis=1, keepdims=0),
        ]
        outputs = [
            helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [None]),
            helper.make_tensor_value_info(PROBABILITIES_OUTPUT, TensorProto.FLOAT, [None, len(classes or [])]),
        ]
    else:
        shape = f"{_RENAMED}prediction_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), shape))
        answering = [
            helper.make_node("Cast", [source], [f"{_RENAMED}prediction_float"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", [f"{_RENAMED}prediction_float", shape], [PREDICTION_OUTPUT]),
        ]
        outputs = [helper.make_tensor_value_info(PREDICTION_OUTPUT, TensorProto.FLOAT, [None, 1])]
    nodes = [*feeding, *graph.node, *answering]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.extend(
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, len(feature_names)]), *initialized]
    )
    del graph.output[:]
    graph.output.extend(outputs)
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", _DEFAULT_OPSET))
    del model.metadata_props[:]
    for key, text in (
        ("feature_names", json.dumps(list(feature_names))),
        ("input", INPUT_NAME),
        ("kind", "classifier" if classifier else "regressor"),
    ):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the file's own graph does not type-check once fed from `features`
        raise ImportRefusedError(f"the ONNX model cannot be fed the dataset's features: {error}") from None
    return bytes(model.SerializeToString(deterministic=True))


class ImportedOnnxModel(BaseEstimator):  # type: ignore[misc]
    """An imported ONNX model (already in serving's interface) as evaluate and export use a fitted
    scikit-learn model: scored by onnx's reference evaluator, labels as class indices."""

    def __init__(self, onnx_bytes: bytes = b"", classifier: bool = True) -> None:
        self.onnx_bytes = onnx_bytes
        self.classifier = classifier

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self.classifier else "regressor"
        return tags

    def __getstate__(self) -> dict[str, Any]:
        # The evaluator and its last answers are not kept.
        return {"onnx_bytes": self.onnx_bytes, "classifier": self.classifier}

    def _outputs(self, x: NDArray[Any]) -> list[NDArray[Any]]:
        from onnx.reference import ReferenceEvaluator

        x32 = np.ascontiguousarray(x, dtype=np.float32)
        cached = self.__dict__.get("_answered")
        if cached is not None and cached[0].shape == x32.shape and np.array_equal(cached[0], x32):
            return list(cached[1])
        evaluator = self.__dict__.get("_evaluator")
        if evaluator is None:
            evaluator = self.__dict__["_evaluator"] = ReferenceEvaluator(onnx.load_model_from_string(self.onnx_bytes))
        outputs = [np.asarray(o) for o in evaluator.run(None, {INPUT_NAME: x32})]
        self.__dict__["_answered"] = (x32, outputs)
        return outputs

    def predict(self, x: NDArray[Any]) -> NDArray[Any]:
        return self._outputs(x)[0].astype(np.int64) if self.classifier else self._outputs(x)[0].reshape(-1)

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float64]:
        return np.asarray(self._outputs(x)[1], dtype=np.float64)


def onnx_candidate(
    data: bytes, feature_names: Sequence[str], problem_type: ProblemType, classes: Sequence[ClassValue] | None
) -> ImportedOnnxModel:
    """The imported ONNX file as the run's candidate; refused when the reference evaluator cannot run it."""
    model = ImportedOnnxModel(adapt_onnx(data, feature_names, problem_type, classes), is_classification(problem_type))
    try:
        model.predict(np.zeros((1, len(feature_names)), dtype=np.float32))
    except Exception as error:  # an operator the reference evaluator does not implement, a broken graph
        raise ImportRefusedError(
            f"the ONNX model could not be run on the dataset's features: {type(error).__name__}: {error}"
        ) from None
    return model


# --- scikit-learn (joblib) ------------------------------------------------------------------------
def _components(estimator: Any) -> Iterator[Any]:
    """The estimator and every estimator inside it: a Pipeline's steps, a ColumnTransformer's
    transformers, a meta-estimator's `estimator`."""
    yield estimator
    if not isinstance(estimator, BaseEstimator):
        return
    for value in estimator.get_params(deep=False).values():
        if isinstance(value, BaseEstimator):
            yield from _components(value)
        elif isinstance(value, list | tuple):
            for item in value:
                inner = item[1] if isinstance(item, tuple) and len(item) >= 2 else item
                if isinstance(inner, BaseEstimator):
                    yield from _components(inner)


def _not_scikit_learn(estimator: Any) -> list[str]:
    return sorted(
        {f"{type(c).__module__}.{type(c).__qualname__}" for c in _components(estimator) if not _from_sklearn(c)}
    )


def _from_sklearn(component: Any) -> bool:
    return type(component).__module__.split(".")[0] == "sklearn"


def load_pipeline(
    data: bytes, feature_names: Sequence[str], problem_type: ProblemType, classes: Sequence[ClassValue] | None
) -> Any:
    """The imported scikit-learn model, checked against the dataset and converted once with the
    project's export (a class skl2onnx cannot convert is refused now, not at the export step)."""
    import joblib

    from mlops.training.onnx_export import export_onnx

    check_size(data)
    try:
        model = joblib.load(io.BytesIO(data))
    except (ModuleNotFoundError, AttributeError) as error:  # pickle could not find a class it names
        raise ImportRefusedError(
            f"the file needs a class this platform does not have ({error}): a custom estimator class has no ONNX "
            "converter; build the model from scikit-learn's own estimators"
        ) from None
    except Exception as error:  # not a pickle, a truncated file, a joblib of another version
        raise ImportRefusedError(
            f"not a joblib file of a scikit-learn model: {type(error).__name__}: {error}"
        ) from None
    if not isinstance(model, BaseEstimator):
        held = f"{type(model).__module__}.{type(model).__qualname__}"
        raise ImportRefusedError(f"the file holds a {held}, not a scikit-learn model")
    custom = _not_scikit_learn(model)
    if custom:
        raise ImportRefusedError(
            f"{', '.join(custom)} {'is' if len(custom) == 1 else 'are'} not scikit-learn's own: skl2onnx has no ONNX "
            "converter for a custom estimator class, so serving could not run it"
        )
    classifier = is_classification(problem_type)
    if not (is_classifier(model) if classifier else is_regressor(model)):
        wanted = "classifier" if classifier else "regressor"
        raise ImportRefusedError(
            f"the dataset's problem is {problem_type}: a {wanted} is needed, not {type(model).__name__}"
        )
    fitted = getattr(model, "n_features_in_", None)
    if fitted is None:
        raise ImportRefusedError(f"the {type(model).__name__} is not fitted")
    named = getattr(model, "feature_names_in_", None)
    if named is not None and [str(n) for n in named] != list(feature_names):
        given = [str(n) for n in named]
        missing = [n for n in feature_names if n not in given]
        extra = [n for n in given if n not in feature_names]
        detail = "; ".join(
            f"{label} {', '.join(map(repr, names))}"
            for label, names in (("missing", missing), ("extra", extra))
            if names
        )
        raise ImportRefusedError(
            "the model was fitted on other columns than the dataset's features: "
            + (detail or f"the same columns in another order (expected {', '.join(feature_names)})")
        )
    if int(fitted) != len(feature_names):
        raise ImportRefusedError(
            f"the model was fitted on {fitted} columns; the dataset has {len(feature_names)} features"
        )
    if classifier:
        # The platform trains on the class's position in the dataset's classes: a model fitted on the
        # labels themselves would answer with values where evaluate and the ONNX export take positions.
        positions = [str(i) for i in range(len(classes or []))]
        theirs = [class_key(c) for c in getattr(model, "classes_", [])]
        if theirs != positions:
            raise ImportRefusedError(
                f"the model's classes are {theirs}: fit it on the class positions {positions} "
                f"(of the dataset's classes {list(classes or [])}, in that order)"
            )
    try:
        export_onnx(model, len(feature_names), feature_names)
    except Exception as error:  # skl2onnx's "Unable to find a shape calculator" and others
        raise ImportRefusedError(
            f"skl2onnx cannot convert {type(model).__name__} to ONNX, so serving could not run it: "
            f"{type(error).__name__}: {error}"[:1000]
        ) from None
    return model


def imported_estimator(model: Any) -> str:
    """How the candidate's estimator reads in the registry: `imported ONNX`, or the scikit-learn
    class of the final step (`imported LogisticRegression`)."""
    if isinstance(model, ImportedOnnxModel):
        return "imported ONNX"
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    return f"imported {type(final).__name__}"


_MAX_PARAMS = 60  # a registry record holds the parameters; an estimator with more keeps its first, by name
_MAX_PARAM_TEXT = 200  # characters of a value that is no JSON number, text, boolean or null (its repr)


def imported_params(model: Any) -> dict[str, Any]:
    """The imported estimator's own parameters (the final step's `get_params(deep=False)`), recorded as
    the version's hyperparameters: JSON values as they are, anything else (an estimator, an array, a
    callable) as its repr, cut short. An ONNX file carries none the platform can read: empty."""
    if isinstance(model, ImportedOnnxModel):
        return {}
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        params = final.get_params(deep=False)
    except Exception:  # an estimator whose get_params fails: its parameters are not known, not a refusal
        return {}
    recorded: dict[str, Any] = {}
    for name in sorted(params)[:_MAX_PARAMS]:
        value = params[name]
        value = value.item() if isinstance(value, np.generic) else value
        if value is None or isinstance(value, bool | str | int) or (isinstance(value, float) and np.isfinite(value)):
            recorded[name] = value[:_MAX_PARAM_TEXT] if isinstance(value, str) else value
        else:
            recorded[name] = repr(value)[:_MAX_PARAM_TEXT]
    return recorded


def import_candidate(
    data: bytes, file_format: str, splits: Splits, problem_type: ProblemType, classes: Sequence[ClassValue] | None
) -> CandidateResult:
    """The imported file as the run's one candidate, scored on the validation split as a fitted
    candidate is. Never raises for a bad file: a refusal comes back as `status="failed"` with the
    reason, which the evaluate step turns into the run's failure (nothing is registered)."""
    from mlops.training.candidates import CandidateResult, model_bytes

    started = time.perf_counter()
    try:
        if file_format == "onnx":
            model: Any = onnx_candidate(data, splits.feature_names, problem_type, classes)
        else:
            model = load_pipeline(data, splits.feature_names, problem_type, classes)
        predictions, proba = predict(model, splits.X_validation, problem_type)
        validation = compute_metrics(
            problem_type, splits.y_validation, predictions, proba, len(classes) if classes is not None else None
        )
    except Exception as error:  # a refusal, or a model that fails on the dataset's rows: data, not a crash
        reason = str(error) if isinstance(error, ImportRefusedError) else f"{type(error).__name__}: {error}"
        return CandidateResult(
            name=IMPORTED_CANDIDATE, estimator=f"imported {file_format}", status="failed", error=reason[:2000]
        )
    stored = model_bytes(model)
    return CandidateResult(
        name=IMPORTED_CANDIDATE,
        estimator=imported_estimator(model),
        status="succeeded",
        search=None,
        params=imported_params(model),
        validation_metrics=validation,
        fit_seconds=round(time.perf_counter() - started, 3),
        model_sha256=hashlib.sha256(stored).hexdigest(),
        model_bytes=stored,
    )
