"""Every function fits Lambda with its layers, and the trimmed layers still import.

Builds the real layers (about a minute on a cold cache, seconds after), so it is marked slow.
"""

from __future__ import annotations

import os
import platform
import subprocess
import textwrap
from pathlib import Path

import pytest
from packaging.version import Version

from infra.function_layers import FUNCTION_LAYERS
from infra.layer_bundling.cache import build_layer
from infra.layer_bundling.spec import RUNTIME_PROVIDED, LayerSpec
from infra.layer_bundling.toolchain import find_python312
from infra.layer_sizes import format_report, main, size_report

pytestmark = pytest.mark.slow

PROJECT_ARCHITECTURE = "arm64"


def test_every_function_fits_lambda_and_its_budget() -> None:
    report = size_report(PROJECT_ARCHITECTURE)
    assert not report.violations, format_report(report)
    assert {size.function for size in report.functions} == set(FUNCTION_LAYERS)


def test_cli_exits_zero_when_everything_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--architecture", PROJECT_ARCHITECTURE]) == 0
    assert "predict" in capsys.readouterr().out


def test_built_layers_leave_the_runtime_sdk_alone() -> None:
    report = size_report(PROJECT_ARCHITECTURE)
    for name, layer in report.layers.items():
        distributions = layer.manifest["distributions"]
        assert not (distributions.keys() & RUNTIME_PROVIDED), name
        if "python-dateutil" in distributions:
            assert Version(distributions["python-dateutil"]) < Version("3"), name
        assert layer.manifest["bytecode"] in {"cpython-312", "none"}
    assert set(report.layers["inference"].manifest["distributions"]) == {"msgspec", "numpy", "onnxruntime"}
    assert "pandas" not in report.layers["training"].manifest["distributions"]


_HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower()
)

_SMOKE = {
    "predict": """
        import sys, numpy as np, onnxruntime as ort
        from aws_lambda_powertools import Logger, Metrics
        session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        out = session.run(None, {"x": np.ones((1, 2), dtype=np.float32)})[0]
        assert out.tolist() == [[2.0, 2.0]], out
        banned = {"sklearn", "scipy", "pandas", "google", "flatbuffers"}
        assert not banned & {m.split(".")[0] for m in sys.modules}, sorted(sys.modules)
    """,
    "ingest": """
        import gzip, io, sys, pandas as pd
        from aws_lambda_powertools.utilities.parser import BaseModel, parse
        frame = pd.read_parquet(sys.argv[2])
        assert frame["a"].tolist() == [1, 2], frame
        assert pd.read_csv(io.BytesIO(gzip.compress(b"a,b\\n1,x\\n")), compression="gzip").shape == (1, 2)
    """,
    "fit_candidate": """
        import numpy as np, onnx
        from sklearn.linear_model import LogisticRegression
        from skl2onnx import to_onnx
        from aws_lambda_powertools import Logger
        X = np.random.RandomState(0).rand(50, 3).astype(np.float32)
        model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
        onnx.checker.check_model(to_onnx(model, X[:1]))
    """,
}


def _fixtures(tmp_path: Path) -> tuple[Path, Path]:
    """An ONNX model and a Parquet file written with the dev environment's onnx and pyarrow."""
    import onnx
    import pandas as pd
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model_path = tmp_path / "double.onnx"
    onnx.save(model, model_path)
    parquet_path = tmp_path / "data.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(parquet_path, engine="pyarrow")
    return model_path, parquet_path


@pytest.mark.skipif(_HOST_ARCHITECTURE is None, reason="layers exist for x86_64 and arm64 hosts only")
@pytest.mark.skipif(find_python312() is None, reason="needs a Python 3.12 interpreter to import cp312 layers")
@pytest.mark.parametrize("function", sorted(_SMOKE))
def test_trimmed_layers_import_on_this_machine(function: str, tmp_path: Path) -> None:
    """Same prune lists and trimming for both architectures; this host's build proves they import."""
    assert _HOST_ARCHITECTURE is not None
    python = find_python312()
    assert python is not None
    paths = [
        str(build_layer(LayerSpec.for_layer(name, _HOST_ARCHITECTURE)).python_dir) for name in FUNCTION_LAYERS[function]
    ]
    model_path, parquet_path = _fixtures(tmp_path)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONDONTWRITEBYTECODE": "1",  # never write into the shared layer cache
        "POWERTOOLS_SERVICE_NAME": "smoke",
    }
    result = subprocess.run(
        [python, "-S", "-c", textwrap.dedent(_SMOKE[function]), str(model_path), str(parquet_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
