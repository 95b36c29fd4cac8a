"""`mlops models import` against the deployed platform: a model trained in this test (elsewhere, as
far as the platform knows) is registered through the training pipeline with its metrics, gates and
lineage "imported", and waits for a person's approval (it may have been fitted on the test rows);
a file that is not a model is refused with the reason and registers nothing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlopsctl.main import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = "breast-cancer"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _quiet(*argv: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([*argv, "--json"])
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


def _frame() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))


@pytest.fixture(scope="module")
def uploaded(platform_synth: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    """The platform with breast-cancer's contract, config and one accepted version (no model yet):
    the `mlops` arguments that reach it, and the version's hash."""
    state = tmp_path_factory.mktemp("cloud")
    with LocalCloud.server(port=_free_port(), inbox_path=state / "inbox.jsonl") as cloud:
        stack = cloud.deploy(platform_synth)
        api_id = stack.outputs["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
        gateway = cloud.serve_api(api_id, port=_free_port())
        outputs = cloud.outputs_file(state / "outputs.json", api_url=gateway.url("prod") + "/")
        target = ["--outputs", str(outputs)]
        sample = state / "patients.csv"
        _frame().to_csv(sample, index=False)
        contract = state / "breast-cancer.yaml"
        for step in (
            ("contract", "draft", str(sample), "--dataset", MODEL, "--label", "target", "-o", str(contract)),
            ("contract", "deploy", str(contract), *target),
            ("config", "deploy", str(PROJECT_ROOT / "configs" / "breast-cancer.yaml"), *target),
            ("upload", str(sample), "--dataset", MODEL, "--wait", *target),
        ):
            code, document = _quiet(*step)
            assert code == EXIT_OK, (step, document)
        code, shown = _quiet("datasets", "show", MODEL, *target)
        assert code == EXIT_OK, shown
        yield target, shown["versions"][0]["version"]


def _versions(target: list[str]) -> list[int]:
    code, listed = _quiet("models", "list", *target)
    assert code == EXIT_OK
    if not any(m["model"] == MODEL for m in listed["models"]):
        return []
    code, shown = _quiet("models", "show", MODEL, *target)
    return sorted(int(v["version"]) for v in shown["versions"])


def _card(target: list[str], version: int) -> dict[str, Any]:
    code, document = _quiet("models", "show", MODEL, "--version", str(version), *target)
    assert code == EXIT_OK, document
    return dict(document["model_card"])


def test_an_onnx_file_and_a_joblib_pipeline_are_registered_as_imported(
    uploaded: tuple[list[str], str], tmp_path: Path
) -> None:
    target, version = uploaded
    frame = _frame()
    features = frame.drop(columns="target").astype(np.float32)
    # (a) ONNX from skl2onnx, one input per column as it gives for a DataFrame.
    columns = ColumnTransformer([("scale", StandardScaler(), list(features.columns))])
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=5000))]).fit(
        features, frame["target"]
    )
    onnx_file = tmp_path / "logistic.onnx"
    onnx_file.write_bytes(
        to_onnx(pipeline, features[:1], options={LogisticRegression: {"zipmap": False}}).SerializeToString()
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        code = main(["models", "import", MODEL, str(onnx_file), "--dataset-version", version[:12], *target])
    assert code == EXIT_OK, printed.getvalue()
    imported = _versions(target)[-1]
    # The config promotes automatically, but an import's figures may come from rows it was fitted on:
    # every gate passed, and it waits for a person, who is told why and what to run.
    assert f"Model {MODEL} version {imported}: pending_approval" in printed.getvalue()
    assert "Imported: its test figures cannot be checked against the rows it was fitted on" in printed.getvalue()
    assert f"mlops models approve {MODEL} {imported} --reason" in printed.getvalue()
    card = _card(target, imported)
    assert card["status"] == "pending_approval" and all(g["passed"] for g in card["quality_gates"])
    code, shown = _quiet("models", "show", MODEL, *target)
    assert "champion" not in shown["model"]["aliases"]
    code, approved = _quiet("models", "approve", MODEL, str(imported), "--reason", "fitted elsewhere", *target)
    assert code == EXIT_OK, approved
    assert _card(target, imported)["status"] == "registered"
    # The same bytes again: refused before anything is uploaded or run (--again would register another).
    code, _ = _quiet("models", "import", MODEL, str(onnx_file), "--dataset-version", version[:12], *target)
    assert code == EXIT_ERROR and _versions(target)[-1] == imported
    assert card["estimator"] == "imported ONNX"
    assert card["evaluation"]["roc_auc"] > 0.95
    assert card["training_data"]["dataset_version"] == version
    assert card["lineage"]["origin"] == "imported"
    assert card["lineage"]["imported_file"] == {
        "format": "onnx",
        "file_name": "logistic.onnx",
        "sha256": hashlib.sha256(onnx_file.read_bytes()).hexdigest(),
        "key": f"models/{MODEL}/imports/{hashlib.sha256(onnx_file.read_bytes()).hexdigest()}/model.onnx",
    }
    assert card["onnx_parity"]["passed"]  # onnxruntime answers as the evaluated reference evaluator did
    # (b) a scikit-learn Pipeline saved with joblib, converted by the platform's own export.
    plain = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=0.5))]).fit(
        features.to_numpy(), frame["target"].to_numpy()
    )
    joblib_file = tmp_path / "pipeline.joblib"
    joblib.dump(plain, joblib_file)
    code, outcome = _quiet("models", "import", MODEL, str(joblib_file), "--dataset-version", version, *target)
    assert code == EXIT_OK, outcome
    assert outcome["status"] == "pending_approval" and not outcome["promoted"], outcome
    card = _card(target, outcome["version"])
    assert card["estimator"] == "imported LogisticRegression"
    assert card["parameters"]["C"] == 0.5  # its own, not "the estimator's defaults"
    assert card["lineage"]["origin"] == "imported" and card["lineage"]["imported_file"]["format"] == "joblib"
    assert card["onnx_parity"]["passed"] and card["quality_gates"]


def test_a_file_that_is_not_a_model_is_refused_and_registers_nothing(
    uploaded: tuple[list[str], str], tmp_path: Path
) -> None:
    target, version = uploaded
    before = _versions(target)
    renamed = tmp_path / "notes.onnx"
    renamed.write_text("mean_radius,weight\n0.5,1\n")
    code, outcome = _quiet("models", "import", MODEL, str(renamed), "--dataset-version", version, *target)
    assert code == EXIT_REJECTED, outcome
    assert outcome["run_status"] == "failed"
    assert "the imported model is refused: not an ONNX model" in outcome["failure_reason"]
    assert outcome["version"] is None
    assert _versions(target) == before
