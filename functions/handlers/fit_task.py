"""The Fargate task's entry point: one candidate's fit, when the training set outgrows the fit Lambda.

Thin, as the Lambda handlers are: it reads where its input is (`FIT_INPUT_KEY`, in the artifacts
bucket: RunTask's overrides carry this key, never the payload), calls the same core as the fit Lambda
(`mlops.training.run.fit_step`), and prints the outcome. A candidate that fails inside the fit is an
outcome like any other (stored, exit 0); anything else (its input or data unreadable, a crash) ends
the task with exit code 1 and the traceback as its last log lines, which the failure handler puts in
the run record. Started by the container's bootstrap (`infra/fit_task_bootstrap.py`) with the code
and layer assets on sys.path; no Powertools, no Lambda context.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.settings import FunctionSettings
from mlops.buckets import ArtifactsBucket


@dataclass(frozen=True)
class FitTaskSettings(FunctionSettings):
    artifacts_bucket: str
    fit_input_key: str


def run(environ: Mapping[str, str], s3: Any) -> dict[str, Any]:
    """Fit the candidate the task's input names; the outcome the fit Lambda would have returned."""
    from mlops.training.run import fit_step

    settings = FitTaskSettings.from_environment(environ)
    artifacts = ArtifactsBucket(s3, settings.artifacts_bucket)
    task_input = json.loads(artifacts.get(settings.fit_input_key))
    return fit_step(task_input["run"], task_input["candidate"], artifacts, on_fargate=True)


def main() -> int:
    import boto3

    started = time.perf_counter()
    print(f"fitting the candidate in {os.environ.get('FIT_INPUT_KEY')}", flush=True)
    outcome = run(os.environ, boto3.client("s3"))
    print(json.dumps({**outcome, "task_seconds": round(time.perf_counter() - started, 3)}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
