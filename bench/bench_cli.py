"""How long each `mlops` command that only reads the registry takes to start and answer (issue
#17: under 1 s, with no scikit-learn or scipy on its import path), against a stand-in deployment
that answers at once (bench/cli_stub.py), so the figure is the command's own start-up. Baselines
from the same run: the bare interpreter (`python -c pass`) and the least any AWS command line pays
(`python -c "import boto3"`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cli_stub import READ_ONLY_COMMANDS, stub_deployment
from bench.figures import Figure

TARGET_SECONDS = 1.0
BASELINE = 'python -c "import boto3"'


def _seconds(argv: list[str], env: dict[str, str], repeats: int) -> float:
    """The median wall time of `repeats` runs (the first is a warm-up for the OS file cache)."""
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    return statistics.median(times[1:])


def command_env() -> dict[str, str]:
    """The environment a user's shell has: credentials for signing, no endpoint that would win over the stub."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "MLOPS_OUTPUTS", "AWS_PROFILE")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return env


def run(quick: bool) -> list[Figure]:
    repeats = 1 if quick else 5
    env = command_env()
    bare = _seconds([sys.executable, "-c", "pass"], env, repeats)
    boto = _seconds([sys.executable, "-c", "import boto3"], env, repeats)
    figures = [
        Figure(benchmark="cli", figure="start-up: python -c pass", value=bare, unit="s", data="the bare interpreter")
    ]
    with tempfile.TemporaryDirectory() as folder, stub_deployment(Path(folder)) as stub:
        for name, argv in READ_ONLY_COMMANDS.items():
            value = _seconds(
                [sys.executable, "-m", "mlopsctl.main", *argv, "--outputs", str(stub.outputs_file)], env, repeats
            )
            figures.append(
                Figure(
                    benchmark="cli",
                    figure=f"start-up: mlops {name}",
                    value=value,
                    unit="s",
                    baseline=BASELINE,
                    baseline_value=boto,
                    ratio=boto / value,
                    target=f"< {TARGET_SECONDS:g} s",
                    met=value < TARGET_SECONDS,
                    data=f"median of {repeats}, stand-in deployment; python -c pass: {bare:.2f} s",
                )
            )
    return figures
