"""The `mlops` commands that only read the registry start fast: none loads scikit-learn, scipy or
pandas (issue #17: `models show` took 4-14 s because it imported scikit-learn to print a table).

Each command runs as a user runs it, in its own interpreter with `-X importtime`, against a
stand-in deployment that answers at once (bench/cli_stub.py), and the modules it imported are read
from that listing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bench.bench_cli import command_env
from bench.cli_stub import READ_ONLY_COMMANDS, StubDeployment, stub_deployment

HEAVY = ("sklearn", "scipy", "pandas", "skl2onnx", "onnxruntime")


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubDeployment]:
    with stub_deployment(tmp_path_factory.mktemp("stub")) as deployment:
        yield deployment


@pytest.mark.parametrize("command", sorted(READ_ONLY_COMMANDS))
def test_a_read_only_command_imports_no_training_libraries(command: str, stub: StubDeployment) -> None:
    argv = [sys.executable, "-X", "importtime", "-m", "mlopsctl.main", *READ_ONLY_COMMANDS[command]]
    done = subprocess.run(
        [*argv, "--outputs", str(stub.outputs_file)], capture_output=True, text=True, env=command_env(), check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "import time:" in line
    }
    assert "mlopsctl" in imported, "the listing was read"
    assert not imported & set(HEAVY), f"mlops {command} imported {sorted(imported & set(HEAVY))}"


def test_the_stub_answers_like_the_platform(stub: StubDeployment) -> None:
    """The listing above means something only if the command did its whole job."""
    done = subprocess.run(
        [sys.executable, "-m", "mlopsctl.main", "models", "show", "breast-cancer", "--outputs", str(stub.outputs_file)],
        capture_output=True,
        text=True,
        env=command_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "aliases: champion=v1" in done.stdout and "roc_auc=0.99" in done.stdout.splitlines()[1]


def test_the_cli_modules_alone_load_no_training_libraries() -> None:
    code = "import json, sys, mlopsctl.main, mlopsctl.api, mlopsctl.lifecycle; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
