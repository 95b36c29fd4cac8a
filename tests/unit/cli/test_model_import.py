"""`mlops models import` refuses what no run could accept before it looks for a deployment or
uploads anything: a file of another kind, a missing file, a file over the size an import may be;
and a file already imported as a version of the model is refused unless `--again`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlops.names import MAX_IMPORT_BYTES
from mlopsctl.commands import EXIT_ERROR, EXIT_OK
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


class _Platform:
    """The deployment a second import meets: model `cancer` whose v2 was imported from `model.onnx`'s
    bytes; records what was uploaded and which runs were started."""

    def __init__(self, imported_sha256: str) -> None:
        self.imported_sha256 = imported_sha256
        self.uploaded: list[str] = []
        self.started: list[str] = []

    def client(self, service: str) -> Any:
        assert service == "s3"
        return SimpleNamespace(put_object=lambda **kwargs: self.uploaded.append(kwargs["Key"]))

    def output(self, name: str) -> str:
        return name

    def call(self, target: Any, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        assert (method, path) == ("GET", "/v1/models/cancer/versions")
        versions = [
            {"version": 2, "imported_file": {"sha256": self.imported_sha256, "file_name": "model.onnx"}},
            {"version": 1, "imported_file": None},
        ]
        return {"versions": versions, "next_token": None}


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[_Platform, Path]:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"the same bytes as v2")
    stand_in = _Platform(hashlib.sha256(model.read_bytes()).hexdigest())
    module = "mlopsctl.commands.model_import"
    monkeypatch.setattr(f"{module}.deployment_target", lambda args: stand_in)
    monkeypatch.setattr(f"{module}.require_training_config", lambda target, name: None)
    monkeypatch.setattr(f"{module}.resolve_dataset_version", lambda target, name, version: "a" * 64)
    monkeypatch.setattr("mlopsctl.api.call", stand_in.call)

    def start(target: Any, name: str, reason: str, version: str, *, imported: Any) -> Any:
        stand_in.started.append(imported.sha256)
        return SimpleNamespace(run_id="import-cancer-1")

    monkeypatch.setattr(f"{module}.start_run", start)
    monkeypatch.setattr(f"{module}.follow_to_the_end", lambda args, target, run: EXIT_OK)
    return stand_in, model


def test_importing_the_same_bytes_again_is_refused_unless_again(
    platform: tuple[_Platform, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in, model = platform
    command = ["models", "import", "cancer", str(model), "--dataset-version", "aaaa"]
    assert main(command) == EXIT_ERROR
    digest = stand_in.imported_sha256
    assert (
        f"the same file (sha256 {digest[:12]}) is already version 2 of cancer; importing it again registers "
        "another version: pass --again" in capsys.readouterr().err
    )
    assert stand_in.uploaded == [] and stand_in.started == []  # refused before anything was stored or started
    assert main([*command, "--again"]) == EXIT_OK
    assert stand_in.started == [digest]
