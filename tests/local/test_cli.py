"""The `mlops` command line against a running local cloud (server mode), as a person uses it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import LocalCloud
from localcloud.deploy import Synthesized
from mlopsctl.main import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def outputs(platform_synth: Synthesized, tmp_path: Path) -> Iterator[Path]:
    with LocalCloud.server(port=_free_port(), inbox_path=tmp_path / "inbox.jsonl") as cloud:
        cloud.deploy(platform_synth)
        yield cloud.outputs_file(tmp_path / "outputs.json")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_draft_check_deploy_upload_and_train(outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    sample = tmp_path / "patients.csv"
    frame.to_csv(sample, index=False)
    contract = tmp_path / "breast-cancer.yaml"
    code, drafted = _run(
        capsys, "contract", "draft", str(sample), "--dataset", "breast-cancer", "--label", "target", "-o", str(contract)
    )
    assert (code, drafted["columns"]) == (EXIT_OK, 31)
    assert _run(capsys, "contract", "check", str(contract), str(sample))[0] == EXIT_OK
    target = ["--outputs", str(outputs)]
    assert _run(capsys, "contract", "deploy", str(contract), *target)[0] == EXIT_OK
    capsys.readouterr()
    assert main(["train", "--dataset", "breast-cancer", *target]) == EXIT_ERROR  # no config yet: named, not started
    assert "mlops config deploy configs/breast-cancer.yaml" in capsys.readouterr().err
    assert _run(capsys, "config", "deploy", str(PROJECT_ROOT / "configs" / "breast-cancer.yaml"), *target)[0] == 0

    code, outcome = _run(capsys, "upload", str(sample), "--dataset", "breast-cancer", "--wait", *target)
    assert (code, outcome["status"]) == (EXIT_OK, "accepted")
    broken = tmp_path / "broken.csv"
    frame.assign(mean_radius=-1.0).to_csv(broken, index=False)
    code, outcome = _run(capsys, "upload", str(broken), "--dataset", "breast-cancer", "--wait", *target)
    assert (code, outcome["status"]) == (EXIT_REJECTED, "rejected")
    assert any("mean_radius" in failure for failure in outcome["first_failures"])

    code, run = _run(capsys, "train", "--dataset", "breast-cancer", *target)
    assert code == EXIT_OK, run
    assert (run["status"], run["version"], run["promoted"]) == ("registered", 1, True)


def test_clear_errors_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: x\nversion: 1\ncolumns:\n  - name: a\n    type: integer\n")
    assert main(["contract", "check", str(bad)]) == EXIT_ERROR
    assert "columns[0].type" in capsys.readouterr().err
    assert main(["upload", str(bad), "--dataset", "x", "--outputs", str(tmp_path / "none.json")]) == EXIT_ERROR
    assert "make up" in capsys.readouterr().err
