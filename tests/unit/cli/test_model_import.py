"""`mlops models import` refuses what no run could accept before it looks for a deployment or
uploads anything: a file of another kind, a missing file, a file over the size an import may be."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.names import MAX_IMPORT_BYTES
from mlopsctl.commands import EXIT_ERROR
from mlopsctl.main import main


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No deployment: a command that got as far as looking for one would fail differently."""
    monkeypatch.setenv("MLOPS_OUTPUTS", str(tmp_path / "no-outputs.json"))
    return tmp_path


def test_a_file_that_is_neither_onnx_nor_joblib_is_refused_naming_both(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pickled = nowhere / "model.pkl"
    pickled.write_bytes(b"\x80\x05.")
    assert main(["models", "import", "cancer", str(pickled), "--dataset-version", "abc"]) == EXIT_ERROR
    assert (
        "model.pkl: expected an ONNX model (.onnx) or a scikit-learn model saved with joblib" in capsys.readouterr().err
    )


def test_a_missing_or_oversized_file_is_refused_before_any_upload(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "import", "cancer", str(nowhere / "gone.onnx"), "--dataset-version", "abc"]) == EXIT_ERROR
    assert "gone.onnx: no such file" in capsys.readouterr().err
    big = nowhere / "big.joblib"
    with big.open("wb") as sparse:  # a sparse file: its size without writing 100 MiB
        sparse.truncate(MAX_IMPORT_BYTES + 1)
    assert main(["models", "import", "cancer", str(big), "--dataset-version", "abc"]) == EXIT_ERROR
    assert (
        f"big.joblib is {MAX_IMPORT_BYTES + 1:,} bytes, over the {MAX_IMPORT_BYTES:,} bytes" in capsys.readouterr().err
    )
