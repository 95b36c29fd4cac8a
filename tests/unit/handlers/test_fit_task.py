"""A candidate fitted in a Fargate task: prepare places it and writes the task's input, the task's
entry point fits it with the fit Lambda's core and stores the same outcome, and afterwards the run
gets that outcome, or the task's failure with its last log lines. The container's bootstrap fetches
the code and layer zips and runs the entry point. Buckets are dicts; no AWS."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import fit_task_bootstrap
from mlops.training.fargate_fit import log_stream
from tests.unit.handlers.pipeline import ARTIFACTS, CONFIG, DATASET, RUN, TrainingRun, first_step, new_run, step
from tests.unit.handlers.support import QUIET, Context, loaded

pytestmark = QUIET
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/fit/0123abcd"


@pytest.fixture(scope="module")
def training() -> Iterator[Any]:
    with loaded("handlers.training") as module:
        yield module


@pytest.fixture(scope="module")
def outcome_handler() -> Iterator[Any]:
    with loaded("handlers.fit_task_outcome") as module:
        yield module


@pytest.fixture
def fargate_run(training: Any) -> Iterator[TrainingRun]:
    """A run whose config sends the random forest to Fargate (above_minutes between the two estimates)."""
    run = new_run()
    config = {**CONFIG, "fargate": {"above_minutes": 2e-4}}
    run.s3.put_object(Bucket=ARTIFACTS, Key=f"configs/{DATASET}.json", Body=json.dumps(config).encode())
    with training.services.replaced(run.services):
        yield run


class FakeLogs:
    """CloudWatch Logs' GetLogEvents over a dict of streams."""

    class exceptions:  # noqa: N801  (boto3's attribute)
        class ResourceNotFoundException(Exception):  # noqa: N818
            pass

    def __init__(self, streams: dict[str, list[str]]) -> None:
        self.streams = streams
        self.asked: list[dict[str, Any]] = []

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        if kwargs["logStreamName"] not in self.streams:
            raise self.exceptions.ResourceNotFoundException()
        lines = self.streams[kwargs["logStreamName"]][-kwargs["limit"] :]
        return {"events": [{"message": line} for line in lines]}


def _outcome(module: Any, run: TrainingRun, logs: FakeLogs, event: dict[str, Any]) -> dict[str, Any]:
    services = module.FitTaskOutcomeServices(run.artifacts, logs, "/fit-task-logs")
    with module.services.replaced(services):
        answer: dict[str, Any] = json.loads(json.dumps(module.handler(event, Context())))
    return answer


def test_a_fargate_fit_reaches_evaluate_as_a_lambda_fit_does(
    training: Any, outcome_handler: Any, fargate_run: TrainingRun
) -> None:
    from handlers import fit_task

    run = step(training, "prepare", first_step({"dataset": DATASET}))
    logreg, forest = run["fits"]
    assert (logreg["runs_on"], forest["runs_on"]) == ("lambda", "fargate")
    assert logreg["input_key"] is None
    task_input = json.loads(fargate_run.s3.objects[(ARTIFACTS, forest["input_key"])])
    assert task_input["candidate"]["name"] == "rf" and task_input["run"]["run_id"] == RUN

    environ = {"ARTIFACTS_BUCKET": ARTIFACTS, "FIT_INPUT_KEY": forest["input_key"]}
    in_task = fit_task.run(environ, fargate_run.s3)
    assert in_task["status"] == "succeeded"
    sync_answer = {"TaskArn": TASK_ARN, "CreatedAt": 1_000_000, "StoppedAt": 1_065_500, "Containers": []}
    collected = _outcome(
        outcome_handler, fargate_run, FakeLogs({}), {"run": run, "candidate": {"name": "rf"}, "task": sync_answer}
    )
    assert {k: collected[k] for k in in_task} == in_task, "the fit Lambda's outcome shape, unchanged"
    assert (collected["runs_on"], collected["task_arn"], collected["seconds"]) == ("fargate", TASK_ARN, 65.5)

    fitted = [step(training, "fit_candidate", {"run": run, "candidate": run["candidates"][0]}), collected]
    evaluation = step(training, "evaluate", {"run": run, "candidates": fitted})
    assert set(evaluation["ranked"]) == {"logreg", "rf"}
    record = {f["name"]: f for f in fargate_run.models.runs[RUN]["fits"]}
    assert record["logreg"]["runs_on"] == "lambda" and record["logreg"]["task_arn"] is None
    assert record["rf"] == {
        "name": "rf",
        "runs_on": "fargate",
        "reason": forest["reason"],
        "status": "succeeded",
        "task_arn": TASK_ARN,
        "seconds": 65.5,
    }


def test_a_task_that_exits_non_zero_fails_its_candidate_with_its_last_log_lines(
    training: Any, outcome_handler: Any, fargate_run: TrainingRun
) -> None:
    run = step(training, "prepare", first_step({"dataset": DATASET}))
    stopped = {
        "TaskArn": TASK_ARN,
        "StoppedReason": "Essential container in task exited",
        "Containers": [{"Name": "fit", "ExitCode": 137, "Reason": "OutOfMemoryError: Container killed"}],
        "CreatedAt": 0,
        "StoppedAt": 90_000,
    }
    lines = [f"line {i}" for i in range(30)] + ["MemoryError: unable to allocate 12.0 GiB"]
    logs = FakeLogs({log_stream(TASK_ARN): lines})
    error = {"Error": "States.TaskFailed", "Cause": json.dumps(stopped)}
    failed = _outcome(outcome_handler, fargate_run, logs, {"run": run, "candidate": {"name": "rf"}, "error": error})
    assert failed["status"] == "failed" and failed["task_arn"] == TASK_ARN
    reason = failed["reason"]
    assert reason.startswith(f"the Fargate task {TASK_ARN} stopped: Essential container in task exited")
    assert "exited with code 137" in reason and "OutOfMemoryError" in reason
    assert reason.endswith("line 11\nline 12\n" + "\n".join(lines[13:])), "the last 20 lines, oldest first"
    assert logs.asked[0]["logStreamName"] == "fit/fit/0123abcd"

    logreg = step(training, "fit_candidate", {"run": run, "candidate": run["candidates"][0]})
    step(training, "evaluate", {"run": run, "candidates": [logreg, failed]})
    by_name = {c["name"]: c for c in fargate_run.models.runs[RUN]["candidates"]}
    assert by_name["rf"]["status"] == "failed" and "unable to allocate 12.0 GiB" in by_name["rf"]["error"]
    assert by_name["rf"]["estimator"] == "random_forest", "the config's estimator, though the task reported none"


def test_a_run_task_refused_outright_names_ecs_error(
    training: Any, outcome_handler: Any, fargate_run: TrainingRun
) -> None:
    run = step(training, "prepare", first_step({"dataset": DATASET}))
    error = {"Error": "ECS.AccessDeniedException", "Cause": "not authorized to perform: ecs:RunTask"}
    failed = _outcome(
        outcome_handler, fargate_run, FakeLogs({}), {"run": run, "candidate": {"name": "rf"}, "error": error}
    )
    assert failed == {
        "name": "rf",
        "status": "failed",
        "reason": "ECS.AccessDeniedException: not authorized to perform: ecs:RunTask",
        "runs_on": "fargate",
    }


# ---------------------------------------------------------------------------------------------
# The container's bootstrap
# ---------------------------------------------------------------------------------------------
def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


class FakeAssets:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803  (boto3's names)
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def test_the_bootstrap_puts_the_code_then_each_layers_packages_on_the_path(tmp_path: Path) -> None:
    s3 = FakeAssets(
        {
            ("assets", "code.zip"): _zip({"entry_probe.py": "ANSWER = 42\n"}),
            ("assets", "training.zip"): _zip({"python/sklearn_probe/__init__.py": ""}),
            ("assets", "local-layer.zip"): _zip({"requirements.txt": "scikit-learn\n"}),  # the local cloud's
        }
    )
    urls = ["s3://assets/code.zip", "s3://assets/training.zip", "s3://assets/local-layer.zip"]
    entries = fit_task_bootstrap.fetch_assets(s3, urls, tmp_path)
    assert entries == [str(tmp_path / "0"), str(tmp_path / "1" / "python")]
    assert (tmp_path / "0" / "entry_probe.py").exists()


def test_the_bootstrap_runs_the_entry_module_from_the_fetched_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _zip({"fit_probe_entry.py": "import sys\nif __name__ == '__main__':\n    sys.exit(3)\n"})
    monkeypatch.setattr("boto3.client", lambda service: FakeAssets({("assets", "code.zip"): code}))
    monkeypatch.setattr("tempfile.mkdtemp", lambda prefix: str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(SystemExit) as ended:
        fit_task_bootstrap.main({"FIT_ASSETS": "s3://assets/code.zip", "FIT_ENTRY_MODULE": "fit_probe_entry"})
    assert ended.value.code == 3, "the entry point's exit code is the task's"
    assert sys.path[0] == str(tmp_path / "0")


@pytest.mark.parametrize("url", ["assets/code.zip", "s3://assets", "https://assets/code.zip"])
def test_the_bootstrap_refuses_an_asset_that_is_not_an_s3_url(url: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/key URL"):
        fit_task_bootstrap.split_s3_url(url)


def test_a_fargate_fit_has_a_thread_per_vcpu_of_its_task_and_a_lambda_fit_one(
    training: Any, fargate_run: TrainingRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default task (`fargate.cpu` 2048) has 2 vCPUs: its fit runs 2 threads; the fit Lambda's, one."""
    import mlops.training.candidates as candidates
    from handlers import fit_task

    used: dict[str, int] = {}
    real = candidates.fit_candidate

    def recording(candidate: Any, splits: Any, config: Any, *, threads: int = 1) -> Any:
        used[candidate.name] = threads
        return real(candidate, splits, config, threads=threads)

    monkeypatch.setattr(candidates, "fit_candidate", recording)
    run = step(training, "prepare", first_step({"dataset": DATASET}))
    _, forest = run["fits"]
    step(training, "fit_candidate", {"run": run, "candidate": run["candidates"][0]})
    fit_task.run({"ARTIFACTS_BUCKET": ARTIFACTS, "FIT_INPUT_KEY": forest["input_key"]}, fargate_run.s3)
    assert used == {"logreg": 1, "rf": 2}
