"""`mlops models download` against a stand-in registry API whose artifact URLs are local files
(urllib opens `file://` as it opens the presigned https URLs): a version below 1 is refused before
any call, and a refused download leaves no directory it created behind."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.commands import EXIT_ERROR, EXIT_OK
from mlopsctl.main import main
from mlopsctl.target import Target


@dataclass
class _Registry:
    """diabetes: v2 the champion, v1 with one artifact whose recorded digest is `recorded`."""

    artifact: Path
    recorded: str
    asked: list[str] = field(default_factory=list)

    def call(self, target: Target, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        self.asked.append(path)
        if path == "/v1/models/diabetes":
            return {"model": {"aliases": {"champion": {"version": 2}}}}
        if path.endswith("/artifacts"):
            link = {"name": "model.onnx", "url": self.artifact.as_uri(), "sha256": self.recorded}
            return {"artifacts": [link]}
        return {"model_card": {"model": "diabetes"}}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Registry:
    artifact = tmp_path / "served" / "model.onnx"
    artifact.parent.mkdir()
    artifact.write_bytes(b"onnx bytes")
    stand_in = _Registry(artifact, hashlib.sha256(b"onnx bytes").hexdigest())
    monkeypatch.setattr("mlopsctl.commands.download.deployment_target", lambda args: Target({"ApiUrl": "https://a/"}))
    monkeypatch.setattr("mlopsctl.api.call", stand_in.call)
    return stand_in


@pytest.mark.parametrize("version", ["0", "-1"])
def test_a_version_below_1_is_refused_before_any_call(
    registry: _Registry, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    # `--version 0` once downloaded the champion (0 read as "not given").
    assert main(["models", "download", "diabetes", "--version", version]) == EXIT_ERROR
    assert "--version must be 1 or more" in capsys.readouterr().err
    assert registry.asked == []


def test_the_champion_is_the_default_and_a_named_version_is_that_version(registry: _Registry, tmp_path: Path) -> None:
    assert main(["models", "download", "diabetes", "--out", str(tmp_path / "c")]) == EXIT_OK
    assert registry.asked[1] == "/v1/models/diabetes/versions/2"
    assert (tmp_path / "c" / "model.onnx").read_bytes() == b"onnx bytes"
    registry.asked.clear()
    assert main(["models", "download", "diabetes", "--version", "1", "--out", str(tmp_path / "v1")]) == EXIT_OK
    assert registry.asked[0] == "/v1/models/diabetes/versions/1"


def test_a_refused_download_removes_the_directories_it_created(
    registry: _Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.recorded = "0" * 64
    out = tmp_path / "new" / "nested"
    assert main(["models", "download", "diabetes", "--version", "1", "--out", str(out)]) == EXIT_ERROR
    assert "model.onnx: its sha256 is" in capsys.readouterr().err
    assert not (tmp_path / "new").exists(), "both directories the command made are gone"


def test_a_refused_download_leaves_a_directory_that_was_there(registry: _Registry, tmp_path: Path) -> None:
    registry.recorded = "0" * 64
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    assert main(["models", "download", "diabetes", "--version", "1", "--out", str(out)]) == EXIT_ERROR
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["models", "download", "diabetes", "--version", "1", "--out", str(empty)]) == EXIT_ERROR
    assert empty.is_dir(), "not created by the command: not removed"
